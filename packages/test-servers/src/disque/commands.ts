import type { Job, JobStore } from './jobs.js';
import { ErrorReply, NULL_ARRAY, OK, Status, type Reply } from './resp.js';

/** What a command sees of the node and connection it runs on. */
export interface CommandContext {
  readonly store: JobStore;
  readonly nodeId: string;
  readonly port: number;
  /** Every node of the cluster, running or not, for HELLO and replication checks. */
  readonly nodes: ReadonlyArray<{ id: string; host: string; port: number; running: boolean }>;
  readonly connectedClients: number;
  readonly blockedClients: number;
  readonly startedMs: number;
  clientName: string | null;
  /** Blocks the connection until a job arrives or `timeoutMs` passes (0 = forever). */
  block(queueKeys: string[], timeoutMs: number, withCounters: boolean): void;
}

export type Command = (ctx: CommandContext, args: Buffer[]) => Reply | undefined;

const SYNTAX = new ErrorReply('ERR syntax error');
const BADID = new ErrorReply('BADID Invalid Job ID format.');
const NOT_INTEGER = new ErrorReply('ERR value is not an integer or out of range');
const DEFAULT_TTL = 24 * 3600;
const DEFAULT_RETRY_MAX = 300;

/** Strict integer parsing like Disque's (no spaces, no decimals). */
function integer(arg: Buffer | undefined): number | null {
  if (arg === undefined) return null;
  const text = arg.toString('latin1');
  if (!/^-?\d{1,18}$/.test(text)) return null;
  return Number(text);
}

function isJobId(arg: Buffer): boolean {
  return arg.length === 40 && arg[0] === 0x44 && arg[1] === 0x2d && arg[10] === 0x2d && arg[35] === 0x2d;
}

/** Every argument must look like a job id, or the whole command fails with BADID. */
function jobIds(args: Buffer[]): string[] | ErrorReply {
  for (const arg of args) if (!isJobId(arg)) return BADID;
  return args.map((arg) => arg.toString('latin1'));
}

function jobReply(job: Job, withCounters: boolean): Reply {
  const reply: Reply[] = [job.queue, job.id, job.body];
  if (withCounters) reply.push('nacks', job.nacks, 'additional-deliveries', job.additionalDeliveries);
  return reply;
}

/** The 30-element key/value array of SHOW and `JSCAN … REPLY all`. */
function jobInfo(ctx: CommandContext, job: Job): Reply {
  const now = Date.now();
  const others = ctx.nodes.filter((node) => node.id !== ctx.nodeId);
  const holders = [ctx.nodeId, ...others.map((node) => node.id)].slice(0, job.replicate);
  return [
    'id',
    job.id,
    'queue',
    job.queue,
    'state',
    job.state,
    'repl',
    job.replicate,
    'ttl',
    Math.max(0, Math.floor((job.expiresMs - now) / 1000)),
    'ctime',
    job.ctime.toString(),
    'delay',
    job.delaySeconds,
    'retry',
    job.retrySeconds,
    'nacks',
    job.nacks,
    'additional-deliveries',
    job.additionalDeliveries,
    'nodes-delivered',
    holders,
    'nodes-confirmed',
    [],
    'next-requeue-within',
    job.requeueAtMs === 0 ? null : Math.max(0, job.requeueAtMs - now),
    'next-awake-within',
    Math.max(
      0,
      Math.min(job.state === 'active' && job.requeueAtMs > 0 ? job.requeueAtMs : Infinity, job.expiresMs) - now,
    ),
    'body',
    job.body,
  ];
}

