import type { Redis } from 'ioredis';
import {
  BaseBroker,
  ErrorCodes,
  TaskqError,
  type BrokerCapabilities,
  type BrokerFactoryOptions,
  type BrokerInfo,
  type Delivery,
  type EnqueueItem,
  type EnqueueOptions,
  type QueuedMessage,
} from '@taskq/core';
import { isReplyError, mapReplyError, unavailable, withTimeout } from './errors.js';
import { Link, NodeSet, openClient } from './nodes.js';
import { resolveOptions, type DisqueConnectionOptions, type ResolvedDisqueOptions } from './options.js';

export interface DisqueBrokerOptions extends BrokerFactoryOptions, DisqueConnectionOptions {}

/** Ids per ACKJOB / DELJOB / ADDJOB pipeline, so no single command or write gets huge. */
const CHUNK = 500;
const JOB_ID = /^D-[^-]{8}-.{24}-[0-9a-f]{4}$/i;

export const disqueBrokerCapabilities: BrokerCapabilities = {
  receipts: true,
  extendLease: true,
  // QLEN and JSCAN count what the node the broker talks to holds; in a real cluster jobs queued on
  // other nodes are not in its QLEN. Exact against one node (and against the test server).
  exactCounts: false,
  bulkDequeue: true,
  bulkEnqueue: true,
  delay: true,
  priority: false,
  maxPayloadBytes: null,
  stats: false,
  listQueued: true,
};

/**
 * A Disque broker over RESP (ioredis with `protocol: 2`). A task is a Disque
 * job in a queue named after the taskq queue, added with RETRY = `retry`
 * (rounded up to whole seconds): Disque itself queues a job again when it is
 * not acknowledged in time. Receipts are `<job id>:<delivery number>`.
 */
export class DisqueBroker extends BaseBroker {
  readonly capabilities = disqueBrokerCapabilities;
  readonly options: ResolvedDisqueOptions;
  /** RETRY for ADDJOB: Disque counts whole seconds. */
  readonly retryWholeSeconds: number;
  readonly nodes: NodeSet;
  readonly #main: Link;
  /** GETJOB with a TIMEOUT blocks its connection, so waits get their own. */
  readonly #blocking: Link;
  /** Jobs extended past one retry period: a timer keeps sending WORKING until the extension ends. */
  readonly #keepAlive = new Map<string, NodeJS.Timeout>();
  #serverInfo: string | undefined;

  constructor(options: DisqueBrokerOptions) {
    super(options);
    this.options = resolveOptions(options);
    this.retryWholeSeconds = Math.max(1, Math.ceil(this.retrySeconds));
    if (this.retryWholeSeconds >= this.options.ttlSeconds) {
      throw new TaskqError(
        ErrorCodes.CONFIG,
        `Disque job TTL (${this.options.ttlSeconds} s) must be longer than retry (${this.retryWholeSeconds} s): raise ttlSeconds.`,
      );
    }
    this.nodes = new NodeSet(this.options.nodes);
    const what = `Disque broker "${this.queue}"`;
    const discover = (client: Redis) => {
      if (!this.options.discover) return;
      client.call('HELLO').then(
        (hello) => this.nodes.learn(hello),
        () => undefined,
      );
    };
    this.#main = new Link(this.nodes, this.options, what, discover);
    this.#blocking = new Link(this.nodes, this.options, what);
  }

  /** The node the broker's commands go to now (null before the first call or after a failure). */
  get currentNode(): string | null {
    const node = this.#main.node;
    return node ? `${node.host}:${node.port}` : null;
  }

