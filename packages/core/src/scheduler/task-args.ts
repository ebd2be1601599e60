import { ErrorCodes, TaskqError } from '../errors.js';
import type { Serializer } from '../serialize/serializer.js';

/** A schedule's stored args text back to the argument array. */
export function decodeArgs(text: string, serializer: Serializer): unknown[] {
  const value = serializer.deserialize(text);
  if (!Array.isArray(value)) {
    throw new TaskqError(ErrorCodes.BAD_PACKAGE, "A schedule's stored args must decode to an array.");
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * django-q2's intended_date_kwarg for positional JavaScript arguments: the
 * slot time (ISO string) is set as `key` on the last argument when that is a
 * plain object (an options bag), otherwise `{ [key]: iso }` is appended.
 */
export function applyIntendedDate(args: unknown[], key: string | null, slot: Date): unknown[] {
  if (key === null) return args;
  const iso = slot.toISOString();
  const last = args[args.length - 1];
  if (args.length > 0 && isPlainObject(last)) return [...args.slice(0, -1), { ...last, [key]: iso }];
  return [...args, { [key]: iso }];
}
