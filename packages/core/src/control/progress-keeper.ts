import type { TaskqEmitter } from '../events.js';
import type { Logger } from '../logger.js';
import type { ResultStore } from '../store/result-store.js';
import type { TaskLogEntry } from '../task/task.js';
import { controlKeys, PROGRESS_TTL_MS } from './keys.js';
import { TaskMetaBuilder } from './progress.js';

/** How often a cluster writes running tasks' changed progress to the store (one write per changed task). */
export const PROGRESS_FLUSH_MS = 500;

/** `key` names the execution (a retry of the same task is another one); `taskId` the task. */
export type ProgressUpdate =
  | { key: string; taskId: string; kind: 'progress'; value: unknown }
  | { key: string; taskId: string; kind: 'log'; entry: TaskLogEntry };

/**
 * The main thread's side of `progress()` and `log()`: keeps each running task's meta, writes what changed to the
 * store at most every {@link PROGRESS_FLUSH_MS} (so `q.progress(id)` and the dashboard see it while the task runs),
 * while the thread's own copy, complete, comes back with the task's outcome and is saved with its record. Tasks that
 * never call them cost nothing.
 */
export class ProgressKeeper {
  /** Running executions that reported, by execution key. */
  readonly #tasks = new Map<string, { taskId: string; builder: TaskMetaBuilder }>();
  readonly #dirty = new Set<string>();
  /** Recently finished executions whose late reports are ignored (insertion-ordered; the oldest are dropped). */
  readonly #finished = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  #warned = false;

  constructor(
    private readonly store: ResultStore,
    private readonly events: TaskqEmitter,
    private readonly logger: Logger,
  ) {}

  update(update: ProgressUpdate): void {
    if (this.#finished.has(update.key)) return;
    let entry = this.#tasks.get(update.key);
    if (entry === undefined) {
      entry = { taskId: update.taskId, builder: new TaskMetaBuilder() };
      this.#tasks.set(update.key, entry);
    }
    const { builder } = entry;
    if (update.kind === 'progress') builder.setProgress(update.value);
    else builder.addLog(update.entry);
    this.events.emit('taskProgress', { taskId: update.taskId, meta: builder.meta });
    if (!this.store.capabilities.control) return;
    this.#dirty.add(update.key);
    this.#timer ??= setTimeout(() => void this.flush(), PROGRESS_FLUSH_MS);
  }

  /**
   * The task finished: forget it, and ignore its reports that arrive after its outcome (they travel on another
   * port; the outcome carries the complete copy). A short memory of finished ids is enough for that.
   */
  finished(key: string): void {
    this.#tasks.delete(key);
    this.#dirty.delete(key);
    this.#finished.add(key);
    if (this.#finished.size > 10_000) this.#finished.delete(this.#finished.values().next().value as string);
  }

  async flush(): Promise<void> {
    this.#timer = null;
    const keys = [...this.#dirty];
    this.#dirty.clear();
    await Promise.all(
      keys.map(async (key) => {
        const entry = this.#tasks.get(key);
        if (entry === undefined) return;
        const { taskId } = entry;
        const meta = entry.builder.meta;
        try {
          await this.store.setValue(controlKeys.progress(taskId), JSON.stringify(meta), PROGRESS_TTL_MS);
        } catch (error) {
          if (this.#warned) return;
          this.#warned = true;
          this.logger.warn('could not save task progress; it is kept with the result when the task finishes', {
            error: (error as Error).message,
          });
        }
      }),
    );
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
