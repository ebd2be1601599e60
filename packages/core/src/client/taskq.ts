import { assertKeyedLimit, limitFor, type EnqueueOptions, type KeyedLimit } from '../broker/broker.js';
import { Cluster, type ClusterOptions } from '../cluster/cluster.js';
import { iterGroup, iterSubTaskId } from '../cluster/finisher.js';
import type { Runtime } from '../cluster/runtime.js';
import { resolveConfig, type ResolvedConfig, type TaskqOptions } from '../config/config.js';
import { ErrorCodes, TaskqError } from '../errors.js';
import { TaskqEmitter, eventChannelOf, type TaskFinishedEvent, type TaskqEvents } from '../events.js';
import { newTaskId, humanize } from '../task/ids.js';
import { buildTaskMessage } from '../task/message.js';
import { assertOptionValues } from '../task/option-values.js';
import { taskNameOf, type AnyFunction, type TaskRef } from '../task/task-ref.js';
import { LINK_OPTION_KEYS, assertTaskOptions } from '../task/task-options.js';
import { TaskRegistry } from '../task/registry.js';
import type {
  ChainLink,
  DedupMode,
  LinkOptions,
  RetryPolicy,
  TaskMessage,
  TaskMeta,
  TaskRecord,
  TaskResult,
} from '../task/task.js';
import { fanInCallbackId, fanInMemberId, type FanInFailurePolicy, type FanInSpec } from '../control/fan-in.js';
import { controlKeys, FANIN_TTL_MS } from '../control/keys.js';
import {
  cancelGroup,
  cancelTask,
  claimDedupKey,
  pauseQueue,
  pausedQueues,
  releaseDedupKeys,
  requireControl,
  resumeQueue,
  taskProgress,
} from './job-control.js';
import {
  listDeadLetters,
  redriveDeadLetters,
  type DeadLetterPage,
  type DeadLetterQuery,
  type Redriven,
} from './dead-letters.js';
import { toTaskResult } from '../task/task-result.js';
import { createSchedulerPart, runtimeEnqueue, scheduleStoreOf } from '../scheduler/cluster-part.js';
import { bindScheduleApi, type ScheduleApi } from '../scheduler/schedule-api.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { Schedule } from '../store/schedule-store.js';
import type { ScheduleInput } from '../scheduler/schedules.js';
import { startMetricsEndpoint, type MetricsEndpoint, type MetricsTarget } from '../observability/metrics.js';
import { loadErrorReporters } from '../observability/reporters.js';
import { endEnqueueSpans, startEnqueueSpans } from '../observability/tracing.js';
import type { ErrorReporter } from '../reporter.js';
import { createRuntime } from './create-runtime.js';
import { SyncRunner } from './sync-runner.js';
import { TaskEventBridge } from './task-events.js';
import { poll } from '../util/poll.js';

/** Options for one task (Django Q's q_options), plus what Node queues offer. */
export interface TaskOptions extends LinkOptions {
  /** Run inline in the caller (tests); the task's exception propagates. */
  sync?: boolean;
  /** Send to another queue (django-q2 `cluster`): clusters started with that `cluster` name run it. */
  cluster?: string;
  /** Deliver no earlier than this many ms from now (brokers with the `delay` capability). */
  delay?: number;
  /** Deliver no earlier than this time. */
  runAt?: Date;
  retry?: RetryPolicy;
  /**
   * Idempotent enqueue: while a task enqueued with this key is waiting or running, enqueueing another with the
   * same key returns the existing task's id and enqueues nothing (atomic across processes). See `dedup`.
   */
  dedupKey?: string;
  /**
   * How long the key holds: `'active'` (default) until the task is done for good, `'queued'` until it starts,
   * `{ ttlMs }` for that long after this enqueue whatever the task does.
   */
  dedup?: DedupMode;
  /** A task not started within this many ms never runs: it is saved as expired (TASKQ_TASK_EXPIRED). */
  expiresIn?: number;
  /** A task not started by this time never runs: it is saved as expired (TASKQ_TASK_EXPIRED). */
  expiresAt?: Date;
  /**
   * Per-key limits (brokers with the `keyedLimits` capability: memory, Redis, PostgreSQL): at most `concurrency`
   * of the key's tasks running and at most `rate.max` started per `rate.perMs`, across every cluster. Over the
   * limit a task waits; keys take turns. Default: the `limits` option for this task name, else for `'*'`.
   */
  limit?: KeyedLimit;
  /**
   * Your open transaction on the broker's database (brokers with the `transactionalEnqueue` capability: @taskq/orm
   * takes a Kysely transaction, a `pg` client or a `mysql2` connection inside a transaction): the task exists if
   * and only if the transaction commits. Other brokers refuse it with TASKQ_UNSUPPORTED.
   */
  transaction?: unknown;
}

