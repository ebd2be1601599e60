import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCodes, TaskqError } from '../errors.js';

export type TaskFunction = (...args: never[]) => unknown;

/**
 * Task modules are plain ES modules; every exported function is a task named
 * by its export name. Workers only run functions from these modules: a name
 * is looked up, never evaluated.
 */
export class TaskRegistry {
  readonly #tasks = new Map<string, TaskFunction>();

  static async load(specifiers: readonly string[], base = process.cwd()): Promise<TaskRegistry> {
    const registry = new TaskRegistry();
    for (const specifier of specifiers) {
      const url = toModuleUrl(specifier, base);
      let module: Record<string, unknown>;
      try {
        module = (await import(url)) as Record<string, unknown>;
      } catch (error) {
        throw new TaskqError(
          ErrorCodes.TASK_MODULE,
          `Task module "${specifier}" could not be imported (${(error as Error).message}). Check the path in \`tasks\`; ` +
            'TypeScript task modules need compiling to JavaScript first (worker threads load them with import()).',
          { cause: error },
        );
      }
      registry.#addModule(specifier, module);
    }
    return registry;
  }

  #addModule(specifier: string, module: Record<string, unknown>): void {
    for (const [name, value] of Object.entries(module)) {
      if (typeof value !== 'function' || name === 'default') continue;
      if (this.#tasks.has(name) && this.#tasks.get(name) !== value) {
        throw new TaskqError(
          ErrorCodes.DUPLICATE_TASK,
          `Task "${name}" is exported by more than one task module (again by "${specifier}"): rename one export.`,
        );
      }
      this.#tasks.set(name, value as TaskFunction);
    }
  }

  get(name: string): TaskFunction {
    const fn = this.#tasks.get(name);
    if (fn === undefined) {
      throw new TaskqError(
        ErrorCodes.UNKNOWN_TASK,
        `No task named "${name}": export a function with that name from one of the modules in \`tasks\`` +
          (this.#tasks.size ? ` (known: ${[...this.#tasks.keys()].slice(0, 20).join(', ')}).` : ' (none configured).'),
      );
    }
    return fn;
  }

  has(name: string): boolean {
    return this.#tasks.has(name);
  }

  names(): string[] {
    return [...this.#tasks.keys()];
  }
}

/** Relative paths resolve against `base` (the working directory); bare names are packages. */
export function toModuleUrl(specifier: string, base = process.cwd()): string {
  if (/^(file|data|node):/.test(specifier)) return specifier;
  if (isAbsolute(specifier)) return pathToFileURL(specifier).href;
  if (specifier.startsWith('.')) return pathToFileURL(resolve(base, specifier)).href;
  return specifier;
}
