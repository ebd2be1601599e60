import type { LinkOptions, TaskResult } from '../task/task.js';
import type { AnyFunction } from '../task/task-ref.js';
import type { ChainStep, GroupOptions, Taskq, TaskInput, TaskOptions, WaitOptions } from './taskq.js';

/**
 * Django Q's object wrappers: build up a task, chain or iter, `run()` it,
 * then read its results. Changing a started object makes it runnable again.
 */
export class AsyncTask<F extends AnyFunction = AnyFunction> {
  id = '';
  started = false;

  constructor(
    private readonly q: Taskq,
    readonly task: TaskInput<F>,
    public args: unknown[] = [],
    public options: TaskOptions = {},
  ) {}

  /** Changes an option (hook, group, save, sync, cached, …); the task can then run again. */
  set<K extends keyof TaskOptions>(key: K, value: TaskOptions[K]): this {
    this.options = { ...this.options, [key]: value };
    this.started = false;
    return this;
  }

  async run(): Promise<string> {
    this.id = await this.q.enqueue(this.task as string, this.args, this.options);
    this.started = true;
    return this.id;
  }

  async result<R = Awaited<ReturnType<F>>>(options: WaitOptions = {}): Promise<R | undefined> {
    return this.started ? this.q.result<R>(this.id, options) : undefined;
  }

  async fetch<R = Awaited<ReturnType<F>>>(options: WaitOptions = {}): Promise<TaskResult<R> | null> {
    return this.started ? this.q.fetch<R>(this.id, options) : null;
  }

  async resultGroup(options: GroupOptions = {}): Promise<unknown[] | undefined> {
    return this.started && this.options.group ? this.q.resultGroup(this.options.group, options) : undefined;
  }

  async fetchGroup(options: GroupOptions = {}): Promise<TaskResult[] | undefined> {
    return this.started && this.options.group ? this.q.fetchGroup(this.options.group, options) : undefined;
  }
}

/** Django Q's Chain: append links, run, then wait for the whole chain's results. */
export class Chain {
  readonly steps: ChainStep[] = [];
  group: string;
  started = false;

  constructor(
    private readonly q: Taskq,
    options: { group?: string; cluster?: string; sync?: boolean } = {},
  ) {
    this.group = options.group ?? '';
    this.options = options;
  }

  private readonly options: { group?: string; cluster?: string; sync?: boolean };

  /** Adds a link; appending to a started chain clears its old results (Django Q behaviour). */
  async append(task: TaskInput, args: unknown[] = [], options?: LinkOptions): Promise<number> {
    if (this.started) {
      await this.q.deleteGroup(this.group);
      this.started = false;
    }
    this.steps.push(options ? { task, args, options } : { task, args });
    return this.steps.length;
  }

  async run(): Promise<string> {
    this.group = await this.q.chain(this.steps, { ...this.options, ...(this.group ? { group: this.group } : {}) });
    this.started = true;
    return this.group;
  }

  /** Waits (default: forever) until every link has a record, then returns their results in order. */
  async result(options: WaitOptions = {}): Promise<unknown[] | undefined> {
    if (!this.started) return undefined;
    return this.q.resultGroup(this.group, { count: this.steps.length, wait: options.wait ?? -1 });
  }

  async fetch(options: WaitOptions & { failures?: boolean } = {}): Promise<TaskResult[] | undefined> {
    if (!this.started) return undefined;
    return this.q.fetchGroup(this.group, {
      count: this.steps.length,
      wait: options.wait ?? -1,
      failures: options.failures ?? true,
    });
  }

  /** How many links have finished, or undefined before run(). */
  async current(): Promise<number | undefined> {
    return this.started ? this.q.countGroup(this.group) : undefined;
  }

  get length(): number {
    return this.steps.length;
  }
}

/** Django Q's Iter: one task over many argument lists, results collated in input order. */
export class Iter {
  readonly argsList: unknown[][] = [];
  id = '';
  started = false;

  constructor(
    private readonly q: Taskq,
    readonly task: TaskInput,
    argsList: unknown[][] = [],
    private readonly options: TaskOptions = {},
  ) {
    this.argsList.push(...argsList);
  }

  append(...args: unknown[]): number {
    this.argsList.push(args);
    this.started = false;
    return this.argsList.length;
  }

  async run(): Promise<string> {
    this.id = await this.q.iter(this.task, this.argsList, this.options);
    this.started = true;
    return this.id;
  }

  async result(options: WaitOptions = {}): Promise<unknown[] | undefined> {
    return this.started ? this.q.result<unknown[]>(this.id, options) : undefined;
  }

  async fetch(options: WaitOptions = {}): Promise<TaskResult<unknown[]> | null> {
    return this.started ? this.q.fetch<unknown[]>(this.id, options) : null;
  }

  get length(): number {
    return this.argsList.length;
  }
}
