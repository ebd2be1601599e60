import { describe, expect, it } from 'vitest';
import { taggedJson } from '../src/serialize/tagged-json.js';

const roundTrip = (value: unknown) => taggedJson.deserialize(taggedJson.serialize(value));

describe('tagged JSON serializer', () => {
  it('keeps plain JSON readable as plain JSON', () => {
    expect(taggedJson.serialize({ a: [1, 'x', true, null] })).toBe('{"a":[1,"x",true,null]}');
  });

  it.each([
    ['Date', new Date('2024-02-29T12:00:00Z')],
    ['invalid Date', new Date(Number.NaN)],
    ['Map with object keys', new Map<unknown, unknown>([[{ k: 1 }, new Set([1, 2])]])],
    ['Set', new Set(['a', 1n])],
    ['BigInt', 2n ** 100n],
    ['negative BigInt', -5n],
    ['Buffer', Buffer.from([0, 255, 1])],
    ['Uint8Array', new Uint8Array([1, 2, 3])],
    ['Float64Array', new Float64Array([1.5, -2])],
    ['undefined', undefined],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['-0', -0],
    ['RegExp', /a+b/gi],
    ['nested', { list: [undefined, { when: new Date(0) }], deep: { m: new Map([['x', [1n]]]) } }],
  ])('round-trips %s', (_name, value) => {
    expect(roundTrip(value)).toEqual(value);
  });

  it('keeps undefined object properties', () => {
    expect(Object.keys(roundTrip({ a: undefined }) as object)).toEqual(['a']);
  });

  it('round-trips Errors with name, message, code and cause', () => {
    const error = Object.assign(new TypeError('bad', { cause: new Error('root') }), { code: 'E_BAD' });
    const back = roundTrip(error) as Error & { code: string };
    expect(back).toBeInstanceOf(Error);
    expect(back.name).toBe('TypeError');
    expect(back.message).toBe('bad');
    expect(back.code).toBe('E_BAD');
    expect((back.cause as Error).message).toBe('root');
    expect(back.stack).toBe(error.stack);
  });

  it('does not mistake user objects with a $t key for tags', () => {
    const value = { $t: 'Date', v: 'not a date' };
    expect(roundTrip(value)).toEqual(value);
  });

  it('rejects functions, symbols and cycles with TASKQ_NOT_SERIALIZABLE naming the path', () => {
    expect(() => taggedJson.serialize({ a: { f: () => 1 } })).toThrow(/a\.f/);
    expect(() => taggedJson.serialize(Symbol('x'))).toThrow(
      expect.objectContaining({ code: 'TASKQ_NOT_SERIALIZABLE' }),
    );
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => taggedJson.serialize(cycle)).toThrow(/circular/);
  });

  it('allows the same object twice when it is not a cycle', () => {
    const shared = { x: 1 };
    expect(roundTrip([shared, shared])).toEqual([{ x: 1 }, { x: 1 }]);
  });

  it('rejects text that is not JSON with TASKQ_BAD_PACKAGE', () => {
    expect(() => taggedJson.deserialize('{nope')).toThrow(expect.objectContaining({ code: 'TASKQ_BAD_PACKAGE' }));
  });
});
