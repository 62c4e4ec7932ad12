import fc from 'fast-check';
import { canonicalJson, setOwn } from './canonical.js';
import { newSpanId, newTraceId, traceIdFrom } from './trace.js';

describe('trace ids', () => {
  it('makes W3C trace and span ids', () => {
    const id = newTraceId();
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(newSpanId()).toMatch(/^[0-9a-f]{16}$/);
  });

  it('never repeats an id, also across refills of its random pool', () => {
    // 4 KiB of pool is 256 trace ids: 1,000 cross it several times, at every alignment.
    const ids = Array.from({ length: 1000 }, (_, i) =>
      i % 3 === 0 ? `${newSpanId()}${newSpanId()}` : newTraceId(),
    );
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('keeps a well-formed X-Trace-Id', () => {
    expect(traceIdFrom('trace-abc-123', undefined)).toBe('trace-abc-123');
  });

  it('takes the trace id of a valid traceparent', () => {
    const id = 'a'.repeat(32);
    expect(traceIdFrom(undefined, `00-${id}-${'b'.repeat(16)}-01`)).toBe(id);
  });

  it('never echoes a malformed value', () => {
    for (const bad of ['<script>', 'a b c d e f g h', 'x'.repeat(65), '']) {
      const id = traceIdFrom(bad, `00-${'0'.repeat(32)}-${'b'.repeat(16)}-01`);
      expect(id).not.toBe(bad);
      expect(id).toMatch(/^[0-9a-f]{32}$/);
    }
  });
});

describe('canonicalJson', () => {
  /** The definition it replaces: JSON.stringify with a replacer that sorts keys. */
  const reference = (value: unknown) =>
    JSON.stringify(value, (_key, v: unknown) =>
      v && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        : v,
    );

  it('writes exactly what JSON.stringify with sorted keys writes, for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => canonicalJson(v) === reference(v)),
      { numRuns: 2000 },
    );
  });

  it('sorts keys at every depth and follows JSON.stringify on the odd values', () => {
    const odd = {
      b: [undefined, () => 1, NaN, -0, 1e21],
      a: { d: undefined, c: new Date(0) },
      é: '\u2028"',
    };
    expect(canonicalJson(odd)).toBe(reference(odd));
    expect(canonicalJson({ b: 1, a: { z: 1, y: 2 } })).toBe('{"a":{"y":2,"z":1},"b":1}');
  });
});

describe('setOwn', () => {
  it('sets __proto__ as an own key, leaving the prototype alone', () => {
    const out: Record<string, unknown> = {};
    setOwn(out, '__proto__', { admin: true });
    setOwn(out, 'a', 1);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect((out as { admin?: unknown }).admin).toBeUndefined();
    expect(canonicalJson(out)).toBe('{"__proto__":{"admin":true},"a":1}');
  });
});
