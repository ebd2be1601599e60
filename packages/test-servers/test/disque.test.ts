import { connect, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DisqueCluster } from '../src/disque/index.js';

// Protocol tests for the local Disque server, written from Disque's README (antirez/disque, "Main API" and
// "Other commands") and the reply shapes measured on Disque 1.0-rc1 (see ENVIRONMENT.md). Most talk raw RESP
// over a socket, byte for byte; a few use ioredis the way @taskq/disque does.

type Value = string | number | null | Value[] | { error: string } | { status: string };

/** A raw RESP2 client: writes exactly the bytes given, parses replies itself. */
class RawClient {
  #buffer = Buffer.alloc(0);
  #waiting: Array<(value: Value) => void> = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      for (;;) {
        const parsed = parseReply(this.#buffer, 0);
        if (!parsed) break;
        this.#buffer = this.#buffer.subarray(parsed.next);
        this.#waiting.shift()?.(parsed.value);
      }
    });
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends raw bytes and resolves with the next reply. */
  send(bytes: string | Buffer): Promise<Value> {
    const reply = new Promise<Value>((resolve) => this.#waiting.push(resolve));
    this.socket.write(bytes);
    return reply;
  }

  /** Encodes a command as an array of bulk strings. */
  call(...args: Array<string | number | Buffer>): Promise<Value> {
    const parts = args.map((arg) => (Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg))));
    const chunks = [Buffer.from(`*${parts.length}\r\n`)];
    for (const part of parts) chunks.push(Buffer.from(`$${part.length}\r\n`), part, Buffer.from('\r\n'));
    return this.send(Buffer.concat(chunks));
  }

  close(): void {
    this.socket.destroy();
  }
}

function parseReply(buffer: Buffer, offset: number): { value: Value; next: number } | null {
  const end = buffer.indexOf('\r\n', offset);
  if (end === -1) return null;
  const type = String.fromCharCode(buffer[offset]!);
  const line = buffer.toString('utf8', offset + 1, end);
  const next = end + 2;
  if (type === '+') return { value: { status: line }, next };
  if (type === '-') return { value: { error: line }, next };
  if (type === ':') return { value: Number(line), next };
  if (type === '$') {
    const size = Number(line);
    if (size === -1) return { value: null, next };
    if (buffer.length < next + size + 2) return null;
    return { value: buffer.toString('utf8', next, next + size), next: next + size + 2 };
  }
  if (type === '*') {
    const count = Number(line);
    if (count === -1) return { value: null, next };
    const items: Value[] = [];
    let at = next;
    for (let i = 0; i < count; i++) {
      const item = parseReply(buffer, at);
      if (!item) return null;
      items.push(item.value);
      at = item.next;
    }
    return { value: items, next: at };
  }
  throw new Error(`not RESP: ${type}`);
}

const JOB_ID = /^D-[0-9a-f]{8}-[A-Za-z0-9+/]{24}-[0-9a-f]{4}$/;

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let cluster: DisqueCluster;
const clients: RawClient[] = [];
let queueCounter = 0;
const newQueue = () => `q${++queueCounter}`;

async function client(node = 0): Promise<RawClient> {
  const opened = await RawClient.open(cluster.nodes[node]!.port);
  clients.push(opened);
  return opened;
}

/** ADDJOB's id is a status reply. */
function idOf(reply: Value): string {
  const status = (reply as { status?: string }).status;
  if (typeof status !== 'string') throw new Error(`ADDJOB failed: ${JSON.stringify(reply)}`);
  return status;
}

/** SHOW's flat key/value array as an object. */
function fields(reply: Value): Record<string, Value> {
  const flat = reply as Value[];
  const out: Record<string, Value> = {};
  for (let i = 0; i < flat.length; i += 2) out[flat[i] as string] = flat[i + 1] as Value;
  return out;
}

