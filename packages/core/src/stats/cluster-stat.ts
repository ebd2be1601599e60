/** The states a cluster reports in its heartbeat (Django Q's Stat.status). */
export type ClusterStatus = 'Starting' | 'Idle' | 'Working' | 'Stopping' | 'Stopped';

export interface ThreadMemory {
  threadId: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
}

/** A cluster heartbeat, published every guard cycle with a TTL of a few seconds. */
export interface ClusterStat {
  clusterId: string;
  /** Cluster name (signing salt, default queue). */
  name: string;
  /** The queue it works on. */
  queue: string;
  host: string;
  pid: number;
  status: ClusterStatus;
  workers: number;
  concurrency: number;
  /** Tasks pulled from the broker and waiting for a worker (TQ). */
  taskQueueSize: number;
  /** Finished tasks waiting for the monitor to save and acknowledge (RQ). */
  resultQueueSize: number;
  /** Tasks executing now. */
  running: number;
  /** Parts restarted after dying, plus worker threads replaced (RC). */
  reincarnations: number;
  processed: number;
  failed: number;
  rejected: number;
  /** Packages of already finished tasks acknowledged without running (replays). */
  replayed?: number;
  startedAt: number;
  updatedAt: number;
  /** Its queue is paused (`q.pauseQueue`, `taskq queue pause`): it claims nothing until resumed. */
  paused?: boolean;
  /** Since when (ms) the cluster cannot reach its broker; absent or null while it can. */
  brokerUnreachableSince?: number | null;
  memory: {
    rssBytes: number;
    heapUsedBytes: number;
    threads: ThreadMemory[];
  };
}

export function statKey(clusterId: string): string {
  return `cluster:${clusterId}`;
}