function addjob(ctx: CommandContext, args: Buffer[]): Reply {
  const [, queue, body, timeoutArg] = args as [Buffer, Buffer, Buffer, Buffer];
  let replicate = Math.min(3, ctx.nodes.length);
  let ttl = DEFAULT_TTL;
  let retry = -1;
  let delay = 0;
  let maxlen = 0;
  for (let i = 4; i < args.length; i++) {
    const option = (args[i] as Buffer).toString('latin1').toLowerCase();
    const last = i === args.length - 1;
    if (option === 'async') continue;
    if (last || !['replicate', 'ttl', 'retry', 'delay', 'maxlen'].includes(option)) return SYNTAX;
    const value = integer(args[++i]);
    if (option === 'replicate') {
      if (value === null || value <= 0 || value > 65535)
        return new ErrorReply('ERR REPLICATE must be between 1 and 65535');
      replicate = value;
    } else if (option === 'ttl') {
      if (value === null || value <= 0) return new ErrorReply('ERR TTL must be a number > 0');
      ttl = value;
    } else if (option === 'retry') {
      if (value === null || value < 0) return new ErrorReply('ERR RETRY time must be a non negative number');
      retry = value;
    } else if (option === 'delay') {
      if (value === null || value < 0) return new ErrorReply('ERR DELAY time must be a non negative number');
      delay = value;
    } else {
      if (value === null || value <= 0) return new ErrorReply('ERR MAXLEN must be a positive number');
      maxlen = value;
    }
  }
  const timeout = integer(timeoutArg);
  if (timeout === null || timeout < 0) return new ErrorReply('ERR timeout is not an integer or out of range');
  if (replicate > 1 && retry === 0) {
    return new ErrorReply('ERR With RETRY set to 0 please explicitly set  REPLICATE to 1 (at-most-once delivery)');
  }
  if (delay >= ttl) {
    return new ErrorReply('ERR The specified DELAY is greater than TTL. Job refused since would never be delivered');
  }
  if (retry === -1) retry = Math.max(1, Math.min(DEFAULT_RETRY_MAX, Math.floor(ttl / 10)));
  // Synchronous replication needs replicate - 1 other nodes that are up.
  const reachable = ctx.nodes.filter((node) => node.id !== ctx.nodeId && node.running).length;
  if (replicate - 1 > reachable) {
    return new ErrorReply('NOREPL Not enough reachable nodes for the requested replication level');
  }
  if (maxlen > 0 && ctx.store.queueLength(queue.toString('latin1')) >= maxlen) {
    return new ErrorReply('MAXLEN Queue is already longer than the specified MAXLEN count');
  }
  const job = ctx.store.add({
    queue,
    body,
    ttlSeconds: ttl,
    delaySeconds: delay,
    retrySeconds: retry,
    replicate,
    nodeId: ctx.nodeId,
  });
  return new Status(job.id);
}

function getjob(ctx: CommandContext, args: Buffer[]): Reply | undefined {
  let timeout = 0;
  let count = 1;
  let nohang = false;
  let withCounters = false;
  let queues: Buffer[] = [];
  for (let i = 1; i < args.length; i++) {
    const option = (args[i] as Buffer).toString('latin1').toLowerCase();
    const last = i === args.length - 1;
    if (option === 'nohang') nohang = true;
    else if (option === 'withcounters') withCounters = true;
    else if (option === 'timeout' && !last) {
      const value = integer(args[++i]);
      if (value === null || value < 0) return new ErrorReply('ERR timeout is not an integer or out of range');
      timeout = value;
    } else if (option === 'count' && !last) {
      const value = integer(args[++i]);
      if (value === null || value <= 0) return new ErrorReply('ERR COUNT must be a number greater than zero');
      count = value;
    } else if (option === 'from') {
      queues = args.slice(i + 1);
      break;
    } else return SYNTAX;
  }
  if (queues.length === 0) return SYNTAX;
  const keys = queues.map((queue) => queue.toString('latin1'));
  // Left to right over the queues, again and again, until COUNT jobs or no progress.
  const jobs: Reply[] = [];
  for (;;) {
    const before = jobs.length;
    for (const key of keys) {
      const job = ctx.store.fetch(key);
      if (!job) continue;
      jobs.push(jobReply(job, withCounters));
      if (jobs.length === count) break;
    }
    if (jobs.length === count || jobs.length === before) break;
  }
  if (jobs.length > 0) return jobs;
  if (nohang) return NULL_ARRAY;
  ctx.block(keys, timeout, withCounters);
  return undefined;
}

/** ACKJOB and FASTACK: the number of known, not yet acknowledged jobs now gone. */
function acknowledge(ctx: CommandContext, args: Buffer[]): Reply {
  const ids = jobIds(args.slice(1));
  if (ids instanceof ErrorReply) return ids;
  let known = 0;
  for (const id of ids) {
    const job = ctx.store.get(id);
    if (!job) continue;
    ctx.store.remove(job);
    known++;
  }
  return known;
}

function enqueueOrNack(nack: boolean): Command {
  return (ctx, args) => {
    const ids = jobIds(args.slice(1));
    if (ids instanceof ErrorReply) return ids;
    let queued = 0;
    for (const id of ids) {
      const job = ctx.store.get(id);
      if (job?.state === 'active' && ctx.store.enqueue(job, nack)) queued++;
    }
    return queued;
  };
}

function dequeue(ctx: CommandContext, args: Buffer[]): Reply {
  const ids = jobIds(args.slice(1));
  if (ids instanceof ErrorReply) return ids;
  let dequeued = 0;
  for (const id of ids) {
    const job = ctx.store.get(id);
    if (job && ctx.store.dequeue(job)) dequeued++;
  }
  return dequeued;
}

