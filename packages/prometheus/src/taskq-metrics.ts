import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ErrorCodes, type MetricsTarget, type TaskMessage, type Taskq } from '@taskq/core';

export interface TaskqMetricsOptions {
  /** Register the metrics here (your app's registry) instead of a new one. */
  registry?: Registry;
  /** Metric name prefix. Default `taskq_`. */
  prefix?: string;
  /** Buckets (seconds) of `taskq_task_duration_seconds`. */
  durationBuckets?: number[];
  /** Buckets (seconds) of `taskq_task_latency_seconds`. */
  latencyBuckets?: number[];
}

export const DEFAULT_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
export const DEFAULT_LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30];

type TaskLabels = 'queue' | 'func';

/**
 * taskq's Prometheus metrics on one registry. Counters and histograms come
 * from the events of every attached client or cluster; queue depth, locked
 * count, busy workers and reincarnations are read when Prometheus scrapes.
 * One TaskqMetrics per registry; attach as many clusters as you like.
 */
export class TaskqMetrics {
  readonly registry: Registry;
  readonly #targets = new Set<MetricsTarget>();
  /** Reincarnations already counted per target (the heartbeat holds a running total). */
  readonly #reincarnationsSeen = new Map<MetricsTarget, number>();

  readonly enqueued: Counter<TaskLabels>;
  readonly started: Counter<TaskLabels>;
  readonly succeeded: Counter<TaskLabels>;
  readonly failed: Counter<TaskLabels>;
  readonly timedOut: Counter<TaskLabels>;
  readonly lost: Counter<TaskLabels>;
  readonly retried: Counter<TaskLabels>;
  readonly rejected: Counter<'queue'>;
  readonly reincarnations: Counter<'queue'>;
  readonly duration: Histogram<TaskLabels>;
  readonly latency: Histogram<TaskLabels>;

  constructor(options: TaskqMetricsOptions = {}) {
    this.registry = options.registry ?? new Registry();
    const p = options.prefix ?? 'taskq_';
    const registers = [this.registry];
    const labelNames = ['queue', 'func'] as const;
    const counter = (name: string, help: string) => new Counter({ name: p + name, help, labelNames, registers });
    this.enqueued = counter('tasks_enqueued_total', 'Tasks enqueued by this process.');
    this.started = counter('tasks_started_total', 'Tasks handed to a worker thread.');
    this.succeeded = counter('tasks_succeeded_total', 'Executions that returned.');
    this.failed = counter(
      'tasks_failed_total',
      'Executions that failed (thrown, timed out or lost with their thread).',
    );
    this.timedOut = counter('tasks_timed_out_total', 'Executions stopped at their timeout (TASKQ_TASK_TIMEOUT).');
    this.lost = counter('tasks_lost_total', 'Executions lost with a worker thread that died (TASKQ_WORKER_LOST).');
    this.retried = counter(
      'tasks_retried_total',
      'Failed executions that will run again (retry policy or redelivery).',
    );
    this.rejected = new Counter({
      name: `${p}packages_rejected_total`,
      help: 'Packages that failed verification or decoding and were never executed.',
      labelNames: ['queue'],
      registers,
    });
    const targets = this.#targets;
    const seen = this.#reincarnationsSeen;
    this.reincarnations = new Counter({
      name: `${p}reincarnations_total`,
      help: 'Cluster parts restarted after dying, plus worker threads replaced.',
      labelNames: ['queue'],
      registers,
      collect() {
        for (const target of targets) {
          const stat = target.stat();
          if (stat === null) continue;
          const delta = stat.reincarnations - (seen.get(target) ?? 0);
          if (delta > 0) this.inc({ queue: stat.queue }, delta);
          seen.set(target, stat.reincarnations);
        }
      },
    });
    this.duration = new Histogram({
      name: `${p}task_duration_seconds`,
      help: 'Execution time, from start to stop in the worker thread.',
      labelNames,
      buckets: options.durationBuckets ?? DEFAULT_DURATION_BUCKETS,
      registers,
    });
    this.latency = new Histogram({
      name: `${p}task_latency_seconds`,
      help: 'Time from enqueue to start, for first attempts.',
      labelNames,
      buckets: options.latencyBuckets ?? DEFAULT_LATENCY_BUCKETS,
      registers,
    });
    /**
     * `perQueue`: the value belongs to the queue (the broker's counts), so it is read once per queue;
     * otherwise it belongs to each cluster and clusters on one queue add up.
     */
    const gauge = (
      name: string,
      help: string,
      read: (target: MetricsTarget) => Promise<number | null>,
      perQueue = false,
    ) =>
      new Gauge({
        name: p + name,
        help,
        labelNames: ['queue'],
        registers,
        async collect() {
          this.reset();
          const totals = new Map<string, number>();
          const readers = perQueue ? [...new Map([...targets].map((t) => [t.queue, t])).values()] : [...targets];
          await Promise.all(
            readers.map(async (target) => {
              const value = await read(target).catch(() => null);
              if (value === null) return;
              totals.set(target.queue, (totals.get(target.queue) ?? 0) + value);
            }),
          );
          for (const [queue, value] of totals) this.set({ queue }, value);
        },
      });
    gauge('queue_depth', 'Tasks waiting on the broker.', (t) => t.queueSize(), true);
    gauge('queue_locked', 'Tasks delivered but not yet acknowledged.', (t) => t.lockSize(), true);
    const fromStat = (read: (stat: NonNullable<ReturnType<MetricsTarget['stat']>>) => number) => (t: MetricsTarget) => {
      const stat = t.stat();
      return Promise.resolve(stat === null ? null : read(stat));
    };
    gauge(
      'worker_threads',
      'Worker threads of the cluster.',
      fromStat((s) => s.workers),
    );
    gauge(
      'workers_busy',
      'Tasks executing now (busy worker threads when concurrency is 1).',
      fromStat((s) => s.running),
    );
    gauge(
      'task_queue_size',
      'Tasks pulled from the broker, waiting for a worker (TQ).',
      fromStat((s) => s.taskQueueSize),
    );
    gauge(
      'result_queue_size',
      'Finished tasks waiting to be saved and acknowledged (RQ).',
      fromStat((s) => s.resultQueueSize),
    );
  }

