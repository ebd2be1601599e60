import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCodes, TaskqError } from '../errors.js';
import { didYouMean } from '../util/closest.js';

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
        module = await importTaskModule(url);
      } catch (error) {
        throw new TaskqError(
          ErrorCodes.TASK_MODULE,
          `Task module "${specifier}" could not be imported: ${firstLine(error)}. ` +
            'Fix the path in `tasks` or the error the module throws when it loads.',
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
        `No task named "${name}"${didYouMean(name, this.#tasks.keys())}: export a function with that name from one of the modules in \`tasks\`` +
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

const TYPESCRIPT = /\.(?:[mc]?ts|tsx)(?:[?#].*)?$/;
let typescriptLoader: Promise<void> | null = null;

/**
 * TypeScript task modules load without a build step through tsx. Worker
 * threads do not inherit the loader of the process that started them (and
 * `tsx script.ts` may not be how the cluster runs), so each thread registers
 * tsx's hooks once, at start-up before its first TypeScript import; after that
 * a task runs exactly as from JavaScript. Both hooks: in a project without
 * `"type": "module"` a .ts file is CommonJS to Node, and Node 20.19 would
 * otherwise load its ESM syntax through require() and fail (ERR_REQUIRE_CYCLE_MODULE).
 */
async function importTaskModule(url: string): Promise<Record<string, unknown>> {
  if (!TYPESCRIPT.test(url)) return (await import(url)) as Record<string, unknown>;
  typescriptLoader ??= Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')]).then(([esm, cjs]) => {
    cjs.register();
    esm.register();
  });
  await typescriptLoader;
  const module = (await import(url)) as Record<string, unknown>;
  // A CommonJS .ts module arrives as { default: exports }: its exports are the tasks.
  const keys = Object.keys(module).filter((key) => key !== 'module.exports');
  const inner = module['default'];
  const commonJs = keys.length === 1 && keys[0] === 'default' && typeof inner === 'object' && inner !== null;
  return commonJs ? (inner as Record<string, unknown>) : module;
}

/**
 * The message's first line, without a trailing period: a syntax error carries a
 * code frame after it ("Transform failed with 1 error:" names the error on the next line).
 */
function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const lines = message
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const first = lines[0] ?? message;
  const line = first.endsWith(':') && lines[1] ? `${first} ${lines[1]}` : first;
  return line.replace(/\.$/, '');
}