  /**
   * Runs `call` on the current node. A lost connection moves to the next node and tries again,
   * once per known node; error replies are mapped, never retried.
   */
  async #run<T>(
    what: string,
    call: (client: Redis) => Promise<T>,
    link: Link = this.#main,
    signal?: AbortSignal,
  ): Promise<T> {
    let lastError: unknown;
    for (let attempt = 0; attempt <= this.nodes.all.length; attempt++) {
      this.assertOpen();
      signal?.throwIfAborted(); // an aborted wait is not retried on another node
      const client = await link.get();
      try {
        return await call(client);
      } catch (error) {
        if (isReplyError(error)) throw mapReplyError(error, `Disque broker "${this.queue}" ${what}`);
        if (this.closed) throw new TaskqError(ErrorCodes.BROKER_CLOSED, `Broker for queue "${this.queue}" is closed.`);
        lastError = error;
        link.fail(client);
      }
    }
    throw unavailable(`Disque broker "${this.queue}" ${what}`, lastError);
  }

  #addJobArgs(payload: string, options: EnqueueOptions): (string | number)[] {
    const args: (string | number)[] = [this.queue, payload, this.options.addTimeoutMs];
    args.push('RETRY', this.retryWholeSeconds, 'TTL', this.options.ttlSeconds);
    // DELAY is whole seconds: a delay is rounded up, so a task never starts early.
    const delaySeconds = Math.ceil(Math.max(0, options.delayMs ?? 0) / 1000);
    if (delaySeconds > 0) args.push('DELAY', delaySeconds);
    if (this.options.replicate !== undefined) args.push('REPLICATE', this.options.replicate);
    return args;
  }

  protected async _enqueue(payload: string, options: EnqueueOptions): Promise<string> {
    const args = this.#addJobArgs(payload, options);
    return String(await this.#run('ADDJOB', (client) => client.call('ADDJOB', ...args)));
  }

  /** One pipeline per chunk: the ADDJOBs go out in one write. A lost connection re-sends the chunk (at-least-once). */
  protected override async _enqueueMany(items: readonly EnqueueItem[]): Promise<string[]> {
    const ids: string[] = [];
    for (let start = 0; start < items.length; start += CHUNK) {
      const chunk = items.slice(start, start + CHUNK);
      const results = await this.#run('ADDJOB', async (client) => {
        const pipeline = client.pipeline();
        for (const item of chunk) pipeline.call('ADDJOB', ...this.#addJobArgs(item.payload, item.options ?? {}));
        const replies = (await pipeline.exec()) ?? [];
        const lost = replies.find(([error]) => error && !isReplyError(error));
        if (lost) throw lost[0];
        return replies;
      });
      for (const [error, id] of results) {
        if (error) throw mapReplyError(error, `Disque broker "${this.queue}" ADDJOB`);
        ids.push(String(id));
      }
    }
    return ids;
  }

  protected async _dequeue(max: number, waitMs: number, signal?: AbortSignal): Promise<Delivery[]> {
    if (signal?.aborted) return [];
    let reply: unknown;
    if (waitMs <= 0) {
      reply = await this.#run('GETJOB', (client) =>
        client.call('GETJOB', 'NOHANG', 'COUNT', max, 'WITHCOUNTERS', 'FROM', this.queue),
      );
    } else {
      // A wait ends by TIMEOUT, by a job arriving, or by closing the blocking connection (abort, close):
      // no polling. A job Disque handed out just as the connection closed is queued again after RETRY.
      const abort = () => this.#blocking.release();
      signal?.addEventListener('abort', abort, { once: true });
      try {
        // After a failover the wait goes on on the next node for what is left of it, not from the start.
        const deadline = Date.now() + waitMs;
        reply = await this.#run(
          'GETJOB',
          (client) => {
            const timeout = Math.max(1, Math.round(deadline - Date.now()));
            return client.call('GETJOB', 'TIMEOUT', timeout, 'COUNT', max, 'WITHCOUNTERS', 'FROM', this.queue);
          },
          this.#blocking,
          signal,
        );
      } catch (error) {
        if (this.closed || signal?.aborted) return [];
        throw error;
      } finally {
        signal?.removeEventListener('abort', abort);
      }
    }
    const deliveries = toDeliveries(reply);
    if (deliveries.length > 0) await this.#restartRetryClocks(deliveries);
    return deliveries;
  }

  /**
   * Disque counts RETRY from when a job was queued, not from when it was fetched: a job that waited
   * in the queue could come back almost at once. WORKING right after GETJOB (as Disque's README
   * suggests) gives every delivery a full retry period from now.
   */
  async #restartRetryClocks(deliveries: Delivery[]): Promise<void> {
    await this.#run('WORKING', (client) =>
      Promise.all(deliveries.map((d) => client.call('WORKING', jobIdOf(d.receipt)).catch(ignoreReplyError))),
    ).catch(() => undefined);
  }

  protected async _acknowledge(receipt: string): Promise<void> {
    await this._acknowledgeMany([receipt]);
  }

  protected override async _acknowledgeMany(receipts: readonly string[]): Promise<void> {
    const ids = receipts.map(jobIdOf);
    for (const id of ids) this.#stopKeepAlive(id);
    const command = this.options.fastAck ? 'FASTACK' : 'ACKJOB';
    for (let start = 0; start < ids.length; start += CHUNK) {
      const chunk = ids.slice(start, start + CHUNK);
      await this.#run(command, (client) => client.call(command, ...chunk));
    }
  }

  /** A dropped task is acknowledged (ACKJOB reaches every node holding a copy; DELJOB only one node). */
  protected async _delete(receipt: string): Promise<void> {
    await this._acknowledgeMany([receipt]);
  }

  /** NACK: put deliveries back in the queue at once (their `nacks` counter grows), instead of waiting out RETRY. */
  async nack(receipts: readonly string[]): Promise<void> {
    this.assertOpen();
    const ids = receipts.map(jobIdOf);
    for (const id of ids) this.#stopKeepAlive(id);
    if (ids.length > 0) await this.#run('NACK', (client) => client.call('NACK', ...ids));
  }

  /**
   * WORKING postpones the next delivery by the job's RETRY. A stale receipt (the job was delivered
   * again since) is ignored: WORKING would otherwise take the new delivery out of the queue. An
   * extension longer than RETRY is kept up by re-sending WORKING until it ends.
   */
  protected override async _extend(receipt: string, seconds: number): Promise<void> {
    const id = jobIdOf(receipt);
    const delivery = deliveryOf(receipt);
    const show = await this.#run('SHOW', (client) => client.call('SHOW', id));
    if (!Array.isArray(show)) return; // acknowledged or expired
    const job = toFields(show);
    const current = 1 + Number(job.nacks ?? 0) + Number(job['additional-deliveries'] ?? 0);
    if (job.state !== 'active' || (delivery !== null && delivery !== current)) return;
    const until = Date.now() + seconds * 1000;
    this.#stopKeepAlive(id);
    await this.#working(id, until);
  }

  async #working(id: string, until: number): Promise<void> {
    let postponed: number;
    try {
      postponed = Number(await this.#run('WORKING', (client) => client.call('WORKING', id)));
    } catch (error) {
      // NOJOB (acknowledged meanwhile) or TOOLATE (half the TTL is gone): nothing to keep alive.
      if (isReplyError(error) || (error instanceof TaskqError && isReplyError(error.cause))) return;
      throw error;
    }
    if (this.closed || Date.now() + postponed * 1000 >= until) return;
    // Re-send at half the retry period, as a worker is told to before RETRY elapses.
    const timer = setTimeout(
      () => {
        this.#keepAlive.delete(id);
        if (!this.closed) this.#working(id, until).catch(() => undefined);
      },
      Math.max(100, (postponed * 1000) / 2),
    );
    timer.unref();
    this.#keepAlive.set(id, timer);
  }

  #stopKeepAlive(id: string): void {
    clearTimeout(this.#keepAlive.get(id));
    this.#keepAlive.delete(id);
  }

  protected async _queueSize(): Promise<number> {
    return Number(await this.#run('QLEN', (client) => client.call('QLEN', this.queue)));
  }

  /** Active jobs of the queue (delivered, not acknowledged), leaving out jobs still waiting out a DELAY. */
  protected async _lockSize(): Promise<number> {
    const now = Date.now();
    let locked = 0;
    await this.#scan(['STATE', 'active', 'REPLY', 'all'], (items) => {
      for (const item of items) {
        const job = toFields(item);
        const createdMs = Number(BigInt(String(job.ctime ?? 0)) / 1_000_000n);
        const delayed = Number(job.delay ?? 0) > 0 && createdMs + Number(job.delay) * 1000 > now;
        if (!delayed) locked++;
      }
    });
    return locked;
  }

  /** JSCAN over this queue's jobs on the current node, page by page. */
  async #scan(filter: (string | number)[], onPage: (items: unknown[]) => void | Promise<void>): Promise<void> {
    await this.#run('JSCAN', async (client) => {
      let cursor = '0';
      do {
        const reply = (await client.call('JSCAN', cursor, 'COUNT', 1000, 'QUEUE', this.queue, ...filter)) as [
          string,
          unknown[],
        ];
        cursor = String(reply[0]);
        await onPage(reply[1]);
      } while (cursor !== '0');
    });
  }

  /**
   * JSCAN + DELJOB on every reachable node: DELJOB deletes a job from one node only, and in a real
   * cluster each node holds its own copies.
   */
  protected async _purgeQueue(): Promise<void> {
    for (const id of this.#keepAlive.keys()) this.#stopKeepAlive(id);
    const deleteAll = async (client: Redis) => {
      let cursor = '0';
      do {
        const [next, ids] = (await client.call('JSCAN', cursor, 'COUNT', 1000, 'QUEUE', this.queue)) as [
          string,
          string[],
        ];
        cursor = String(next);
        for (let start = 0; start < ids.length; start += CHUNK) {
          await client.call('DELJOB', ...ids.slice(start, start + CHUNK));
        }
      } while (cursor !== '0');
    };
    await this.#run('JSCAN/DELJOB', deleteAll);
    const current = this.#main.node;
    for (const node of this.nodes.all) {
      if (current && node.host === current.host && node.port === current.port) continue;
      const client = await openClient(node, this.options).catch(() => null);
      if (!client) continue; // down: its copies expire with their TTL
      try {
        await deleteAll(client);
      } catch (error) {
        if (isReplyError(error)) throw mapReplyError(error, `Disque broker "${this.queue}" DELJOB`);
      } finally {
        client.disconnect();
      }
    }
  }

  /** Disque drops a queue once it is empty; deleting it is purging it. */
  protected async _deleteQueue(): Promise<void> {
    await this._purgeQueue();
  }

  protected async _ping(): Promise<void> {
    const timeoutMs = this.options.connectTimeoutMs;
    await withTimeout(
      this.#run('PING', (client) => client.ping()),
      timeoutMs * Math.max(1, this.nodes.all.length) + 500,
      `Disque broker "${this.queue}": no node answered PING in time.`,
    );
  }

  protected async _info(): Promise<BrokerInfo> {
    if (this.#serverInfo === undefined) {
      const text = String(await this.#run('INFO', (client) => client.call('INFO', 'server')));
      this.#serverInfo = `disque ${/disque_version:(\S+)/.exec(text)?.[1] ?? 'unknown'}`;
    }
    return {
      server: this.#serverInfo,
      queue: this.queue,
      node: this.currentNode,
      nodes: this.nodes.all.map((node) => `${node.host}:${node.port}`),
      retrySeconds: this.retryWholeSeconds,
      ttlSeconds: this.options.ttlSeconds,
      fastAck: this.options.fastAck,
    };
  }

  protected override async _listQueued(limit: number, offset: number): Promise<QueuedMessage[]> {
    const reply = await this.#run('QPEEK', (client) => client.call('QPEEK', this.queue, offset + limit));
    const jobs = Array.isArray(reply) ? (reply as unknown[][]) : [];
    return jobs.slice(offset).map((job) => ({
      id: String(job[1]),
      payload: String(job[2]),
      lockedUntil: null,
      runAt: null,
    }));
  }

  protected async _close(): Promise<void> {
    for (const timer of this.#keepAlive.values()) clearTimeout(timer);
    this.#keepAlive.clear();
    await Promise.all([this.#blocking.close(), this.#main.close()]);
  }
}

function ignoreReplyError(error: unknown): void {
  if (!isReplyError(error)) throw error;
}

/** Receipts are `<job id>:<delivery number>`; a bare job id is accepted too. */
export function jobIdOf(receipt: string): string {
  const separator = receipt.lastIndexOf(':');
  const id = separator === -1 ? receipt : receipt.slice(0, separator);
  if (!JOB_ID.test(id)) {
    throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, `"${receipt}" is not a Disque receipt (<job id>:<delivery>).`);
  }
  return id;
}

function deliveryOf(receipt: string): number | null {
  const separator = receipt.lastIndexOf(':');
  const n = separator === -1 ? NaN : Number(receipt.slice(separator + 1));
  return Number.isInteger(n) ? n : null;
}

/** SHOW / JSCAN REPLY all: a flat key/value array. */
function toFields(flat: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}

/** GETJOB … WITHCOUNTERS: `[[queue, id, body, 'nacks', n, 'additional-deliveries', m], …]` or null. */
function toDeliveries(reply: unknown): Delivery[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((job: unknown[]) => {
    const counters = toFields(job.slice(3));
    const deliveries = 1 + Number(counters.nacks ?? 0) + Number(counters['additional-deliveries'] ?? 0);
    return { receipt: `${String(job[1])}:${deliveries}`, payload: String(job[2]), deliveries };
  });
}
