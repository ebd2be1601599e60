import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { assertLeaseCoversTimeout } from '../config/config.js';
import { ErrorCodes, TaskqError, toErrorInfo } from '../errors.js';
import { TaskRegistry, toModuleUrl } from '../task/registry.js';
import { poll } from '../util/poll.js';
import { TaskFinisher } from './finisher.js';
import { LeaseKeeper } from './lease-keeper.js';
import { Monitor } from './monitor.js';
import { WorkerPool } from './pool.js';
import { Pusher } from './pusher.js';
import { ControlView } from '../control/control-view.js';
import { ProgressKeeper } from '../control/progress-keeper.js';
import type { Runtime } from './runtime.js';
import { statKey, type ClusterStat, type ClusterStatus } from '../stats/cluster-stat.js';

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** After the task deadline, how long a stop may still spend saving and acknowledging results. */
const STOP_FLUSH_GRACE_MS = 5000;

export interface ClusterOptions {
  /** Install SIGTERM/SIGINT handlers that stop the cluster gracefully (a second signal aborts). Default true. */
  handleSignals?: boolean;
}

export interface StopOptions {
  /** Give running tasks this long to finish (ms); then abort them (the broker redelivers). Default `stopTimeout`. */
  deadlineMs?: number;
}

/** A part the sentinel supervises: a long-running loop it restarts when it dies. */
export interface ClusterPart {
  readonly name: string;
  start(signal: AbortSignal): Promise<void>;
}

/**
 * The sentinel: starts the worker pool, the pusher loop, the monitor and any
 * extra parts (the scheduler), supervises them every guard cycle (restarting a
 * part that died), extends leases, publishes the stats heartbeat, and runs the
 * stop procedure: stop pulling → drain running and queued tasks → flush
 * results and acknowledgements → exit. Nothing acknowledged is lost and
 * nothing unacknowledged is dropped: the broker redelivers it.
 */
export class Cluster {
  readonly id = randomUUID().replaceAll('-', '');
  readonly host = hostname();
  readonly pid = process.pid;
  #status: ClusterStatus = 'Stopped';
  #startedAt = 0;
  #reincarnations = 0;
  #pool: WorkerPool | null = null;
  #monitor: Monitor | null = null;
  #pusher: Pusher | null = null;
  #leases: LeaseKeeper | null = null;
  #control: ControlView | null = null;
  #progress: ProgressKeeper | null = null;
  #pusherAbort = new AbortController();
  #partsAbort = new AbortController();
  /** Running loops by part name; a part missing here while its runner is registered has died. */
  #loops = new Map<string, Promise<void>>();
  readonly #runners = new Map<string, { run: (signal: AbortSignal) => Promise<void>; signal: AbortSignal }>();
  #guardTimer: NodeJS.Timeout | null = null;
  #stopping: Promise<void> | null = null;
  #abortStop: (() => void) | null = null;
  #signalHandler: ((signal: NodeJS.Signals) => void) | null = null;
  readonly #parts: ClusterPart[] = [];

  constructor(
    private readonly runtime: Runtime,
    private readonly options: ClusterOptions = {},
  ) {}

  get name(): string {
    return this.runtime.config.name;
  }

  get status(): ClusterStatus {
    return this.#status;
  }

  /** Adds a supervised part (e.g. the scheduler) before start. */
  addPart(part: ClusterPart): void {
    this.#parts.push(part);
  }

