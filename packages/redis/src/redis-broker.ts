import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  BaseBroker,
  ErrorCodes,
  TaskqError,
  type BrokerCapabilities,
  type BrokerFactoryOptions,
  type BrokerInfo,
  type ClusterStat,
  type Delivery,
  type EnqueueItem,
  type KeyedLimit,
  type EnqueueOptions,
  type EventsCapability,
  type QueuedMessage,
  type TaskEventChannel,
  type TaskFinishedEvent,
} from '@taskq/core';
import { guard, withTimeout } from './errors.js';
import { RedisEventChannel } from './events.js';
import { brokerKeys, statKeys, type BrokerKeys } from './keys.js';
import { connect, isCluster, type RedisClient, type RedisConnectionOptions, type WaitOptions } from './options.js';
import { defineScripts, runScript, runScriptReplicated } from './scripts.js';

export interface RedisBrokerOptions extends BrokerFactoryOptions, RedisConnectionOptions {}

const SCRIPTS = ['enqueue', 'claim', 'acknowledge', 'extend', 'sizes', 'list-queued', 'set-stat', 'get-stats'];
/** Arguments per script call, so no call builds a huge Lua stack. */
const CHUNK = 500;
/** How long a dequeue waits for a dropped connection to come back before reporting the outage. */
const MIN_CONNECT_WAIT_MS = 250;
/** Longest single blocking wait: expired leases and due delays are noticed at least this often. */
const MAX_BLOCK_MS = 1000;

export const redisBrokerCapabilities: BrokerCapabilities & EventsCapability = {
  receipts: true,
  extendLease: true,
  exactCounts: true,
  bulkDequeue: true,
  bulkEnqueue: true,
  delay: true,
  priority: true,
  maxPayloadBytes: null,
  stats: true,
  listQueued: true,
  events: true,
  keyedLimits: true,
};

/**
 * A Redis broker with receipts: a ready list, a payload hash and a lease
 * sorted set per queue, moved atomically by Lua scripts (src/scripts/). A
 * delivery is leased for `retrySeconds`; a lease that lapses puts the message
 * back at the head of the queue. Idle consumers block on the ready list
 * (BLMOVE onto itself, which takes nothing) and then claim with Lua.
 */
export class RedisBroker extends BaseBroker implements TaskEventChannel {
  readonly capabilities = redisBrokerCapabilities;
  readonly prefix: string;
  /** The command connection: an ioredis `Redis`, or a `Cluster` for `redis+cluster://` URLs. */
  readonly redis: RedisClient;
  readonly #owned: boolean;
  readonly #wait: WaitOptions | undefined;
  readonly #keys: BrokerKeys;
  readonly #statKeys: [string, string];
  readonly #pingTimeoutMs: number;
  /** Ids are unique per broker instance and never reused, so stale receipts stay harmless. */
  readonly #idPrefix = randomBytes(6).toString('base64url');
  #idCounter = 0;
  #blocking: Promise<{ client: RedisClient; id: number }> | undefined;
  #serverInfo: string | undefined;
  readonly #events: RedisEventChannel;

  constructor(options: RedisBrokerOptions) {
    super(options);
    const { redis, prefix, owned } = connect(options);
    this.redis = redis;
    this.prefix = prefix;
    this.#owned = owned;
    this.#wait = options.wait;
    this.#pingTimeoutMs = options.pingTimeoutMs ?? 2000;
    this.#keys = brokerKeys(prefix, this.queue);
    this.#statKeys = statKeys(prefix);
    // Connection errors surface on the calls; keep ioredis from logging unhandled 'error' events.
    this.redis.on('error', () => undefined);
    defineScripts(this.redis, SCRIPTS);
    this.#events = new RedisEventChannel(this.redis, prefix, () => this.closed);
  }

  /** Finished-task events (capability `events`): Redis pub/sub on `<prefix>:events`, see events.ts. */
  publishFinished(events: readonly TaskFinishedEvent[]): Promise<void> {
    return this.#events.publishFinished(events);
  }

  subscribeFinished(listener: (events: TaskFinishedEvent[]) => void): Promise<() => Promise<void>> {
    return this.#events.subscribeFinished(listener);
  }

