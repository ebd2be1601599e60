import { Query } from 'mingo';
import { compare } from 'mingo/util';
import { Decimal128, Double, Int32, Long, ObjectId, type Document } from 'bson';
import { canonical } from './values.js';

/**
 * Query matching. mingo implements MongoDB's query language in full but
 * costs a few microseconds per document; the common subset (equality,
 * comparisons, $in/$nin, $ne, $exists, $and/$or/$nor on scalar fields) is
 * compiled to plain functions here. Anything else, and any document whose
 * value on a queried path is an array or sits under one, goes to mingo.
 */
type Fast = (doc: Document) => boolean | undefined;

const OPS = new Set(['$eq', '$ne', '$lt', '$lte', '$gt', '$gte', '$in', '$nin', '$exists']);

export function compileMatcher(filter: Document | undefined): (doc: Document) => boolean {
  const source = filter ?? {};
  let query: Query | undefined;
  const slow = (doc: Document) => (query ??= new Query(source)).test(doc);
  const fast = compile(source);
  if (!fast) return slow;
  return (doc) => fast(doc) ?? slow(doc);
}

function isPlainObject(value: unknown): value is Document {
  return value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype;
}

function compile(filter: Document): Fast | null {
  const parts: Fast[] = [];
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' || key === '$or' || key === '$nor') {
      if (!Array.isArray(value) || value.length === 0) return null;
      const subs = value.map((sub) => (isPlainObject(sub) ? compile(sub) : null));
      if (subs.some((s) => s === null)) return null;
      parts.push(combine(key, subs as Fast[]));
    } else if (key.startsWith('$')) {
      return null;
    } else {
      const field = compileField(key, value);
      if (!field) return null;
      parts.push(field);
    }
  }
  return combine('$and', parts);
}

function combine(op: string, parts: Fast[]): Fast {
  return (doc) => {
    let unknown = false;
    for (const part of parts) {
      const result = part(doc);
      if (result === undefined) unknown = true;
      else if (op === '$and' && !result) return false;
      else if (op === '$or' && result) return true;
      else if (op === '$nor' && result) return false;
    }
    if (unknown) return undefined;
    return op !== '$or';
  };
}

/** The value at a dotted path; `arrays` when an array is on the way or at the end (mingo decides those). */
const ARRAY = Symbol('array');
function lookup(doc: Document, path: string): unknown {
  let current: unknown = doc;
  for (const part of path.split('.')) {
    if (Array.isArray(current)) return ARRAY;
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Document)[part];
  }
  return Array.isArray(current) ? ARRAY : current;
}

function compileField(path: string, condition: unknown): Fast | null {
  let tests: Array<(value: unknown) => boolean>;
  if (isPlainObject(condition) && Object.keys(condition).some((k) => k.startsWith('$'))) {
    const entries = Object.entries(condition);
    if (!entries.every(([op]) => OPS.has(op))) return null;
    const compiled = entries.map(([op, operand]) => compileOperator(op, operand));
    if (compiled.some((t) => t === null)) return null;
    tests = compiled as Array<(value: unknown) => boolean>;
  } else {
    if (condition instanceof RegExp || Array.isArray(condition)) return null;
    tests = [equals(condition)];
  }
  return (doc) => {
    const value = lookup(doc, path);
    if (value === ARRAY) return undefined;
    for (const test of tests) if (!test(value)) return false;
    return true;
  };
}

function compileOperator(op: string, operand: unknown): ((value: unknown) => boolean) | null {
  if (operand instanceof RegExp || Array.isArray(operand) !== (op === '$in' || op === '$nin')) return null;
  switch (op) {
    case '$eq':
      return equals(operand);
    case '$ne': {
      const eq = equals(operand);
      return (value) => !eq(value);
    }
    case '$in':
    case '$nin': {
      const list = operand as unknown[];
      if (list.some((v) => v instanceof RegExp || Array.isArray(v))) return null;
      const keys = new Set(list.map((v) => (v === undefined ? 'null' : canonical(v))));
      const matchesNull = keys.has('null');
      const inList = (value: unknown) => (value === undefined ? matchesNull : keys.has(canonical(value)));
      return op === '$in' ? inList : (value) => !inList(value);
    }
    case '$exists':
      return operand ? (value) => value !== undefined : (value) => value === undefined;
    default: {
      const bracket = typeBracket(operand);
      // null bounds (null also matching missing) are left to mingo
      if (bracket === 'other' || bracket === 'null') return null;
      const check =
        op === '$lt'
          ? (c: number) => c < 0
          : op === '$lte'
            ? (c: number) => c <= 0
            : op === '$gt'
              ? (c: number) => c > 0
              : (c: number) => c >= 0;
      // comparisons only match values of the same BSON type bracket
      return (value) => typeBracket(value) === bracket && check(compare(toComparable(value), toComparable(operand)));
    }
  }
}

/** Equality as MongoDB applies it to a non-array value: null matches null and missing. */
function equals(operand: unknown): (value: unknown) => boolean {
  if (operand === null || operand === undefined) return (value) => value === null || value === undefined;
  const key = canonical(operand);
  return (value) => value !== undefined && canonical(value) === key;
}

function typeBracket(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number' || typeof value === 'bigint') return 'number';
  if (value instanceof Long || value instanceof Int32 || value instanceof Double || value instanceof Decimal128)
    return 'number';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'bool';
  if (value instanceof Date) return 'date';
  if (value instanceof ObjectId) return 'objectid';
  return 'other';
}

function toComparable(value: unknown): unknown {
  if (value instanceof Long || value instanceof Int32 || value instanceof Double) return Number(value.valueOf());
  if (value instanceof Decimal128) return Number(value.toString());
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof ObjectId) return value.toHexString();
  return value;
}