beforeAll(async () => {
  cluster = await DisqueCluster.start({ nodes: 2 });
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

afterAll(async () => {
  await cluster.stop();
});

describe('Disque test server: connection commands', () => {
  it('answers PING, inline commands, unknown commands and wrong arity like Disque', async () => {
    const c = await client();
    expect(await c.send('*1\r\n$4\r\nPING\r\n')).toEqual({ status: 'PONG' });
    expect(await c.send('PING\r\n')).toEqual({ status: 'PONG' });
    expect(await c.call('SELECT', 0)).toEqual({ error: "ERR unknown command 'SELECT'" });
    expect(await c.call('QLEN')).toEqual({ error: "ERR wrong number of arguments for 'qlen' command" });
    expect(await c.call('HELLO', 3)).toEqual({ error: "ERR wrong number of arguments for 'hello' command" });
  });

  it('INFO reports disque_version and loading:0 (the ioredis ready check)', async () => {
    const c = await client();
    const text = (await c.call('INFO')) as string;
    expect(text).toMatch(/^# Server\r\n/);
    expect(text).toContain('disque_version:1.0-rc1\r\n');
    expect(text).toContain(`tcp_port:${cluster.nodes[0]!.port}\r\n`);
    expect(text).toContain('loading:0\r\n');
    expect((await c.call('INFO', 'jobs')) as string).toMatch(/^# Jobs\r\nregistered_jobs:\d+\r\n$/);
  });

  it('HELLO lists format version 1, this node and every node with ip, port and priority', async () => {
    const reply = (await (await client(1)).call('HELLO')) as Value[];
    expect(reply[0]).toBe(1);
    expect(reply[1]).toBe(cluster.nodes[1]!.id);
    expect(reply.slice(2)).toEqual([
      [cluster.nodes[1]!.id, '127.0.0.1', String(cluster.nodes[1]!.port), '1'],
      [cluster.nodes[0]!.id, '127.0.0.1', String(cluster.nodes[0]!.port), '1'],
    ]);
    expect(cluster.nodes[0]!.id).toMatch(/^[0-9a-f]{40}$/);
  });

  it('CLIENT SETINFO is refused as Disque 1.0 refuses it; SETNAME/GETNAME work', async () => {
    const c = await client();
    expect(((await c.call('CLIENT', 'SETINFO', 'LIB-NAME', 'x')) as { error: string }).error).toMatch(/^ERR Syntax/);
    expect(await c.call('CLIENT', 'SETNAME', 'worker')).toEqual({ status: 'OK' });
    expect(await c.call('CLIENT', 'GETNAME')).toBe('worker');
  });

  it('takes a command split across many TCP writes, and several commands in one write', async () => {
    const c = await client();
    const q = newQueue();
    const body = 'x'.repeat(200_000);
    const bytes = Buffer.from(
      `*4\r\n$6\r\nADDJOB\r\n$${q.length}\r\n${q}\r\n$${body.length}\r\n${body}\r\n$1\r\n0\r\n`,
    );
    const reply = new Promise<Value>((resolve) => {
      void c.send(Buffer.alloc(0)).then(resolve);
    });
    for (let i = 0; i < bytes.length; i += 7000) c.socket.write(bytes.subarray(i, i + 7000));
    expect(idOf(await reply)).toMatch(JOB_ID);
    const both = Promise.all([c.call('QLEN', q), c.call('PING')]);
    expect(await both).toEqual([1, { status: 'PONG' }]);
  });
});

describe('Disque test server: jobs', () => {
  it('ADDJOB returns a 40-character job id; GETJOB returns [queue, id, body]; ACKJOB counts known jobs', async () => {
    const c = await client();
    const q = newQueue();
    const id = idOf(await c.call('ADDJOB', q, 'héllo ✓', 0));
    expect(id).toHaveLength(40);
    expect(id).toMatch(JOB_ID);
    expect(id.slice(2, 10)).toBe(cluster.nodes[0]!.id.slice(0, 8));
    expect(parseInt(id.slice(36), 16) % 2).toBe(1); // at-least-once jobs have an odd TTL field
    expect(await c.call('QLEN', q)).toBe(1);
    expect(await c.call('GETJOB', 'FROM', q)).toEqual([[q, id, 'héllo ✓']]);
    expect(await c.call('QLEN', q)).toBe(0);
    expect(await c.call('ACKJOB', id)).toBe(1);
    expect(await c.call('ACKJOB', id)).toBe(0);
    expect(await c.call('SHOW', id)).toBeNull();
  });

  it('rejects malformed ids with BADID, for every id-taking command', async () => {
    const c = await client();
    for (const command of ['ACKJOB', 'FASTACK', 'NACK', 'DELJOB', 'ENQUEUE', 'DEQUEUE', 'WORKING', 'SHOW']) {
      expect(await c.call(command, 'not-a-job-id')).toEqual({ error: 'BADID Invalid Job ID format.' });
    }
    const unknown = 'D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-0001';
    expect(await c.call('ACKJOB', unknown)).toBe(0);
    expect(await c.call('WORKING', unknown)).toEqual({ error: 'NOJOB Job not known in the context of this node.' });
  });

  it('validates ADDJOB options with Disque error messages', async () => {
    const c = await client();
    const q = newQueue();
    expect(await c.call('ADDJOB', q, 'b', 0, 'TTL', 0)).toEqual({ error: 'ERR TTL must be a number > 0' });
    expect(await c.call('ADDJOB', q, 'b', 0, 'RETRY', -1)).toEqual({
      error: 'ERR RETRY time must be a non negative number',
    });
    expect(((await c.call('ADDJOB', q, 'b', 0, 'DELAY', 10, 'TTL', 5)) as { error: string }).error).toMatch(
      /^ERR The specified DELAY is greater than TTL/,
    );
    expect(((await c.call('ADDJOB', q, 'b', 0, 'RETRY', 0)) as { error: string }).error).toMatch(
      /REPLICATE to 1 \(at-most-once delivery\)/,
    );
    expect(await c.call('ADDJOB', q, 'b', 0, 'BOGUS')).toEqual({ error: 'ERR syntax error' });
    expect(await c.call('QLEN', q)).toBe(0);
  });

  it('GETJOB with NOHANG or a TIMEOUT returns a null array when nothing is queued', async () => {
    const c = await client();
    const q = newQueue();
    expect(await c.send(`GETJOB NOHANG FROM ${q}\r\n`)).toBeNull();
    const started = Date.now();
    expect(await c.call('GETJOB', 'TIMEOUT', 300, 'FROM', q)).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(await c.call('GETJOB', 'FROM')).toEqual({ error: 'ERR syntax error' });
    expect(await c.call('GETJOB', 'COUNT', 0, 'FROM', q)).toEqual({
      error: 'ERR COUNT must be a number greater than zero',
    });
  });

  it('a blocked GETJOB is woken by ADDJOB on another node and gets one job; later commands wait behind it', async () => {
    const consumer = await client(1);
    const producer = await client(0);
    const q = newQueue();
    const pending = consumer.call('GETJOB', 'COUNT', 10, 'FROM', q);
    const behind = consumer.call('QLEN', q);
    const observer = await client(1);
    await waitFor(async () => String(await observer.call('INFO', 'clients')).includes('blocked_clients:1'), 'blocked');
    const id = idOf(await producer.call('ADDJOB', q, 'wake', 0));
    expect(await pending).toEqual([[q, id, 'wake']]);
    expect(await behind).toBe(0);
  });

  it('GETJOB COUNT takes several jobs in creation order, from queues left to right', async () => {
    const c = await client();
    const [a, b] = [newQueue(), newQueue()];
    const ids = [];
    for (const body of ['a1', 'a2']) ids.push(idOf(await c.call('ADDJOB', a, body, 0)));
    for (const body of ['b1']) ids.push(idOf(await c.call('ADDJOB', b, body, 0)));
    const got = (await c.call('GETJOB', 'COUNT', 10, 'FROM', a, b)) as Value[][];
    expect(got.map((job) => job[2])).toEqual(['a1', 'b1', 'a2']);
    expect(await c.call('GETJOB', 'NOHANG', 'COUNT', 10, 'FROM', a, b)).toBeNull();
    expect(await c.call('ACKJOB', ...ids)).toBe(3);
  });

  it('requeues a job not acknowledged within RETRY seconds, counting an additional delivery', async () => {
    const c = await client();
    const q = newQueue();
    const id = idOf(await c.call('ADDJOB', q, 'again', 0, 'RETRY', 1));
    expect(await c.call('GETJOB', 'WITHCOUNTERS', 'FROM', q)).toEqual([
      [q, id, 'again', 'nacks', 0, 'additional-deliveries', 0],
    ]);
    expect(fields(await c.call('SHOW', id)).state).toBe('active');
    await waitFor(async () => (await c.call('QLEN', q)) === 1, 'the job queued again');
    expect(await c.call('GETJOB', 'WITHCOUNTERS', 'FROM', q)).toEqual([
      [q, id, 'again', 'nacks', 0, 'additional-deliveries', 1],
    ]);
    expect(await c.call('ACKJOB', id)).toBe(1);
  });

  it('NACK queues a job at once and counts a nack; ENQUEUE and DEQUEUE move it in and out of the queue', async () => {
    const c = await client();
    const q = newQueue();
    const id = idOf(await c.call('ADDJOB', q, 'retry me', 0, 'RETRY', 60));
    await c.call('GETJOB', 'FROM', q);
    expect(await c.call('NACK', id)).toBe(1);
    expect(await c.call('NACK', id)).toBe(0); // already queued
    expect(await c.call('QLEN', q)).toBe(1);
    expect(await c.call('GETJOB', 'WITHCOUNTERS', 'FROM', q)).toEqual([
      [q, id, 'retry me', 'nacks', 1, 'additional-deliveries', 0],
    ]);
    expect(await c.call('ENQUEUE', id)).toBe(1);
    expect(await c.call('DEQUEUE', id)).toBe(1);
    expect(await c.call('QLEN', q)).toBe(0);
    expect(fields(await c.call('SHOW', id))['additional-deliveries']).toBe(1);
    expect(await c.call('FASTACK', id)).toBe(1);
  });

  it('WORKING returns the retry time and postpones the requeue; a job in the queue is taken out', async () => {
    const c = await client();
    const q = newQueue();
    const id = idOf(await c.call('ADDJOB', q, 'long', 0, 'RETRY', 2));
    expect(await c.call('WORKING', id)).toBe(2); // queued: WORKING dequeues it
    expect(await c.call('QLEN', q)).toBe(0);
    const show = fields(await c.call('SHOW', id));
    expect(show.state).toBe('active');
    expect(show.retry).toBe(2);
    expect(show['next-requeue-within']).toBeGreaterThan(1000);
    await waitFor(async () => (await c.call('QLEN', q)) === 1, 'requeued after the postponement');
    expect(await c.call('DELJOB', id)).toBe(1);
  });

  it('WORKING is refused once half of the TTL has elapsed', async () => {
    const c = await client();
    const q = newQueue();
    const id = idOf(await c.call('ADDJOB', q, 'short-lived', 0, 'TTL', 1, 'RETRY', 1));
    await waitFor(
      async () => JSON.stringify(await c.call('WORKING', id)).includes('TOOLATE'),
      'WORKING refused after TTL/2',
    );
  });

  it('DELAY keeps a job out of the queue (and QLEN) until due', async () => {
    const c = await client();
    const q = newQueue();
    const started = Date.now();
    const id = idOf(await c.call('ADDJOB', q, 'later', 0, 'DELAY', 1));
    expect(await c.call('QLEN', q)).toBe(0);
    expect(await c.call('GETJOB', 'NOHANG', 'FROM', q)).toBeNull();
    expect(fields(await c.call('SHOW', id)).state).toBe('active');
    expect(await c.call('GETJOB', 'TIMEOUT', 5000, 'FROM', q)).toEqual([[q, id, 'later']]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    // The first queueing after a delay is not an additional delivery.
    expect(fields(await c.call('SHOW', id))['additional-deliveries']).toBe(0);
  });

  it('TTL deletes a job after TTL seconds, queued or not', async () => {
    const c = await client();
    const q = newQueue();
    const id = idOf(await c.call('ADDJOB', q, 'expiring', 0, 'TTL', 1));
    expect(await c.call('QLEN', q)).toBe(1);
    await waitFor(async () => (await c.call('SHOW', id)) === null, 'the job expired');
    expect(await c.call('QLEN', q)).toBe(0);
  });

  it('MAXLEN refuses a job when the queue is long enough', async () => {
    const c = await client();
    const q = newQueue();
    idOf(await c.call('ADDJOB', q, 'one', 0, 'MAXLEN', 1));
    expect(await c.call('ADDJOB', q, 'two', 0, 'MAXLEN', 1)).toEqual({
      error: 'MAXLEN Queue is already longer than the specified MAXLEN count',
    });
  });

  it('QPEEK shows queued jobs oldest first (newest first with a negative count)', async () => {
    const c = await client();
    const q = newQueue();
    const ids = [];
    for (const body of ['p1', 'p2', 'p3']) ids.push(idOf(await c.call('ADDJOB', q, body, 0)));
    expect(await c.call('QPEEK', q, 2)).toEqual([
      [q, ids[0], 'p1'],
      [q, ids[1], 'p2'],
    ]);
    expect(((await c.call('QPEEK', q, -1)) as Value[][]).map((job) => job[2])).toEqual(['p3']);
    expect(await c.call('QPEEK', newQueue(), 5)).toEqual([]);
    expect(await c.call('QLEN', q)).toBe(3);
  });

  it('JSCAN iterates jobs by queue and state with a cursor; REPLY all gives SHOW fields', async () => {
    const c = await client();
    const q = newQueue();
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) ids.push(idOf(await c.call('ADDJOB', q, `j${i}`, 0)));
    await c.call('GETJOB', 'COUNT', 5, 'FROM', q);
    const seen: string[] = [];
    let cursor = '0';
    do {
      const [next, page] = (await c.call('JSCAN', cursor, 'COUNT', 4, 'QUEUE', q)) as [string, Value[]];
      seen.push(...page.map((item) => (item as { status: string }).status));
      cursor = next;
    } while (cursor !== '0');
    expect([...new Set(seen)].sort()).toEqual([...ids].sort());
    const [, active] = (await c.call('JSCAN', 0, 'BUSYLOOP', 'QUEUE', q, 'STATE', 'active', 'REPLY', 'all')) as [
      string,
      Value[],
    ];
    expect(active).toHaveLength(5);
    const first = fields(active[0]!);
    expect(Object.keys(first)).toEqual([
      'id',
      'queue',
      'state',
      'repl',
      'ttl',
      'ctime',
      'delay',
      'retry',
      'nacks',
      'additional-deliveries',
      'nodes-delivered',
      'nodes-confirmed',
      'next-requeue-within',
      'next-awake-within',
      'body',
    ]);
    expect(first).toMatchObject({ queue: q, state: 'active', repl: 2, retry: 300 });
    expect(await c.call('JSCAN', 0, 'STATE', 'bogus')).toEqual({ error: 'ERR Invalid job state name' });
    expect(await c.call('DELJOB', ...ids)).toBe(25);
    expect(await c.call('QLEN', q)).toBe(0);
  });
});

describe('Disque test server: two nodes', () => {
  it('a job added on one node is served, shown and acknowledged on the other', async () => {
    const a = await client(0);
    const b = await client(1);
    const q = newQueue();
    const id = idOf(await a.call('ADDJOB', q, 'shared', 0));
    expect(await b.call('QLEN', q)).toBe(1);
    expect(await b.call('GETJOB', 'FROM', q)).toEqual([[q, id, 'shared']]);
    expect(await b.call('ACKJOB', id)).toBe(1);
    expect(await a.call('SHOW', id)).toBeNull();
  });

  it('a stopped node closes its connections; the other serves its jobs; REPLICATE 2 fails with NOREPL', async () => {
    const a = await client(0);
    const b = await client(1);
    const q = newQueue();
    const id = idOf(await a.call('ADDJOB', q, 'survives', 0, 'RETRY', 1));
    expect(await a.call('GETJOB', 'FROM', q)).toEqual([[q, id, 'survives']]);
    const closed = new Promise((resolve) => a.socket.once('close', resolve));
    await cluster.nodes[0]!.stop();
    await closed;
    const hello = (await b.call('HELLO')) as Value[];
    expect(hello[3]).toEqual([cluster.nodes[0]!.id, '127.0.0.1', String(cluster.nodes[0]!.port), '100']);
    expect(await b.call('ADDJOB', q, 'x', 0)).toEqual({
      error: 'NOREPL Not enough reachable nodes for the requested replication level',
    });
    idOf(await b.call('ADDJOB', q, 'with one copy', 0, 'REPLICATE', 1));
    // The job the dead node's client held comes back on the live node after RETRY.
    const got = (await b.call('GETJOB', 'TIMEOUT', 5000, 'COUNT', 2, 'FROM', q)) as Value[][];
    const all = [...got];
    if (all.length < 2) all.push(...((await b.call('GETJOB', 'TIMEOUT', 5000, 'FROM', q)) as Value[][]));
    expect(all.map((job) => job[2]).sort()).toEqual(['survives', 'with one copy']);
    await cluster.nodes[0]!.start();
    const again = await client(0);
    expect(await again.call('PING')).toEqual({ status: 'PONG' });
  });

  it('works with ioredis 6 using protocol 2 (no HELLO 3, no CLIENT SETINFO)', async () => {
    const redis = new Redis({ port: cluster.nodes[0]!.port, host: '127.0.0.1', protocol: 2, disableClientInfo: true });
    try {
      const q = newQueue();
      const id = (await redis.call('ADDJOB', q, 'via ioredis', 0)) as string;
      expect(id).toMatch(JOB_ID);
      expect(await redis.call('GETJOB', 'TIMEOUT', 100, 'FROM', q)).toEqual([[q, id, 'via ioredis']]);
      expect(await redis.call('GETJOB', 'TIMEOUT', 100, 'FROM', q)).toBeNull();
      expect(await redis.call('ACKJOB', id)).toBe(1);
      await expect(redis.call('ACKJOB', 'bad')).rejects.toThrow('BADID Invalid Job ID format.');
    } finally {
      redis.disconnect();
    }
  });
});
