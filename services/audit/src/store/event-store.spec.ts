import { storableJson } from './event-store.js';

describe('storableJson', () => {
  it('returns the same value when PostgreSQL can store it as it is', () => {
    const data = { a: [1, 'x', { b: 'é😀' }], c: null };
    expect(storableJson(data)).toBe(data);
  });

  it('replaces U+0000 and lone surrogate halves, in values and keys, at any depth, without touching the input', () => {
    const data = {
      ok: 'fine',
      deep: [{ ['k\u0000']: 'a\u0000b', lone: 'x\uD800y', tail: '\uDC00', pair: '😀' }],
    };
    const copy = structuredClone(data);
    expect(storableJson(data)).toEqual({
      ok: 'fine',
      deep: [{ 'k\uFFFD': 'a\uFFFDb', lone: 'x\uFFFDy', tail: '\uFFFD', pair: '😀' }],
    });
    expect(data).toEqual(copy);
  });

  it('keeps a __proto__ key (as JSON.parse gives it) as data, also when the copy changes it', () => {
    const data = JSON.parse('{"__proto__": {"cmd": "a\\u0000b"}, "note": "x\\u0000"}') as Record<
      string,
      unknown
    >;
    const stored = storableJson(data) as Record<string, unknown>;
    expect(Object.getPrototypeOf(stored)).toBe(Object.prototype);
    expect(JSON.stringify(stored)).toBe('{"__proto__":{"cmd":"a\uFFFDb"},"note":"x\uFFFD"}');
  });
});
