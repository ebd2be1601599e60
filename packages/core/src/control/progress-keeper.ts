import type { TaskqEmitter } from '../events.js';
import type { Logger } from '../logger.js';
import type { ResultStore } from '../store/result-store.js';
import type { TaskLogEntry, TaskMeta } from '../task/task.js';
import { controlKeys, PROGRESS_TTL_MS } from './keys.js';
import { TaskMetaBuilder } from './progress.js';

/** How often a cluster writes running tasks' changed progress to the store (one write per changed task). */
export const PROGRESS_FLUSH_MS = 500;

export type ProgressUpdate =
  { taskId: string; kind: 'progress'; value: unknown } | { taskId: string; kind: 'log'; entry: TaskLogEntry };

/**
 * The main thread's side of `progress()` and `log()`: keeps each running task's meta, writes what changed to the
 * store at most every {@link PROGRESS_FLUSH_MS} (so `q.progress(id)` and the dashboard see it while the task runs),
 * and hands the final meta to the finisher, which saves it with the record. Tasks that never call them cost nothing.
 */
export class ProgressKeeper {
  readonly #tasks = new Map<string, TaskMetaBuilder>();
  readonly #dirty = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  #warned = false;

  constructor(
    private readonly store: ResultStore,
    private readonly events: TaskqEmitter,
    private readonly logger: Logger,
  ) {}

  update(update: ProgressUpdate): void {
    let builder = this.#tasks.get(update.taskId);
    if (builder === undefined) {
      builder = new TaskMetaBuilder();
      this.#tasks.set(update.taskId, builder);
    }
    if (update.kind === 'progress') builder.setProgress(update.value);
    else builder.addLog(update.entry);
    this.events.emit('taskProgress', { taskId: update.taskId, meta: builder.meta });
    if (!this.store.capabilities.control) return;
    this.#dirty.add(update.taskId);
    this.#timer ??= setTimeout(() => void this.flush(), PROGRESS_FLUSH_MS);
  }

  /** The task's meta for its record, forgotten here; undefined when it reported none. */
  take(taskId: string): TaskMeta | undefined {
    const builder = this.#tasks.get(taskId);
    this.#tasks.delete(taskId);
    this.#dirty.delete(taskId);
    return builder?.meta;
  }

  async flush(): Promise<void> {
    this.#timer = null;
    const ids = [...this.#dirty];
    this.#dirty.clear();
    await Promise.all(
      ids.map(async (taskId) => {
        const meta = this.#tasks.get(taskId)?.meta;
        if (meta === undefined) return;
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
