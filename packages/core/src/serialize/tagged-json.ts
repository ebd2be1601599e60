import { ErrorCodes, TaskqError } from '../errors.js';
import type { Serializer } from './serializer.js';

/**
 * JSON with tags for the types JSON loses. A tagged value is an object
 * `{"$t": TYPE, "v": VALUE}`; plain objects that happen to own a `$t` key are
 * wrapped as `{"$t": "Object", "v": {...}}` so they never read back as a tag.
 * Plain JSON values stay as they are, so stored arguments and results are
 * readable as ordinary JSON.
 */
const TAG = '$t';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const TYPED_ARRAYS = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
} as const;
type TypedArrayName = keyof typeof TYPED_ARRAYS;

function tag(type: string, value: Json): Json {
  return { [TAG]: type, v: value };
}

function notSerializable(what: string, path: string): TaskqError {
  return new TaskqError(
    ErrorCodes.NOT_SERIALIZABLE,
    `Cannot serialize ${what} at ${path || 'the top level'}: task arguments and results must be data ` +
      '(JSON values, Date, Map, Set, BigInt, typed arrays/Buffer, Error, RegExp, undefined). Pass data, not ' +
      'functions, symbols or circular structures.',
  );
}

function encode(value: unknown, path: string, seen: Set<object>): Json {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Number.isFinite(value)) return Object.is(value, -0) ? tag('Number', '-0') : value;
      return tag('Number', String(value));
    case 'undefined':
      return tag('undefined', null);
    case 'bigint':
      return tag('BigInt', value.toString());
    case 'function':
    case 'symbol':
      throw notSerializable(`a ${typeof value}`, path);
  }
  if (value === null) return null;
  const object = value as object;
  if (seen.has(object)) throw notSerializable('a circular reference', path);
  seen.add(object);
  try {
    return encodeObject(object, path, seen);
  } finally {
    seen.delete(object);
  }
}

function encodeObject(object: object, path: string, seen: Set<object>): Json {
  if (Array.isArray(object)) return object.map((item, i) => encode(item, `${path}[${i}]`, seen));
  if (object instanceof Date) return tag('Date', Number.isNaN(object.getTime()) ? null : object.toISOString());
  if (object instanceof Map) {
    const entries: Json[] = [];
    let i = 0;
    for (const [k, v] of object) {
      entries.push([encode(k, `${path}<key ${i}>`, seen), encode(v, `${path}<value ${i}>`, seen)]);
      i++;
    }
    return tag('Map', entries);
  }
  if (object instanceof Set)
    return tag(
      'Set',
      [...object].map((item, i) => encode(item, `${path}{${i}}`, seen)),
    );
  if (ArrayBuffer.isView(object) && !(object instanceof DataView)) {
    const typeName = Buffer.isBuffer(object) ? 'Buffer' : object.constructor.name;
    if (typeName !== 'Buffer' && !(typeName in TYPED_ARRAYS)) throw notSerializable(`a ${typeName}`, path);
    const bytes = Buffer.from(object.buffer, object.byteOffset, object.byteLength);
    return tag(typeName, bytes.toString('base64'));
  }
  if (object instanceof ArrayBuffer) return tag('ArrayBuffer', Buffer.from(object).toString('base64'));
  if (object instanceof RegExp) return tag('RegExp', [object.source, object.flags]);
  if (object instanceof Error) return tag('Error', encodeError(object, path, seen));
  if (typeof (object as { toJSON?: unknown }).toJSON === 'function') {
    return encode((object as { toJSON(): unknown }).toJSON(), path, seen);
  }
  const out: { [key: string]: Json } = {};
  for (const key of Object.keys(object)) {
    out[key] = encode((object as Record<string, unknown>)[key], path ? `${path}.${key}` : key, seen);
  }
  return Object.hasOwn(object, TAG) ? tag('Object', out) : out;
}

function encodeError(error: Error, path: string, seen: Set<object>): Json {
  const out: { [key: string]: Json } = { name: error.name, message: error.message };
  if (error.stack !== undefined) out.stack = error.stack;
  const extra = error as unknown as Record<string, unknown>;
  if (extra.code !== undefined) out.code = encode(extra.code, `${path}.code`, seen);
  if (error.cause !== undefined) out.cause = encode(error.cause, `${path}.cause`, seen);
  return out;
}

function decode(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(decode);
  const record = value as Record<string, unknown>;
  const type = record[TAG];
  if (typeof type === 'string' && 'v' in record) return decodeTagged(type, record.v);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(record)) out[key] = decode(record[key]);
  return out;
}

function decodeTagged(type: string, v: unknown): unknown {
  switch (type) {
    case 'undefined':
      return undefined;
    case 'Number':
      return v === '-0' ? -0 : Number(v);
    case 'BigInt':
      return BigInt(v as string);
    case 'Date':
      return new Date(v === null ? Number.NaN : (v as string));
    case 'Map':
      return new Map((v as unknown[][]).map(([k, val]) => [decode(k), decode(val)]));
    case 'Set':
      return new Set((v as unknown[]).map(decode));
    case 'RegExp': {
      const [source, flags] = v as [string, string];
      return new RegExp(source, flags);
    }
    case 'Error':
      return decodeError(v as Record<string, unknown>);
    case 'Object': {
      const inner = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(inner)) out[key] = decode(inner[key]);
      return out;
    }
    case 'Buffer':
      return Buffer.from(v as string, 'base64');
    case 'ArrayBuffer': {
      const bytes = Buffer.from(v as string, 'base64');
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    }
    default: {
      const ctor = TYPED_ARRAYS[type as TypedArrayName];
      if (ctor === undefined) throw new TaskqError(ErrorCodes.BAD_PACKAGE, `Unknown serialized type tag "${type}".`);
      const bytes = Buffer.from(v as string, 'base64');
      const copy = new Uint8Array(bytes).buffer;
      return new ctor(copy, 0, copy.byteLength / ctor.BYTES_PER_ELEMENT);
    }
  }
}

function decodeError(v: Record<string, unknown>): Error {
  const error = new Error(String(v.message ?? ''), v.cause === undefined ? undefined : { cause: decode(v.cause) });
  error.name = String(v.name ?? 'Error');
  if (typeof v.stack === 'string') error.stack = v.stack;
  if (v.code !== undefined) (error as Error & { code?: unknown }).code = decode(v.code);
  return error;
}

export class TaggedJsonSerializer implements Serializer {
  readonly name = 'tagged-json';

  serialize(value: unknown): string {
    return JSON.stringify(encode(value, '', new Set()));
  }

  deserialize(text: string): unknown {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new TaskqError(ErrorCodes.BAD_PACKAGE, 'Serialized data is not valid JSON.', { cause: error });
    }
    return decode(parsed);
  }
}

/** The default serializer, shared because it holds no state. */
export const taggedJson: Serializer = new TaggedJsonSerializer();
