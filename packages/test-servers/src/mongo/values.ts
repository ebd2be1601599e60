import { Binary, Decimal128, Long, ObjectId, Timestamp, type Document } from 'bson';

/**
 * A string that is equal for two values exactly when MongoDB treats them as
 * the same index key: 1, 1.0 and Long(1) are one key, a string "1" another.
 */
export function canonical(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') return `n:${Object.is(value, -0) ? 0 : value}`;
  if (typeof value === 'bigint') return `n:${value}`;
  if (typeof value === 'string') return `s:${JSON.stringify(value)}`;
  if (typeof value === 'boolean') return `b:${value}`;
  if (value instanceof Date) return `d:${value.getTime()}`;
  if (value instanceof ObjectId) return `o:${value.toHexString()}`;
  if (value instanceof Long) return `n:${value.toString()}`;
  if (value instanceof Decimal128) return `n:${value.toString()}`;
  if (value instanceof Binary) return `x:${value.sub_type}:${Buffer.from(value.buffer).toString('base64')}`;
  if (value instanceof Timestamp) return `t:${value.toString()}`;
  if (value instanceof RegExp) return `r:${value.source}/${value.flags}`;
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Document).map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`);
    return `{${entries.join(',')}}`;
  }
  return `?:${String(value)}`;
}

/** A deep copy that keeps BSON value classes (immutable) and copies Dates, arrays and plain objects. */
export function clone<T>(value: T): T {
  if (value instanceof Date) return new Date(value.getTime()) as T;
  if (Array.isArray(value)) return value.map(clone) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Document = {};
    for (const [k, v] of Object.entries(value as Document)) out[k] = clone(v);
    return out as T;
  }
  return value;
}

/** The value at a dotted path; undefined when any step is missing. */
const splitPaths = new Map<string, string[]>();

export function getPath(doc: Document, path: string): unknown {
  if (!path.includes('.')) return doc[path];
  let parts = splitPaths.get(path);
  if (!parts) splitPaths.set(path, (parts = path.split('.')));
  let current: unknown = doc;
  for (const part of parts) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Document)[part];
  }
  return current;
}

/** True for `{ $op: … }` documents (an update with operators rather than a replacement). */
export function isOperatorDocument(doc: Document): boolean {
  const keys = Object.keys(doc);
  return keys.length > 0 && keys.every((k) => k.startsWith('$'));
}

const SIMPLE_UPDATES = new Set(['$set', '$inc', '$unset']);

/** An update operator applied to a value of the wrong type (MongoDB's TypeMismatch, code 14). */
export class UpdateTypeError extends Error {}

/**
 * Applies `$set`, `$inc` and `$unset` on paths that cross no array, in
 * place; returns false (changing nothing) for anything else, which the caller
 * hands to mingo. mingo's updater is complete but builds a fresh operator
 * context per call, which dominated the claim loop.
 */
export function applySimpleUpdate(doc: Document, operators: Document): boolean {
  const steps: Array<[op: string, path: string[], value: unknown]> = [];
  for (const [op, fields] of Object.entries(operators)) {
    if (!SIMPLE_UPDATES.has(op) || fields === null || typeof fields !== 'object') return false;
    for (const [path, value] of Object.entries(fields as Document)) {
      const parts = path.split('.');
      if (parts[0] === '_id' || parts.some((p) => p === '' || p.startsWith('$') || /^\d+$/.test(p))) return false;
      let current: unknown = doc;
      for (const part of parts.slice(0, -1)) {
        current = (current as Document | undefined)?.[part];
        if (current === undefined) break;
        if (
          current === null ||
          typeof current !== 'object' ||
          Array.isArray(current) ||
          Object.getPrototypeOf(current) !== Object.prototype
        )
          return false;
      }
      if (op === '$inc') {
        const existing = current === undefined ? undefined : (current as Document)[parts.at(-1) as string];
        if (typeof value !== 'number') return false;
        if (existing !== undefined && typeof existing !== 'number') {
          throw new UpdateTypeError(`Cannot apply $inc to a value of non-numeric type (field '${path}')`);
        }
      }
      steps.push([op, parts, value]);
    }
  }
  for (const [op, parts, value] of steps) {
    const last = parts.at(-1) as string;
    let parent: Document | undefined = doc;
    for (const part of parts.slice(0, -1)) {
      if (parent[part] === undefined) {
        if (op === '$unset') {
          parent = undefined; // nothing to remove
          break;
        }
        parent[part] = {};
      }
      parent = parent[part] as Document;
    }
    if (!parent) continue;
    if (op === '$set') parent[last] = clone(value);
    else if (op === '$inc') parent[last] = ((parent[last] as number | undefined) ?? 0) + (value as number);
    else delete parent[last];
  }
  return true;
}

/**
 * An inclusion projection of top-level fields (`{ a: 1, b: 1 }`, `_id` kept
 * unless `_id: 0`); undefined for any other projection, which mingo applies.
 */
export function projectSimple(doc: Document, projection: Document): Document | undefined {
  const fields = Object.entries(projection);
  if (
    !fields.every(
      ([k, v]) =>
        !k.includes('.') && !k.startsWith('$') && (v === 1 || v === true || (k === '_id' && (v === 0 || v === false))),
    )
  ) {
    return undefined;
  }
  const out: Document = {};
  const keepId = !fields.some(([k, v]) => k === '_id' && (v === 0 || v === false));
  if (keepId && doc._id !== undefined) out._id = doc._id;
  for (const [k, v] of fields) if (k !== '_id' && (v === 1 || v === true) && doc[k] !== undefined) out[k] = doc[k];
  if (fields.length === 1 && !keepId) return undefined; // { _id: 0 } alone is an exclusion projection
  return out;
}