function working(ctx: CommandContext, args: Buffer[]): Reply {
  const ids = jobIds(args.slice(1, 2));
  if (ids instanceof ErrorReply) return ids;
  const job = ctx.store.get(ids[0] as string);
  if (!job) return new ErrorReply('NOJOB Job not known in the context of this node.');
  const ttlMs = job.expiresMs - job.createdMs;
  if (Date.now() - job.createdMs > ttlMs / 2) {
    return new ErrorReply(
      'TOOLATE Half of job TTL already elapsed, you are no longer allowed to postpone the next delivery.',
    );
  }
  return ctx.store.postpone(job);
}

function qpeek(ctx: CommandContext, args: Buffer[]): Reply {
  const count = integer(args[2]);
  if (count === null) return NOT_INTEGER;
  const jobs = ctx.store.queues.get((args[1] as Buffer).toString('latin1'))?.jobs ?? [];
  const picked = count >= 0 ? jobs.slice(0, count) : jobs.slice(count).reverse();
  return picked.map((job) => jobReply(job, false));
}

function qstat(ctx: CommandContext, args: Buffer[]): Reply {
  const queue = ctx.store.queues.get((args[1] as Buffer).toString('latin1'));
  if (!queue) return NULL_ARRAY;
  const now = Date.now();
  return [
    'name',
    queue.name,
    'len',
    queue.jobs.length,
    'age',
    Math.floor((now - queue.createdMs) / 1000),
    'idle',
    Math.floor((now - queue.touchedMs) / 1000),
    'blocked',
    ctx.blockedClients,
    'import-from',
    [],
    'import-rate',
    0,
    'jobs-in',
    queue.jobsIn,
    'jobs-out',
    queue.jobsOut,
    'pause',
    'none',
  ];
}

/** JSCAN: the cursor is the creation sequence of the next job to look at, so no job alive throughout is skipped. */
function jscan(ctx: CommandContext, args: Buffer[]): Reply {
  let cursor = 0;
  let cursorSet = false;
  let count = 100;
  let busyloop = false;
  let queue: string | null = null;
  const states = new Set<string>();
  let replyAll = false;
  for (let i = 1; i < args.length; i++) {
    const option = (args[i] as Buffer).toString('latin1').toLowerCase();
    const hasValue = i < args.length - 1;
    if (option === 'count' && hasValue) {
      const value = integer(args[++i]);
      if (value === null) return NOT_INTEGER;
      count = value;
    } else if (option === 'busyloop') busyloop = true;
    else if (option === 'queue' && hasValue) queue = (args[++i] as Buffer).toString('latin1');
    else if (option === 'state' && hasValue) {
      const state = (args[++i] as Buffer).toString('latin1').toLowerCase();
      if (!['wait-repl', 'active', 'queued', 'acked'].includes(state))
        return new ErrorReply('ERR Invalid job state name');
      states.add(state);
    } else if (option === 'reply' && hasValue) {
      const type = (args[++i] as Buffer).toString('latin1').toLowerCase();
      if (type !== 'id' && type !== 'all') return new ErrorReply('ERR Invalid REPLY type, try ID or ALL');
      replyAll = type === 'all';
    } else {
      if (cursorSet) return SYNTAX;
      const value = integer(args[i]);
      if (value === null || value < 0) return new ErrorReply('ERR invalid cursor');
      cursor = value;
      cursorSet = true;
    }
  }
  const found: Job[] = [];
  let examined = 0;
  let next = 0;
  for (const job of ctx.store.jobs.values()) {
    if (job.seq < cursor) continue;
    if (!busyloop && (examined >= count * 10 || found.length >= count)) {
      next = job.seq;
      break;
    }
    examined++;
    if (queue !== null && job.queueKey !== queue) continue;
    if (states.size > 0 && !states.has(job.state)) continue;
    found.push(job);
  }
  return [String(next), found.map((job) => (replyAll ? jobInfo(ctx, job) : new Status(job.id)))];
}

function qscan(ctx: CommandContext, args: Buffer[]): Reply {
  let minlen = 0;
  let maxlen = Infinity;
  for (let i = 1; i < args.length; i++) {
    const option = (args[i] as Buffer).toString('latin1').toLowerCase();
    if (['count', 'importrate', 'minlen', 'maxlen'].includes(option) && i < args.length - 1) {
      const value = integer(args[++i]);
      if (value === null) return NOT_INTEGER;
      if (option === 'minlen') minlen = value;
      if (option === 'maxlen') maxlen = value;
    } else if (option !== 'busyloop' && integer(args[i]) === null) return SYNTAX;
  }
  const names = [...ctx.store.queues.values()]
    .filter((queue) => queue.jobs.length >= minlen && queue.jobs.length <= maxlen)
    .map((queue) => queue.name);
  return ['0', names];
}

