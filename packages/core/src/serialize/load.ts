import { ErrorCodes, TaskqError } from '../errors.js';
import { toModuleUrl } from '../task/registry.js';
import type { Serializer } from './serializer.js';
import { taggedJson } from './tagged-json.js';

/**
 * A custom serializer is a module (default export implements Serializer), so
 * the main thread and every worker thread load the same one.
 */
export async function loadSerializer(specifier: string | null | undefined): Promise<Serializer> {
  if (!specifier) return taggedJson;
  const module = (await import(toModuleUrl(specifier))) as { default?: Serializer };
  const serializer = module.default;
  if (!serializer || typeof serializer.serialize !== 'function' || typeof serializer.deserialize !== 'function') {
    throw new TaskqError(
      ErrorCodes.CONFIG,
      `\`serializer\` module "${specifier}" must default-export an object with serialize() and deserialize().`,
    );
  }
  return serializer;
}