  /** The keys this broker uses, for tools and tests. */
  get keys(): BrokerKeys {
    return this.#keys;
  }

  #call<T>(call: () => Promise<T>): Promise<T> {
    return guard(ErrorCodes.BROKER_UNAVAILABLE, `Redis broker "${this.queue}"`, () => this.closed, call);
  }

  #newId(): string {
    this.#idCounter += 1;
    return `${this.#idPrefix}${this.#idCounter.toString(36)}`;
  }

  protected async _enqueue(payload: string, options: EnqueueOptions): Promise<string> {
    const [id] = await this._enqueueMany([{ payload, options }]);
    return id as string;
  }

  protected override async _enqueueMany(items: readonly EnqueueItem[]): Promise<string[]> {
    const { ready, msgs, delayed, pready, prio, seq, limitRing, limitConf, limitOf, limitSeq } = this.#keys;
    const ids = items.map(() => this.#newId());
    const calls: Promise<unknown>[] = [];
    for (let start = 0; start < items.length; start += CHUNK) {
      const args: (string | number)[] = [this.#keys.limits];
      for (let i = start; i < Math.min(items.length, start + CHUNK); i++) {
        const item = items[i] as EnqueueItem;
        const delayMs = Math.max(0, Math.round(item.options?.delayMs ?? 0));
        const limit = item.options?.limit;
        args.push(ids[i] as string, item.payload, delayMs, Number(item.options?.priority ?? 0) || 0);
        args.push(limit?.key ?? '', limit === undefined ? '' : limitConfOf(limit));
      }
      const keys = [ready, msgs, delayed, pready, prio, seq, limitRing, limitConf, limitOf, limitSeq];
      calls.push(runScriptReplicated(this.redis, 'enqueue', keys, args, this.#wait, ErrorCodes.BROKER_UNAVAILABLE));
    }
    await this.#call(() => Promise.all(calls));
    return ids;
  }

  protected async _dequeue(max: number, waitMs: number, signal?: AbortSignal): Promise<Delivery[]> {
    const deadline = Date.now() + waitMs;
    const { ready, msgs, leases, deliveries, delayed, pready, prio, seq } = this.#keys;
    const { claims, claimExpiry, limitRing, limitConf, limitOf, limitRunning, limitSeq } = this.#keys;
    const claimKeys = [ready, msgs, leases, deliveries, delayed, pready, prio, seq, claims, claimExpiry];
    claimKeys.push(limitRing, limitConf, limitOf, limitRunning, limitSeq);
    const leaseMs = Math.round(this.retrySeconds * 1000);
    for (;;) {
      // Claims are not queued while the connection is down: a pile of them would all run on reconnect and lease
      // batches nobody receives. The base class turns a long outage into TASKQ_BROKER_UNAVAILABLE.
      await this.#whenConnected(Math.max(deadline - Date.now(), MIN_CONNECT_WAIT_MS));
      // A fresh token per claim makes a resent claim return its first reply (see claim.lua).
      const token = randomBytes(9).toString('base64url');
      let reply: [Array<string | number>, number];
      try {
        reply = await this.#call(() =>
          runScript(this.redis, 'claim', claimKeys, [max, leaseMs, token, this.#keys.limits]),
        );
      } catch (error) {
        if (this.closed) return [];
        throw error;
      }
      const [flat, nextDueMs] = reply;
      if (flat.length > 0) return toDeliveries(flat);
      const remaining = deadline - Date.now();
      if (remaining <= 0 || this.closed || signal?.aborted) return [];
      const due = Number(nextDueMs) >= 0 ? Number(nextDueMs) + 2 : Number.POSITIVE_INFINITY;
      await this.#block(Math.min(remaining, due, MAX_BLOCK_MS), signal);
    }
  }

  /** Resolves once the connection is ready; rejects with TASKQ_BROKER_UNAVAILABLE after `ms`. */
  #whenConnected(ms: number): Promise<void> {
    if (this.redis.status === 'ready' || this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady);
        reject(
          new TaskqError(
            ErrorCodes.BROKER_UNAVAILABLE,
            `Redis broker "${this.queue}": not connected (${this.redis.status}).`,
          ),
        );
      }, ms);
      this.redis.once('ready', onReady);
    });
  }

  /** Waits until the ready list has an element or `ms` pass; takes nothing from the list. */
  async #block(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted || this.closed) return;
    const blocking = this.#blockingClient();
    const { client } = await blocking;
    const unblock = () => {
      if (isCluster(client)) {
        // No CLIENT UNBLOCK through a Cluster client (its node connections are internal): drop the blocking
        // client instead; the next wait opens a new one.
        if (this.#blocking === blocking) this.#blocking = undefined;
        client.disconnect();
        return;
      }
      // Read the id now: it changes when the blocking connection reconnects.
      void blocking.then(({ id }) => (this.redis as Redis).client('UNBLOCK', id)).catch(() => undefined);
    };
    signal?.addEventListener('abort', unblock, { once: true });
    try {
      const seconds = Math.max(0.01, ms / 1000).toFixed(3);
      await client.blmove(this.#keys.ready, this.#keys.ready, 'LEFT', 'LEFT', seconds);
    } catch (error) {
      if (!this.closed && !signal?.aborted)
        throw new TaskqError(ErrorCodes.BROKER_UNAVAILABLE, 'Redis blocking wait failed.', { cause: error });
    } finally {
      signal?.removeEventListener('abort', unblock);
    }
  }

  /** One extra connection per broker for blocking waits (a blocked connection can do nothing else). */
  #blockingClient(): Promise<{ client: RedisClient; id: number }> {
    if (this.#blocking) return this.#blocking;
    const redis = this.redis;
    this.#blocking = (async () => {
      if (isCluster(redis)) {
        // A Cluster client of its own: BLMOVE goes to the master of the queue's slot, and follows a failover.
        const client = redis.duplicate(undefined, { enableAutoPipelining: false });
        client.on('error', () => undefined);
        return { client, id: -1 };
      }
      const client = redis.duplicate({ enableAutoPipelining: false });
      client.on('error', () => undefined);
      const state = { client, id: Number(await client.client('ID')) };
      // The id changes with every reconnect; UNBLOCK needs the current one.
      client.on('ready', () => {
        client.client('ID').then(
          (id) => (state.id = Number(id)),
          () => undefined,
        );
      });
      return state;
    })();
    // A failed start is not cached: the next wait tries again.
    this.#blocking.catch(() => (this.#blocking = undefined));
    return this.#blocking;
  }

  protected async _acknowledge(receipt: string): Promise<void> {
    await this._acknowledgeMany([receipt]);
  }

  protected override async _acknowledgeMany(receipts: readonly string[]): Promise<void> {
    const { msgs, leases, deliveries, limitOf, limitRunning, ready, limitRing } = this.#keys;
    const ackKeys = [msgs, leases, deliveries, limitOf, limitRunning, ready, limitRing];
    const ids = receipts.map(messageIdOf);
    const calls: Promise<unknown>[] = [];
    for (let start = 0; start < ids.length; start += CHUNK) {
      const slice = ids.slice(start, start + CHUNK);
      calls.push(
        runScriptReplicated(this.redis, 'acknowledge', ackKeys, slice, this.#wait, ErrorCodes.BROKER_UNAVAILABLE),
      );
    }
    await this.#call(() => Promise.all(calls));
  }

  protected async _delete(receipt: string): Promise<void> {
    await this._acknowledgeMany([receipt]);
  }

  protected override async _extend(receipt: string, seconds: number): Promise<void> {
    const separator = receipt.lastIndexOf(':');
    if (separator === -1) return;
    const ms = Math.round(seconds * 1000);
    await this.#call(() =>
      runScript(
        this.redis,
        'extend',
        [this.#keys.leases, this.#keys.deliveries],
        [receipt.slice(0, separator), receipt.slice(separator + 1), ms],
      ),
    );
  }

  async #sizes(): Promise<[number, number]> {
    const [waiting, locked] = await this.#call(() =>
      runScript<[number, number]>(this.redis, 'sizes', [this.#keys.msgs, this.#keys.leases], []),
    );
    return [Number(waiting), Number(locked)];
  }

  protected async _queueSize(): Promise<number> {
    return (await this.#sizes())[0];
  }

  protected async _lockSize(): Promise<number> {
    return (await this.#sizes())[1];
  }

  protected async _purgeQueue(): Promise<void> {
    const { limits, ...keys } = this.#keys;
    // The per-key limit lists and logs are named after the keys in limitConf: delete them with it.
    const limitKeys = await this.#call(() => this.redis.hkeys(keys.limitConf));
    const perKey = limitKeys.flatMap((key) => [`${limits}ready:${key}`, `${limits}starts:${key}`]);
    for (let i = 0; i < perKey.length; i += 500) {
      await this.#call(() => this.redis.del(...perKey.slice(i, i + 500)));
    }
    await this.#call(() => this.redis.del(...Object.values(keys)));
  }

  protected async _deleteQueue(): Promise<void> {
    await this._purgeQueue();
  }

  protected async _ping(): Promise<void> {
    await this.#call(() =>
      withTimeout(
        this.redis.ping(),
        this.#pingTimeoutMs,
        ErrorCodes.BROKER_UNAVAILABLE,
        `Redis did not answer PING within ${this.#pingTimeoutMs} ms.`,
      ),
    );
  }

  protected async _info(): Promise<BrokerInfo> {
    if (this.#serverInfo === undefined) {
      const text = await this.#call(() => this.redis.info('server'));
      const version = /redis_version:(\S+)/.exec(text)?.[1] ?? 'unknown';
      this.#serverInfo = `redis ${version}${isCluster(this.redis) ? ' cluster' : ''}`;
    }
    return { server: this.#serverInfo, queue: this.queue, prefix: this.prefix, retrySeconds: this.retrySeconds };
  }

  protected override async _listQueued(limit: number, offset: number): Promise<QueuedMessage[]> {
    const { ready, msgs, delayed, leases, pready } = this.#keys;
    const flat = await this.#call(() =>
      runScript<string[]>(this.redis, 'list-queued', [ready, msgs, delayed, leases, pready], [offset, limit]),
    );
    const out: QueuedMessage[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      const kind = flat[i];
      const score = Number(flat[i + 2]);
      out.push({
        id: String(flat[i + 1]),
        payload: String(flat[i + 3]),
        lockedUntil: kind === 'l' ? new Date(score) : null,
        runAt: kind === 'd' ? new Date(score) : null,
      });
    }
    return out;
  }

  protected override async _setStat(key: string, stat: ClusterStat, ttlSeconds: number): Promise<void> {
    const ttlMs = Math.max(1, Math.round(ttlSeconds * 1000));
    await this.#call(() => runScript(this.redis, 'set-stat', this.#statKeys, [key, JSON.stringify(stat), ttlMs]));
  }

  protected override async _getStats(): Promise<ClusterStat[]> {
    const values = await this.#call(() => runScript<string[]>(this.redis, 'get-stats', this.#statKeys, []));
    return values.map((value) => JSON.parse(value) as ClusterStat);
  }

  protected override async _deleteStat(key: string): Promise<void> {
    const [stats, expiry] = this.#statKeys;
    await this.#call(() => this.redis.multi().hdel(stats, key).zrem(expiry, key).exec());
  }

  protected async _close(): Promise<void> {
    await this.#events.close();
    const blocking = this.#blocking;
    this.#blocking = undefined;
    if (blocking) {
      const { client } = await blocking.catch(() => ({ client: undefined }));
      client?.disconnect();
    }
    if (!this.#owned) return; // the caller's client
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => undefined);
    this.redis.disconnect();
  }
}

/** Receipts are `<message id>:<delivery number>`. */
/** A key's limits as the scripts read them: "concurrency|max|perMs", empty parts for none. */
function limitConfOf(limit: KeyedLimit): string {
  return `${limit.concurrency ?? ''}|${limit.rate?.max ?? ''}|${limit.rate?.perMs ?? ''}`;
}

function messageIdOf(receipt: string): string {
  const separator = receipt.lastIndexOf(':');
  return separator === -1 ? receipt : receipt.slice(0, separator);
}

function toDeliveries(flat: ReadonlyArray<string | number>): Delivery[] {
  const out: Delivery[] = [];
  for (let i = 0; i + 2 < flat.length; i += 3) {
    const deliveries = Number(flat[i + 1]);
    out.push({ receipt: `${flat[i]}:${deliveries}`, payload: String(flat[i + 2]), deliveries });
  }
  return out;
}