function info(ctx: CommandContext, args: Buffer[]): Reply {
  const section = args[1]?.toString('latin1').toLowerCase() ?? 'default';
  const sections: Record<string, string[]> = {
    server: [
      'disque_version:1.0-rc1',
      'disque_git_sha1:00000000',
      'disque_git_dirty:0',
      `os:${process.platform} (taskq test server)`,
      'arch_bits:64',
      `process_id:${process.pid}`,
      `run_id:${ctx.nodeId}`,
      `tcp_port:${ctx.port}`,
      `uptime_in_seconds:${Math.floor((Date.now() - ctx.startedMs) / 1000)}`,
      'hz:10',
    ],
    clients: [`connected_clients:${ctx.connectedClients}`, `blocked_clients:${ctx.blockedClients}`],
    jobs: [`registered_jobs:${ctx.store.jobs.size}`],
    queues: [`registered_queues:${ctx.store.queues.size}`],
    persistence: ['loading:0', 'aof_enabled:0', 'aof_state:off'],
  };
  const chosen = section === 'default' || section === 'all' ? Object.keys(sections) : [section];
  const text = chosen
    .filter((name) => sections[name] !== undefined)
    .map((name) => `# ${name[0]!.toUpperCase()}${name.slice(1)}\r\n${sections[name]!.join('\r\n')}\r\n`)
    .join('\r\n');
  return Buffer.from(text);
}

function hello(ctx: CommandContext): Reply {
  const nodes = ctx.nodes;
  const me = nodes.find((node) => node.id === ctx.nodeId);
  const others = nodes.filter((node) => node !== me);
  // Priority: lower is better; 1 for reachable nodes, 100 for nodes flagged as failing.
  return [
    1,
    ctx.nodeId,
    ...[me!, ...others].map((node) => [node.id, node.host, String(node.port), node.running ? '1' : '100']),
  ];
}

function client(ctx: CommandContext, args: Buffer[]): Reply {
  const sub = (args[1] as Buffer).toString('latin1').toLowerCase();
  if (sub === 'setname' && args.length === 3) {
    ctx.clientName = (args[2] as Buffer).toString();
    return OK;
  }
  if (sub === 'getname' && args.length === 2) return ctx.clientName;
  return new ErrorReply('ERR Syntax error, try CLIENT (LIST | KILL ip:port | GETNAME | SETNAME connection-name)');
}

function debug(ctx: CommandContext, args: Buffer[]): Reply {
  if ((args[1] as Buffer).toString('latin1').toLowerCase() === 'flushall') {
    ctx.store.clear();
    return OK;
  }
  return new ErrorReply('ERR Syntax error, try DEBUG FLUSHALL (this server implements no other DEBUG subcommand)');
}

/** name → [handler, arity]; arity like Disque's command table: n = exactly n arguments, -n = at least n. */
export const COMMANDS: Record<string, [Command, number]> = {
  ping: [(_ctx, args) => (args.length > 1 ? (args[1] as Buffer) : new Status('PONG')), -1],
  info: [info, -1],
  hello: [hello, 1],
  client: [client, -2],
  auth: [() => new ErrorReply('ERR Client sent AUTH, but no password is set'), 2],
  time: [
    () => {
      const now = Date.now();
      return [String(Math.floor(now / 1000)), String((now % 1000) * 1000)];
    },
    1,
  ],
  debug: [debug, -2],
  addjob: [addjob, -4],
  getjob: [getjob, -2],
  ackjob: [acknowledge, -1],
  fastack: [acknowledge, -1],
  deljob: [acknowledge, -1],
  show: [
    (ctx, args) => {
      const ids = jobIds(args.slice(1));
      if (ids instanceof ErrorReply) return ids;
      const job = ctx.store.get(ids[0] as string);
      return job ? jobInfo(ctx, job) : null;
    },
    2,
  ],
  qlen: [(ctx, args) => ctx.store.queueLength((args[1] as Buffer).toString('latin1')), 2],
  qpeek: [qpeek, 3],
  qstat: [qstat, 2],
  qscan: [qscan, -1],
  jscan: [jscan, -1],
  enqueue: [enqueueOrNack(false), -1],
  nack: [enqueueOrNack(true), -1],
  dequeue: [dequeue, -1],
  working: [working, 2],
};
