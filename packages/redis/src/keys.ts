/**
 * Key layout. Every key of one queue shares the hash tag `{<prefix>:<queue>}`,
 * so the Lua scripts touch a single slot and work on Redis Cluster.
 */
export interface BrokerKeys {
  /** LIST of message ids ready for delivery, FIFO (RPUSH / LPOP). */
  ready: string;
  /** HASH message id → payload: every stored message. */
  msgs: string;
  /** ZSET message id → lease expiry (ms): delivered, not acknowledged. */
  leases: string;
  /** HASH message id → delivery count (the receipt's suffix). */
  deliveries: string;
  /** ZSET message id → due time (ms): delayed messages. */
  delayed: string;
  /** ZSET of ready ids with a priority other than 0, scored −priority × 10¹² + sequence. */
  pready: string;
  /** HASH message id → priority, for delayed messages with a priority. */
  prio: string;
  /** Counter that keeps FIFO order within one priority. */
  seq: string;
  /** HASH claim token → ids it leased: a claim resent after a lost reply returns the same deliveries. */
  claims: string;
  /** ZSET claim token → lease expiry (ms), to forget old claims. */
  claimExpiry: string;
  // Keyed limits (capability keyedLimits). Per key k, the scripts also use `<limits>ready:<k>` (LIST of ready
  // ids, FIFO) and `<limits>starts:<k>` (ZSET of recent deliveries scored by time: the sliding-window log).
  /** ZSET of limit keys with ready messages, scored by turn: the lowest is served next, then moved to the back. */
  limitRing: string;
  /** HASH limit key → "concurrency|max|perMs" (empty parts = none), from the key's latest enqueue. */
  limitConf: string;
  /** HASH message id → its limit key. */
  limitOf: string;
  /** HASH limit key → deliveries out (leased, not acknowledged). */
  limitRunning: string;
  /** Counter of turns for limitRing. */
  limitSeq: string;
  /** The prefix of the per-key keys above (not a key itself). */
  limits: string;
}

export function queueTag(prefix: string, queue: string): string {
  return `{${prefix}:${queue}}`;
}

export function brokerKeys(prefix: string, queue: string): BrokerKeys {
  const tag = queueTag(prefix, queue);
  return {
    ready: `${tag}:ready`,
    msgs: `${tag}:msgs`,
    leases: `${tag}:leases`,
    deliveries: `${tag}:deliveries`,
    delayed: `${tag}:delayed`,
    pready: `${tag}:pready`,
    prio: `${tag}:prio`,
    seq: `${tag}:seq`,
    claims: `${tag}:claims`,
    claimExpiry: `${tag}:claim-expiry`,
    limitRing: `${tag}:limit-ring`,
    limitConf: `${tag}:limit-conf`,
    limitOf: `${tag}:limit-of`,
    limitRunning: `${tag}:limit-running`,
    limitSeq: `${tag}:limit-seq`,
    limits: `${tag}:lim:`,
  };
}

/** Cluster heartbeats of every queue under one prefix: [HASH key → JSON, ZSET key → expiry ms]. */
export function statKeys(prefix: string): [string, string] {
  const tag = `{${prefix}:stats}`;
  return [`${tag}:values`, `${tag}:expiry`];
}

/** The result store's keys share `{<prefix>:results:<namespace>}`; see redis-store.ts for each key. */
export function storeTag(prefix: string, namespace: string): string {
  return `{${prefix}:results:${namespace}}`;
}

/** The schedule store's keys share `{<prefix>:schedules}`: one set for every cluster on the prefix. */
export function scheduleTag(prefix: string): string {
  return `{${prefix}:schedules}`;
}

/**
 * Job control's keys (ControlStore: values, counted sets and a per-namespace index) share `{<prefix>:control}`:
 * one set for every cluster on the prefix, like schedules (a cancel or pause names a task or a queue, not one
 * cluster's results). See scripts/includes-control.lua for each key.
 */
export function controlTag(prefix: string): string {
  return `{${prefix}:control}`;
}