/** One member of a fan-in group: `q.group([...members], { then })`. */
export interface GroupMember {
  task: TaskInput;
  args?: unknown[];
  options?: LinkOptions;
}

export interface FanInOptions {
  /** The callback: runs once after every member is done, called as `then(results, ...args)`. */
  then: ChainStep;
  /**
   * A member that failed for good (or was cancelled or expired): `'run'` (default) calls the callback anyway,
   * that member's slot holding `{ failed: true, id, code, message }`; `'skip'` does not run it and saves it as
   * failed with TASKQ_GROUP_MEMBER_FAILED.
   */
  onFailure?: FanInFailurePolicy;
  /** The group label the members are saved under (default: the group's id). */
  group?: string;
  /** The queue for the members and the callback. */
  cluster?: string;
}

export interface FanInGroup {
  /** The fan-in group's id. */
  id: string;
  /** The group label members are saved under (`fetchGroup`, `cancelGroup`). */
  group: string;
  /** Member task ids, in input order. */
  ids: string[];
  /** The callback's task id: `q.result(callbackId, { wait })` waits for the whole group. */
  callbackId: string;
}

export type TaskInput<F extends AnyFunction = AnyFunction> = string | TaskRef<F>;

/**
 * A task id (a plain string at run time) that remembers its task's result type: `enqueue(taskRef, …)` returns
 * one, so `q.result(id)` and `q.fetch(id)` are typed without naming the type again.
 */
export type TaskId<R = unknown> = string & { readonly __result?: R };

/** While a `fetch` waits on an event channel, the store is still re-checked this often (pub/sub is best effort). */
const EVENT_WAIT_RECHECK_MS = 1000;

export interface BulkItem {
  task: TaskInput;
  args?: unknown[];
  options?: TaskOptions;
}

export interface WaitOptions {
  /** ms: 0 checks once (default), n waits up to n ms, -1 waits forever. */
  wait?: number;
}

export interface GroupOptions extends WaitOptions {
  /** Include failures (default false for results, true for fetchGroup). */
  failures?: boolean;
  /** Wait until the group holds this many records. */
  count?: number;
}

export interface ChainStep {
  task: TaskInput;
  args?: unknown[];
  options?: LinkOptions;
}

/**
 * The taskq client: enqueue tasks, read results, compose chains and iters,
 * and create clusters. One instance per process is typical.
 */
export class Taskq {
  readonly config: ResolvedConfig;
  readonly events = new TaskqEmitter();
  #runtime: Promise<Runtime> | null = null;
  #sync: SyncRunner | null = null;
  #closed = false;
  /** Schedulers of clusters started in this process, woken when this client changes a schedule. */
  readonly #schedulers = new Set<Scheduler>();
  readonly #clusters = new Set<ClusterHandle>();
  /** Reporters created from names in `errorReporters`: closed (flushed) with the client. */
  #ownedReporters: ErrorReporter[] = [];

  /** Create, list, update, pause, resume, delete and run schedules (see docs/scheduling.md). */
  readonly schedules: ScheduleApi;

  constructor(options: TaskqOptions = {}) {
    this.config = resolveConfig(options);
    this.schedules = bindScheduleApi(async () => {
      const runtime = await this.runtime();
      return {
        store: scheduleStoreOf(runtime.store),
        serializer: runtime.serializer,
        timezone: this.config.timezone,
        taskNames: await this.#taskNames(),
        enqueue: runtimeEnqueue(runtime),
        onChange: () => this.#schedulers.forEach((scheduler) => scheduler.wake()),
      };
    });
  }

