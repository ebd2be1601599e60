/**
 * A typed reference to a task: the name travels, the type checks `enqueue`'s
 * arguments. `taskRefs<typeof import('./tasks.js')>()` gives one per export
 * without importing the module at run time.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFunction = (...args: any[]) => unknown;

export interface TaskRef<F extends AnyFunction = AnyFunction> {
  readonly taskName: string;
  /** Phantom field carrying the function type; never set. */
  readonly __fn?: F;
}

export function taskRef<F extends AnyFunction>(name: string): TaskRef<F> {
  return { taskName: name };
}

export type TaskRefs<M> = {
  readonly [K in keyof M as M[K] extends AnyFunction ? K : never]: M[K] extends AnyFunction ? TaskRef<M[K]> : never;
};

export function taskRefs<M>(): TaskRefs<M> {
  return new Proxy({} as TaskRefs<M>, {
    get: (_target, property) => (typeof property === 'string' ? taskRef(property) : undefined),
  });
}

export type TaskArgs<T> = T extends TaskRef<infer F> ? Parameters<F> : unknown[];
export type TaskReturn<T> = T extends TaskRef<infer F> ? Awaited<ReturnType<F>> : unknown;

export function taskNameOf(task: string | TaskRef): string {
  return typeof task === 'string' ? task : task.taskName;
}
