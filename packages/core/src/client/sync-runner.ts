import { ErrorCodes, TaskqError, toErrorInfo } from '../errors.js';
import { TaskFinisher } from '../cluster/finisher.js';
import type { WorkerOutcome } from '../cluster/jobs.js';
import type { Runtime } from '../cluster/runtime.js';
import { runWithTaskContext } from '../task/context.js';
import { TaskRegistry } from '../task/registry.js';
import type { TaskMessage, TaskMeta } from '../task/task.js';
import { checkProgress, makeLogEntry, TaskMetaBuilder } from '../control/progress.js';
import { toTaskResult } from '../task/task-result.js';

/**
 * `sync: true` runs a task in the caller, through the same path as a cluster:
 * sign → unsign → execute → save → hooks → chain. The task's exception is
 * saved as a failure and then thrown to the caller. Chains continue inline.
 */
export class SyncRunner {
  #registry: Promise<TaskRegistry> | null = null;
  readonly #finisher: TaskFinisher;
  readonly #runtime: Runtime;

  constructor(runtime: Runtime) {
    // Follow-up tasks (chain links, retries) run inline too.
    this.#runtime = { ...runtime, send: (message) => this.run(message) };
    this.#finisher = new TaskFinisher(this.#runtime, async (func, record) => {
      const startedAt = Date.now();
      try {
        const hook = (await this.#tasks()).get(func) as (...args: unknown[]) => unknown;
        await hook(toTaskResult(record, runtime.serializer));
        return { ok: true, startedAt, stoppedAt: Date.now(), threadId: 0 };
      } catch (error) {
        return { ok: false, error: toErrorInfo(error), startedAt, stoppedAt: Date.now(), threadId: 0 };
      }
    });
  }

  async run(message: TaskMessage): Promise<void> {
    const { codec, config, events } = this.#runtime;
    const unpacked = codec.unpack(codec.pack(message));
    events.emit('preExecute', unpacked);
    const { outcome, thrown, meta } = await this.#execute(
      unpacked,
      message.timeout === undefined ? config.timeout : message.timeout,
    );
    const reported = meta.progress !== undefined || meta.logs !== undefined;
    await this.#finisher.finish([{ message: unpacked, outcome, ...(reported ? { meta } : {}) }]);
    if (!outcome.ok) throw thrown;
  }

  async #execute(
    message: TaskMessage,
    timeout: number | null,
  ): Promise<{ outcome: WorkerOutcome; thrown?: unknown; meta: TaskMeta }> {
    const startedAt = Date.now();
    const meta = new TaskMetaBuilder();
    const controller = new AbortController();
    const timer =
      timeout === null
        ? undefined
        : setTimeout(
            () =>
              controller.abort(new TaskqError(ErrorCodes.TASK_TIMEOUT, `Task exceeded its timeout of ${timeout} s.`)),
            timeout * 1000,
          );
    try {
      const fn = (await this.#tasks()).get(message.func) as (...args: unknown[]) => unknown;
      const context = {
        id: message.id,
        name: message.name,
        func: message.func,
        group: message.group ?? null,
        attempt: message.attempt ?? 1,
        deliveredAt: startedAt,
        signal: controller.signal,
        progress: (value: unknown) => meta.setProgress(checkProgress(value)),
        log: (level: unknown, text: unknown, fields?: unknown) => meta.addLog(makeLogEntry(level, text, fields)),
      };
      const value = await runWithTaskContext(context, () => fn(...message.args));
      const result = this.#runtime.serializer.serialize(value);
      return { outcome: { ok: true, result, startedAt, stoppedAt: Date.now(), threadId: 0 }, meta: meta.meta };
    } catch (error) {
      const timedOut = controller.signal.aborted;
      const outcome = { ok: false, error: toErrorInfo(error), timedOut, startedAt, stoppedAt: Date.now(), threadId: 0 };
      return { outcome, thrown: error, meta: meta.meta };
    } finally {
      clearTimeout(timer);
    }
  }

  #tasks(): Promise<TaskRegistry> {
    this.#registry ??= TaskRegistry.load(this.#runtime.config.tasks);
    return this.#registry;
  }
}