  async start(): Promise<void> {
    if (this.#status !== 'Stopped' || this.#stopping) {
      throw new TaskqError(
        ErrorCodes.CLUSTER_STATE,
        `Cluster ${this.id} is ${this.#status}; start() needs a stopped cluster.`,
      );
    }
    const { config, broker, store, events, logger } = this.runtime;
    this.#status = 'Starting';
    try {
      await broker.ping();
    } catch (error) {
      this.#status = 'Stopped';
      throw new TaskqError(
        ErrorCodes.BROKER_UNAVAILABLE,
        `Cannot reach the broker for queue "${broker.queue}" (${(error as Error).message}): check that it runs and that \`broker\` points at it.`,
        { cause: error },
      );
    }
    assertLeaseCoversTimeout(config, broker.capabilities.extendLease);
    // Import the task modules once here so a broken module is a start-up error, not a stream of task failures.
    await TaskRegistry.load(config.tasks).catch((error: unknown) => {
      this.#status = 'Stopped';
      throw error;
    });
    this.#startedAt = Date.now();
    const control = new ControlView(store, logger);
    this.#control = control;
    // Read the marks before the first claim: a paused queue claims nothing, a cancelled task never starts.
    await control.refresh();
    const progress = new ProgressKeeper(store, events, logger);
    this.#progress = progress;
    this.#pool = new WorkerPool({
      workers: config.workers,
      concurrency: config.concurrency,
      recycle: config.recycle,
      maxHeapMb: config.maxHeapMb,
      taskModules: config.tasks.map((t) => toModuleUrl(t)),
      serializer: config.serializer === null ? null : toModuleUrl(config.serializer),
      codec: this.runtime.codec.recipe,
      defaults: { timeoutMs: config.timeout === null ? null : config.timeout * 1000, cluster: config.cluster },
      execArgv: config.workerExecArgv,
      events,
      logger,
      onProgress: (update) => progress.update(update),
      cancels: {
        matches: (task) => control.isCancelled(task),
        cancelled: (task) => {
          logger.info('cancelling a running task', { id: task.id, name: task.name, func: task.func });
          events.emit('taskStopped', {
            taskId: task.id,
            name: task.name,
            func: task.func,
            reason: 'cancelled',
            running: true,
          });
        },
      },
    });
    const pool = this.#pool;
    // The threads import the modules too (their own loader): one that cannot stops the start the same way.
    await pool.ready().catch(async (error: unknown) => {
      this.#pool = null;
      this.#status = 'Stopped';
      await pool.destroy();
      throw error;
    });
    this.#leases = new LeaseKeeper(broker, config.retry, logger, config.leaseExtension);
    const finisher = new TaskFinisher(this.runtime, (func, record, trace) =>
      pool.runHook(trace === undefined ? { kind: 'hook', func, record } : { kind: 'hook', func, record, trace }),
    );
    const prune = config.saveLimit > 0 ? () => store.prune({ keep: config.saveLimit, per: config.saveLimitPer }) : null;
    this.#monitor = new Monitor(finisher, broker, this.#leases, logger, prune);
    this.#pusher = new Pusher(this.runtime, pool, this.#monitor, this.#leases, { view: control, progress, finisher });
    const pusher = this.#pusher;
    this.#monitor.onSaved = () => pusher.notifySpace();
    this.#pusherAbort = new AbortController();
    this.#partsAbort = new AbortController();
    this.#startLoop('pusher', (signal) => (this.#pusher as Pusher).run(signal), this.#pusherAbort.signal);
    for (const part of this.#parts) this.#startLoop(part.name, (signal) => part.start(signal), this.#partsAbort.signal);
    this.#guardTimer = setInterval(() => void this.#guard(), config.guardCycle * 1000);
    this.#status = 'Idle';
    if (this.options.handleSignals ?? true) this.#installSignalHandlers();
    await this.#publishStat();
    logger.info(`cluster ${this.name} started`, {
      id: this.id,
      queue: broker.queue,
      workers: config.workers,
      concurrency: config.concurrency,
    });
    events.emit('clusterStart', { clusterId: this.id, name: this.name });
  }

  /**
   * Graceful stop: stop pulling, let workers finish what is queued and running,
   * flush results and acknowledgements. Past the deadline, remaining tasks are
   * aborted unacknowledged (the broker redelivers them).
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.#stopping ??= this.#stop(options.deadlineMs ?? this.runtime.config.stopTimeout * 1000);
    return this.#stopping;
  }

  async #stop(deadlineMs: number): Promise<void> {
    if (this.#status === 'Stopped') return;
    const { logger, events } = this.runtime;
    this.#status = 'Stopping';
    logger.info(`cluster ${this.name} stopping`, { id: this.id });
    // One hard limit bounds the whole stop, whatever the broker and store do: the deadline for running tasks
    // plus a short grace to flush results. A second signal (abortStop) ends it at once. What is left
    // unacknowledged then is delivered again by the broker.
    const hardLimit = new Promise<'hard'>((resolve) => {
      const timer = setTimeout(() => resolve('hard'), deadlineMs + STOP_FLUSH_GRACE_MS).unref();
      this.#abortStop = () => {
        clearTimeout(timer);
        resolve('hard');
      };
    });
    const within = <T>(work: Promise<T>) => Promise.race([work, hardLimit]);
    this.#partsAbort.abort();
    this.#pusherAbort.abort();
    const pool = this.#pool as WorkerPool;
    const monitor = this.#monitor as Monitor;
    // The loops and the running tasks share the task deadline: a pusher stuck in a dequeue that never answers
    // must not keep the pool from draining.
    const taskDeadline = Date.now() + deadlineMs;
    await within(Promise.race([Promise.allSettled(this.#loops.values()), delay(deadlineMs)]));
    const drained =
      (await within(poll(async () => (pool.size === 0 ? true : null), Math.max(0, taskDeadline - Date.now())))) ===
      true;
    if (!drained) {
      logger.warn('stop deadline passed: aborting remaining tasks; the broker will redeliver them', {
        tasks: pool.size,
      });
      await pool.destroy();
    }
    const hard = (await within(monitor.drain())) === 'hard';
    if (hard) {
      const unsaved = monitor.abandon();
      logger.warn('stop limit passed before every result was saved and acknowledged; the broker redelivers those', {
        unsaved,
      });
    }
    if (this.#guardTimer) clearInterval(this.#guardTimer);
    this.#guardTimer = null;
    this.#progress?.close();
    if (drained) await within(pool.close());
    this.#status = 'Stopped';
    if (!hard) await within(this.#publishStat());
    this.#abortStop = null;
    this.#removeSignalHandlers();
    logger.info(`cluster ${this.name} stopped`, { id: this.id, processed: monitor.processed, failed: monitor.failed });
    events.emit('clusterStop', { clusterId: this.id, name: this.name });
  }

  /** Ends a stop in progress at once (the second SIGTERM/SIGINT): running tasks are aborted, nothing more is flushed. */
  abortStop(): void {
    void this.#pool?.destroy();
    this.#abortStop?.();
  }

  /** The heartbeat this cluster publishes (Django Q's Stat). */
  stat(): ClusterStat {
    const { config, broker } = this.runtime;
    const pool = this.#pool;
    const memory = process.memoryUsage();
    const running = pool?.running ?? 0;
    const taskQueueSize = pool?.waiting ?? 0;
    const resultQueueSize = this.#monitor?.size ?? 0;
    let status = this.#status;
    if (status === 'Idle' || status === 'Working')
      status = running + taskQueueSize + resultQueueSize > 0 ? 'Working' : 'Idle';
    return {
      clusterId: this.id,
      name: config.name,
      queue: broker.queue,
      host: this.host,
      pid: this.pid,
      status,
      workers: config.workers,
      concurrency: config.concurrency,
      taskQueueSize,
      resultQueueSize,
      running,
      reincarnations: this.#reincarnations + (pool?.replacedThreads ?? 0),
      processed: this.#monitor?.processed ?? 0,
      failed: this.#monitor?.failed ?? 0,
      rejected: this.#pusher?.rejected ?? 0,
      replayed: this.#pusher?.replayed ?? 0,
      startedAt: this.#startedAt,
      updatedAt: Date.now(),
      brokerUnreachableSince: this.#pusher?.outageSince ?? null,
      paused: this.#pusher?.paused ?? false,
      memory: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, threads: pool?.threadMemory() ?? [] },
    };
  }

  #startLoop(name: string, run: (signal: AbortSignal) => Promise<void>, signal: AbortSignal): void {
    const loop = Promise.resolve()
      .then(() => run(signal))
      .catch((error: unknown) => {
        this.runtime.logger.error(`${name} died`, { error: (error as Error)?.message });
        this.runtime.events.emit('reincarnation', { part: name, error: toErrorInfo(error) });
      })
      .finally(() => {
        if (this.#loops.get(name) === loop) this.#loops.delete(name);
      });
    this.#loops.set(name, loop);
    this.#runners.set(name, { run, signal });
  }

  /** One guard cycle: reincarnate dead parts, keep leases, publish the heartbeat. */
  async #guard(): Promise<void> {
    if (this.#status === 'Stopped') return;
    for (const [name, { run, signal }] of this.#runners) {
      if (!this.#loops.has(name) && !signal.aborted) {
        this.#reincarnations++;
        this.runtime.logger.error(`reincarnated ${name} after sudden death`, { cluster: this.id });
        this.#startLoop(name, run, signal);
      }
    }
    await this.#leases?.tick();
    await this.#applyControl();
    await this.#publishStat();
  }

  /** Reads the cancel and pause marks (one store call) and cancels the tasks in the pool they name. */
  async #applyControl(): Promise<void> {
    const control = this.#control;
    const pool = this.#pool;
    if (control === null || pool === null) return;
    await control.refresh();
    if (control.hasCancels) pool.applyCancels();
  }

  async #publishStat(): Promise<void> {
    const sink = this.runtime.stats;
    if (!sink) return;
    const ttl = Math.max(3, this.runtime.config.guardCycle * 6);
    try {
      await sink.setStat(statKey(this.id), this.stat(), ttl);
    } catch (error) {
      this.runtime.logger.debug('could not publish cluster stats', { error: (error as Error).message });
    }
  }

  #installSignalHandlers(): void {
    this.#signalHandler = (signal) => {
      if (this.#stopping) {
        this.runtime.logger.warn(`second ${signal}: aborting running tasks and stopping now`);
        this.abortStop();
        return;
      }
      this.runtime.logger.info(`received ${signal}: stopping gracefully (send it again to abort)`);
      void this.stop();
    };
    process.on('SIGTERM', this.#signalHandler);
    process.on('SIGINT', this.#signalHandler);
  }

  #removeSignalHandlers(): void {
    if (!this.#signalHandler) return;
    process.off('SIGTERM', this.#signalHandler);
    process.off('SIGINT', this.#signalHandler);
    this.#signalHandler = null;
  }
}