  /** Django Q's `schedule()`: store a schedule for a task (type Once unless given). A TaskRef types `args`. */
  schedule<F extends AnyFunction>(
    task: TaskRef<F>,
    args: Parameters<F>,
    options?: Omit<ScheduleInput, 'func' | 'args'>,
  ): Promise<Schedule>;
  schedule(task: string, args?: unknown[], options?: Omit<ScheduleInput, 'func' | 'args'>): Promise<Schedule>;
  schedule(
    task: TaskInput,
    args: unknown[] = [],
    options: Omit<ScheduleInput, 'func' | 'args'> = {},
  ): Promise<Schedule> {
    return this.schedules.create({ ...options, func: taskNameOf(task), args });
  }

  #taskNamesLoad: Promise<string[] | null> | null = null;

  /** The configured tasks' names (imported once), or null when this process has no `tasks` or they do not load. */
  #taskNames(): Promise<string[] | null> {
    if (this.config.tasks.length === 0) return Promise.resolve(null);
    this.#taskNamesLoad ??= TaskRegistry.load(this.config.tasks).then(
      (registry) => registry.names(),
      () => null,
    );
    return this.#taskNamesLoad;
  }

  /** @internal Registers a running cluster's scheduler so local schedule changes wake it. */
  trackScheduler(scheduler: Scheduler): () => void {
    this.#schedulers.add(scheduler);
    return () => this.#schedulers.delete(scheduler);
  }

  /**
   * Connects the broker and store and checks that both answer (done lazily by the first call; call it to fail
   * fast). Rejects with TASKQ_BROKER_UNAVAILABLE / TASKQ_STORE_UNAVAILABLE within `brokerTimeout`.
   */
  runtime(): Promise<Runtime> {
    if (this.#closed) return Promise.reject(new TaskqError(ErrorCodes.CLUSTER_STATE, 'This Taskq instance is closed.'));
    this.#runtime ??= this.#connect().catch((error: unknown) => {
      this.#runtime = null;
      throw error;
    });
    return this.#runtime;
  }

  async #connect(): Promise<Runtime> {
    // Reporters load first: a missing @taskq/<name> package fails before any connection is opened.
    const { reporters, owned } = await loadErrorReporters(this.config.errorReporters);
    const runtime = await createRuntime(this.config, this.events);
    try {
      // Configured limits on a broker that cannot enforce them: refuse now rather than fail every enqueue later.
      if (Object.keys(this.config.limits).length > 0 && runtime.broker.capabilities.keyedLimits !== true) {
        throw new TaskqError(
          ErrorCodes.UNSUPPORTED,
          `The \`limits\` option needs a broker that enforces keyed limits (capability \`keyedLimits\`: memory, Redis, ` +
            `PostgreSQL); the broker for queue "${runtime.broker.queue}" does not. Remove \`limits\` or change \`broker\`.`,
        );
      }
      // Sync mode runs tasks inline: it needs the store, not the broker.
      await Promise.all([this.config.sync ? null : runtime.broker.ping(), runtime.store.ping()]);
    } catch (error) {
      await runtime.close().catch(() => undefined);
      throw error;
    }
    this.#ownedReporters = owned;
    // Assigned, not spread: the runtime object keeps its identity and any accessors.
    return reporters.length === 0 ? runtime : Object.assign(runtime, { reporters });
  }

  /**
   * Listens to an event. `taskFinished` and `taskFailed` come from every process sharing the broker (through
   * its event channel, or by polling the store where it has none): the first such listener starts that.
   */
  on<K extends keyof TaskqEvents>(event: K, listener: (...args: TaskqEvents[K]) => void): () => void {
    const off = this.events.on(event, listener);
    if (event === 'taskFinished' || event === 'taskFailed') {
      this.#eventBridge().catch((error: unknown) =>
        this.events.emit('error', error instanceof Error ? error : new Error(String(error))),
      );
    }
    return off;
  }

  #bridge: Promise<TaskEventBridge> | null = null;

  /**
   * Resolves once `taskFinished`/`taskFailed` from other processes flow to this client (the broker's event
   * channel is subscribed, or the store is being polled): await it before enqueueing when no event may be missed.
   */
  async eventsReady(): Promise<void> {
    await this.#eventBridge();
  }

  /** The bridge that brings other processes' finished tasks here; started once, on first use. */
  #eventBridge(): Promise<TaskEventBridge> {
    this.#bridge ??= (async () => {
      const bridge = new TaskEventBridge(await this.runtime(), this.events);
      await bridge.start();
      return bridge;
    })().catch((error: unknown) => {
      this.#bridge = null;
      throw error;
    });
    return this.#bridge;
  }

  /** Queues one task and returns its id (32 hex). Its name is `humanize(id)` unless `taskName` is given. */
  async enqueue<F extends AnyFunction>(
    task: TaskRef<F>,
    args: Parameters<F>,
    options?: TaskOptions,
  ): Promise<TaskId<Awaited<ReturnType<F>>>>;
  async enqueue(task: string, args?: unknown[], options?: TaskOptions): Promise<string>;
  async enqueue(task: TaskInput, args: unknown[] = [], options: TaskOptions = {}): Promise<string> {
    const message = this.#message(task, args, options);
    const [id] = await this.#dispatch([{ message, options }]);
    return id as string;
  }

  /** Queues many tasks in as few broker round trips as the broker allows. Returns their ids in order. */
  async enqueueMany(items: readonly BulkItem[]): Promise<string[]> {
    const prepared = items.map((item) => ({
      message: this.#message(item.task, item.args ?? [], item.options ?? {}),
      options: item.options ?? {},
    }));
    return this.#dispatch(prepared);
  }

  /** The task's return value, or undefined while it has no successful result. Falsy values are results. */
  async result<R = unknown>(idOrName: TaskId<R> | string, options: WaitOptions = {}): Promise<R | undefined> {
    const record = await this.fetch<R>(idOrName, options);
    return record?.success ? record.result : undefined;
  }

  /**
   * The full task record (success or failure), or null. Waiting (`wait`) wakes on the broker's `taskFinished`
   * event where the broker has an event channel, instead of polling the store.
   */
  async fetch<R = unknown>(idOrName: TaskId<R> | string, options: WaitOptions = {}): Promise<TaskResult<R> | null> {
    const runtime = await this.runtime();
    const wait = options.wait ?? 0;
    const bridge =
      wait !== 0 && eventChannelOf(runtime.broker, runtime.store) ? await this.#eventBridge().catch(() => null) : null;
    const record = bridge
      ? await this.#waitForRecord(runtime, bridge, idOrName, wait)
      : await poll(() => runtime.store.get(idOrName), wait);
    return record ? toTaskResult<R>(record, runtime.serializer) : null;
  }

  /** Checks the store, then sleeps until an event names the task (or a slow re-check, or the deadline). */
  async #waitForRecord(runtime: Runtime, bridge: TaskEventBridge, idOrName: string, wait: number) {
    const forever = wait < 0 || wait === Number.POSITIVE_INFINITY;
    const deadline = Date.now() + Math.max(0, wait);
    let woken = false;
    let wake = () => {};
    const off = bridge.onEvent((event: TaskFinishedEvent) => {
      if (event.id !== idOrName && event.name !== idOrName) return;
      woken = true;
      wake();
    });
    try {
      for (;;) {
        const record = await runtime.store.get(idOrName);
        if (record) return record;
        const remaining = forever ? EVENT_WAIT_RECHECK_MS : deadline - Date.now();
        if (remaining <= 0) return null;
        if (!woken) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Math.min(EVENT_WAIT_RECHECK_MS, remaining));
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
        // Woken while reading or sleeping: read again.
        woken = false;
      }
    } finally {
      off();
    }
  }

  /** Results of a group's successful tasks (with failures: all), in the order they finished. */
  async resultGroup<R = unknown>(group: string, options: GroupOptions = {}): Promise<(R | undefined)[]> {
    const records = await this.fetchGroup<R>(group, { failures: false, ...options });
    return records.map((r) => r.result);
  }

  async fetchGroup<R = unknown>(group: string, options: GroupOptions = {}): Promise<TaskResult<R>[]> {
    const runtime = await this.runtime();
    if (options.count !== undefined) {
      const count = options.count;
      await poll(async () => ((await runtime.store.countGroup(group)) >= count ? true : null), options.wait ?? -1);
    }
    const records = await runtime.store.getGroup(group, { failures: options.failures ?? true });
    return records.map((r) => toTaskResult<R>(r, runtime.serializer));
  }

  /** With failures=false every record of the group, with true only failures (Django Q's count_group). */
  async countGroup(group: string, options: { failures?: boolean } = {}): Promise<number> {
    return (await this.runtime()).store.countGroup(group, options);
  }

  /** Clears the group label from its records, or deletes them with `tasks: true`. */
  async deleteGroup(group: string, options: { tasks?: boolean } = {}): Promise<number> {
    return (await this.runtime()).store.deleteGroup(group, options);
  }

  /** Tasks waiting on the broker (not counting delivered, unacknowledged ones). */
  async queueSize(options: { cluster?: string } = {}): Promise<number> {
    const runtime = await this.runtime();
    return (await runtime.brokerFor(options.cluster ?? this.config.cluster)).queueSize();
  }

  /** Delivered but unacknowledged tasks. */
  async lockSize(options: { cluster?: string } = {}): Promise<number> {
    const runtime = await this.runtime();
    return (await runtime.brokerFor(options.cluster ?? this.config.cluster)).lockSize();
  }

  /**
   * Runs tasks one after another in a group (Django Q's async_chain): the
   * monitor enqueues each next link when the previous one is done. Returns the group.
   */
  async chain(
    steps: readonly ChainStep[],
    options: { group?: string; cluster?: string; sync?: boolean } = {},
  ): Promise<string> {
    const [first, ...rest] = steps;
    if (first === undefined) throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, 'chain() needs at least one step.');
    const group = options.group ?? newTaskId();
    for (const step of steps) {
      assertTaskOptions(step.options ?? {}, LINK_OPTION_KEYS);
      // Later links are built by the monitor when their turn comes: check their values now, at enqueue.
      assertOptionValues((step.options ?? {}) as Record<string, unknown>);
    }
    const links: ChainLink[] = rest.map((step) => {
      const link: ChainLink = { func: taskNameOf(step.task), args: step.args ?? [] };
      if (step.options) link.options = step.options;
      return link;
    });
    const message = buildTaskMessage({
      func: taskNameOf(first.task),
      args: first.args ?? [],
      options: first.options ?? {},
      group,
      chain: links,
      ...(options.cluster === undefined ? {} : { cluster: options.cluster }),
    });
    await this.#dispatch([{ message, options: options.sync === undefined ? {} : { sync: options.sync } }]);
    return group;
  }

  /**
   * Runs `task` once per argument list and collates the results into one
   * record under the returned id, in input order (Django Q's async_iter).
   */
  async iter(task: TaskInput, argsList: readonly unknown[], options: TaskOptions = {}): Promise<string> {
    if (argsList.length === 0)
      throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, 'iter() needs at least one argument list.');
    const id = newTaskId();
    const name = options.taskName ?? humanize(id);
    const { hook: _hook, ...rest } = options; // hooks are per task; an iter has none (as in Django Q)
    const prepared = argsList.map((args, index) => {
      const message = this.#message(task, Array.isArray(args) ? args : [args], {
        ...rest,
        taskName: `${name}#${index}`,
        group: iterGroup(id),
      });
      message.id = iterSubTaskId(id, index);
      message.iter = {
        id,
        index,
        count: argsList.length,
        ...(options.cached === undefined ? {} : { cached: options.cached }),
      };
      return { message, options: rest };
    });
    await this.#dispatch(prepared);
    return id;
  }

  /**
   * Cancels a task by id or name: a waiting task never runs, a running one — on any cluster — has its
   * `AbortSignal` fired within a guard cycle and its thread terminated if it does not stop (like a timeout).
   * It is saved as cancelled (TASKQ_TASK_CANCELLED), its hook runs, it is not retried and its chain stops.
   * Resolves false when the task (by id) already finished for good.
   */
  async cancel(idOrName: string): Promise<boolean> {
    return cancelTask(await this.runtime(), idOrName);
  }

  /** Cancels every task of the group enqueued so far, waiting or running, on any cluster. */
  async cancelGroup(group: string): Promise<void> {
    await cancelGroup(await this.runtime(), group);
  }

  /**
   * Pauses a queue (default: this client's `cluster`) on every cluster that serves it: they stop claiming
   * within a guard cycle, running tasks finish, enqueueing still works.
   */
  async pauseQueue(queue: string = this.config.cluster): Promise<void> {
    await pauseQueue(await this.runtime(), queue);
  }

  /** Resumes a paused queue; false when it was not paused. */
  async resumeQueue(queue: string = this.config.cluster): Promise<boolean> {
    return resumeQueue(await this.runtime(), queue);
  }

  /** The paused queues and since when. */
  async pausedQueues(): Promise<{ queue: string; since: Date }[]> {
    return pausedQueues(await this.runtime());
  }

  /** A task's `progress()` value and `log()` lines: live while it runs, from its record after. Null when none. */
  async progress(id: string): Promise<TaskMeta | null> {
    return taskProgress(await this.runtime(), id);
  }

  /** Failed tasks with no attempt left (not yet redriven), newest first, by func, error code and time. */
  async deadLetters<R = unknown>(
    query: DeadLetterQuery = {},
  ): Promise<{ records: TaskResult<R>[]; nextCursor: string | null }> {
    const runtime = await this.runtime();
    const page: DeadLetterPage = await listDeadLetters(runtime, query);
    return { records: page.records.map((r) => toTaskResult<R>(r, runtime.serializer)), nextCursor: page.nextCursor };
  }

  /**
   * Enqueues dead letters again — by ids, or every one a query matches (up to `max`, default 10,000) — as new
   * tasks linked to their originals (`meta.redrivenFrom`). Each dead letter is redriven at most once.
   */
  async redrive(target: readonly string[] | DeadLetterQuery, options: { max?: number } = {}): Promise<Redriven[]> {
    return redriveDeadLetters(await this.runtime(), target, options);
  }

  /**
   * Fan-in (Celery's chord): runs the members in parallel and, once every one is done for good, the `then`
   * callback exactly once with their results in input order (`then(results, ...args)`), wherever they ran.
   * Members are always saved (the callback reads their results from the store).
   */
  async group(members: readonly GroupMember[], options: FanInOptions): Promise<FanInGroup> {
    if (members.length === 0) throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, 'group() needs at least one member.');
    if (options?.then === undefined) {
      throw new TaskqError(
        ErrorCodes.INVALID_ARGUMENT,
        'group() needs `then`, the callback that receives the results (use enqueueMany with a `group` option otherwise).',
      );
    }
    const onFailure = options.onFailure ?? 'run';
    if (onFailure !== 'run' && onFailure !== 'skip') {
      throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, "group() `onFailure` must be 'run' or 'skip'.");
    }
    assertTaskOptions(options.then.options ?? {}, LINK_OPTION_KEYS);
    assertOptionValues((options.then.options ?? {}) as Record<string, unknown>);
    const runtime = await this.runtime();
    requireControl(runtime.store, 'group() with `then`');
    const id = newTaskId();
    const group = options.group ?? id;
    const prepared = members.map((member, index) => {
      assertTaskOptions(member.options ?? {}, LINK_OPTION_KEYS);
      const memberOptions: TaskOptions = { ...member.options, group, save: true };
      if (options.cluster !== undefined) memberOptions.cluster = options.cluster;
      const message = this.#message(member.task, member.args ?? [], memberOptions);
      message.id = fanInMemberId(id, index);
      message.fanIn = { id, index, count: members.length };
      return { message, options: memberOptions };
    });
    const then: ChainLink = { func: taskNameOf(options.then.task), args: options.then.args ?? [] };
    if (options.then.options !== undefined) then.options = options.then.options;
    const spec: FanInSpec = {
      count: members.length,
      then,
      onFailure,
      group,
      callbackId: fanInCallbackId(id),
      ...(options.cluster === undefined ? {} : { cluster: options.cluster }),
    };
    // The spec is stored before any member can finish and look for it.
    await runtime.store.setValue(controlKeys.fanInSpec(id), JSON.stringify(spec), FANIN_TTL_MS);
    await this.#dispatch(prepared);
    return { id, group, ids: prepared.map((p) => p.message.id), callbackId: spec.callbackId };
  }

  /** A cluster that runs this client's tasks; `start()` it. */
  cluster(options: ClusterOptions = {}): ClusterHandle {
    const handle = new ClusterHandle(this, options);
    this.#clusters.add(handle);
    return handle;
  }

  /** Stops the clusters started from this client (gracefully), then closes the connections it opened. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await Promise.all([...this.#clusters].map((cluster) => cluster.stop()));
    this.#closed = true;
    await (await this.#bridge?.catch(() => null))?.close();
    const runtime = await this.#runtime?.catch(() => null);
    await runtime?.close();
    await Promise.all(this.#ownedReporters.map((reporter) => reporter.close?.().catch(() => undefined)));
  }

  #message(task: TaskInput, args: unknown[], options: TaskOptions): TaskMessage {
    if (!Array.isArray(args)) {
      throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, 'Task arguments are an array: enqueue("add", [1, 2]).');
    }
    const func = taskNameOf(task);
    if (typeof func !== 'string' || func === '') {
      throw new TaskqError(ErrorCodes.INVALID_ARGUMENT, 'enqueue() needs a task name or a taskRef.');
    }
    assertTaskOptions(options);
    const parts: Parameters<typeof buildTaskMessage>[0] = { func, args, options };
    if (options.cluster !== undefined) parts.cluster = options.cluster;
    const message = buildTaskMessage(parts);
    if (options.dedupKey !== undefined) message.dedup = { key: options.dedupKey, mode: options.dedup ?? 'active' };
    if (options.expiresAt !== undefined) message.expiresAt = options.expiresAt.getTime();
    if (options.expiresIn !== undefined) message.expiresAt = Date.now() + options.expiresIn;
    if (options.limit !== undefined) {
      assertKeyedLimit(options.limit);
      message.limit = options.limit;
    }
    return message;
  }

  /**
   * Sends the messages and returns each one's id: its own, or — for a message whose dedup key another waiting
   * or running task holds — that task's id (and the message is not sent).
   */
  async #dispatch(items: readonly { message: TaskMessage; options: TaskOptions }[]): Promise<string[]> {
    const runtime = await this.runtime();
    const ids = items.map((i) => i.message.id);
    let toSend = items;
    const claimed: TaskMessage[] = [];
    if (items.some((i) => i.message.dedup !== undefined)) {
      requireControl(runtime.store, 'dedupKey');
      const kept: (typeof items)[number][] = [];
      for (const [index, item] of items.entries()) {
        const holder = item.message.dedup === undefined ? null : await claimDedupKey(runtime, item.message);
        if (holder !== null) {
          ids[index] = holder;
          continue;
        }
        if (item.message.dedup !== undefined) claimed.push(item.message);
        kept.push(item);
      }
      toSend = kept;
    }
    for (const { message } of toSend) runtime.events.emit('preEnqueue', message);
    // With an active OpenTelemetry trace each message carries its context; without one this is a no-op.
    const spans = startEnqueueSpans(
      toSend.map((i) => i.message),
      this.config.cluster,
    );
    const sending = this.#send(runtime, toSend).catch(async (error: unknown) => {
      // Not sent: free the keys so a retry of this enqueue is not answered with an id that never existed.
      if (claimed.length > 0) await releaseDedupKeys(runtime, claimed);
      throw error;
    });
    await (spans === null ? sending : endEnqueueSpans(spans, sending));
    return ids;
  }

  async #send(runtime: Runtime, items: readonly { message: TaskMessage; options: TaskOptions }[]): Promise<void> {
    const syncItems = items.filter((i) => i.options.sync ?? this.config.sync);
    if (syncItems.length > 0) {
      this.#sync ??= new SyncRunner(runtime);
      for (const { message } of syncItems) await this.#sync.run(message);
    }
    const byQueue = new Map<string, { payload: string; options: EnqueueOptions }[]>();
    for (const { message, options } of items) {
      if (options.sync ?? this.config.sync) continue;
      const queue = message.cluster ?? this.config.cluster;
      const delayMs = options.runAt ? options.runAt.getTime() - Date.now() : (options.delay ?? 0);
      const enqueueOptions: EnqueueOptions = {};
      if (delayMs > 0) enqueueOptions.delayMs = delayMs;
      if (options.transaction !== undefined) enqueueOptions.transaction = options.transaction;
      const limit = limitFor(this.config.limits, message, queue);
      if (limit !== undefined) enqueueOptions.limit = limit;
      if (message.priority !== undefined) enqueueOptions.priority = message.priority;
      const list = byQueue.get(queue) ?? [];
      list.push({ payload: runtime.codec.pack(message), options: enqueueOptions });
      byQueue.set(queue, list);
    }
    for (const [queue, list] of byQueue) {
      const broker = await runtime.brokerFor(queue);
      if (list.length === 1) await broker.enqueue(list[0]!.payload, list[0]!.options);
      else await broker.enqueueMany(list);
    }
  }
}