  /** Counts what a client or cluster does; returns a function that stops counting. */
  attach(target: MetricsTarget): () => void {
    const { events } = target;
    const labels = (message: TaskMessage) => ({ queue: message.cluster ?? target.queue, func: message.func });
    const offs = [
      events.on('preEnqueue', (message) => this.enqueued.inc(labels(message))),
      events.on('preExecute', (message) => this.started.inc(labels(message))),
      events.on('postExecute', (record, message) => {
        const l = labels(message);
        const started = record.startedAt.getTime();
        this.duration.observe(l, Math.max(0, record.stoppedAt.getTime() - started) / 1000);
        // Later attempts waited for a retry delay or a redelivery: that is not queueing latency.
        if (record.attemptCount === 1)
          this.latency.observe(l, Math.max(0, started - record.enqueuedAt.getTime()) / 1000);
        if (record.success) return this.succeeded.inc(l);
        this.failed.inc(l);
        if (record.error?.code === ErrorCodes.TASK_TIMEOUT) this.timedOut.inc(l);
        if (record.error?.code === ErrorCodes.WORKER_LOST) this.lost.inc(l);
      }),
      events.on('retry', (info) => this.retried.inc({ queue: info.queue, func: info.func })),
      events.on('rejectedPackage', () => this.rejected.inc({ queue: target.queue })),
    ];
    this.#targets.add(target);
    return () => {
      for (const off of offs) off();
      this.#targets.delete(target);
      this.#reincarnationsSeen.delete(target);
    };
  }
}

/** A target for a process that only enqueues (a web server): counts its enqueues and reads its queue. */
export function clientTarget(client: Taskq): MetricsTarget {
  return {
    events: client.events,
    queue: client.config.cluster,
    stat: () => null,
    queueSize: () => client.queueSize(),
    lockSize: () => client.lockSize(),
  };
}