/** A cluster bound to a client; the runtime connects on `start()`. */
export class ClusterHandle {
  #cluster: Cluster | null = null;
  #metrics: MetricsEndpoint | null = null;

  constructor(
    private readonly client: Taskq,
    private readonly options: ClusterOptions,
  ) {}

  get id(): string | undefined {
    return this.#cluster?.id;
  }

  get status() {
    return this.#cluster?.status ?? 'Stopped';
  }

  /** Where this cluster serves Prometheus metrics (`metrics` option), or null. */
  get metricsUrl(): string | null {
    return this.#metrics?.url ?? null;
  }

  /** What a metrics exporter reads from this cluster (see @taskq/prometheus `attach`). */
  metricsTarget(): MetricsTarget {
    return {
      events: this.client.events,
      queue: this.client.config.cluster,
      stat: () => this.stat(),
      queueSize: () => this.client.queueSize(),
      lockSize: () => this.client.lockSize(),
    };
  }

  #untrack: (() => void) | null = null;

  async start(): Promise<this> {
    if (this.#cluster) throw new TaskqError(ErrorCodes.CLUSTER_STATE, 'This cluster was already started.');
    const runtime = await this.client.runtime();
    this.#cluster = new Cluster(runtime, this.options);
    // The scheduler runs in every cluster (claims keep slots exactly-once). A store that keeps no
    // schedules fails the start here (scheduleStoreOf) instead of silently running no scheduler.
    if (runtime.config.scheduler) {
      const part = createSchedulerPart(runtime);
      this.#cluster.addPart(part);
      this.#untrack = this.client.trackScheduler(part.scheduler);
    }
    const { metrics } = runtime.config;
    // Served from before the start, so the first tasks are counted; gone after the stop.
    if (metrics !== null) {
      this.#metrics = await startMetricsEndpoint(this.metricsTarget(), metrics);
      runtime.logger.info(`serving Prometheus metrics at ${this.#metrics.url}`);
    }
    try {
      await this.#cluster.start();
    } catch (error) {
      await this.#closeMetrics();
      throw error;
    }
    return this;
  }

  async stop(options: { deadlineMs?: number } = {}): Promise<void> {
    await this.#cluster?.stop(options);
    this.#untrack?.();
    this.#untrack = null;
    await this.#closeMetrics();
  }

  async #closeMetrics(): Promise<void> {
    const endpoint = this.#metrics;
    this.#metrics = null;
    await endpoint?.close();
  }

  stat() {
    return this.#cluster?.stat() ?? null;
  }
}

export type { TaskRecord };
