import fc from 'fast-check';
import { addTo, LATENCY_BOUNDS_MS, latencyBound, latencyOf, quantile } from './histogram.js';

const LAST = LATENCY_BOUNDS_MS.at(-1)!;
const histogramOf = (durations: number[]) => {
  const h = new Map<number, number>();
  for (const d of durations) addTo(h, latencyBound(d), 1);
  return h;
};
/** The q-quantile by nearest rank of the durations themselves. */
const exact = (durations: number[], q: number) =>
  [...durations].sort((a, b) => a - b)[Math.max(1, Math.ceil(q * durations.length)) - 1]!;

describe('the latency buckets', () => {
  it('span 0.1 ms to an hour, each bound 4 % to 6 % above the one before', () => {
    expect(LATENCY_BOUNDS_MS[0]).toBe(0.1);
    expect(LATENCY_BOUNDS_MS.slice(1, 5)).toEqual([0.105, 0.11, 0.116, 0.122]);
    expect(LATENCY_BOUNDS_MS).toContain(60_900);
    expect(LAST).toBe(3_670_000);
    expect(LATENCY_BOUNDS_MS).toHaveLength(358);
    for (let i = 1; i < LATENCY_BOUNDS_MS.length; i++) {
      const ratio = LATENCY_BOUNDS_MS[i]! / LATENCY_BOUNDS_MS[i - 1]!;
      expect(ratio).toBeGreaterThan(1.04);
      expect(ratio).toBeLessThan(1.06);
    }
  });

  it('count 0 ms, and anything up to 0.1 ms, in the first bucket', () => {
    expect(latencyBound(0)).toBe(0.1);
    expect(latencyBound(0.05)).toBe(0.1);
    expect(latencyBound(0.1)).toBe(0.1);
    expect(latencyBound(0.1000001)).toBe(0.105);
    // The event schema refuses these; they must not throw or escape the buckets.
    expect(latencyBound(-1)).toBe(0.1);
    expect(latencyBound(Number.NaN)).toBe(0.1);
  });

  it('count a duration on a bound in that bound’s bucket, and one just above in the next', () => {
    expect(latencyBound(1.04)).toBe(1.04);
    expect(latencyBound(1.0401)).toBe(1.09);
    expect(latencyBound(60_900)).toBe(60_900);
    expect(latencyBound(60_000)).toBe(60_900);
  });

  it('count a duration beyond the last bound in the last bucket', () => {
    expect(latencyBound(LAST)).toBe(LAST);
    expect(latencyBound(LAST + 1)).toBe(LAST);
    expect(latencyBound(1e12)).toBe(LAST);
    expect(latencyBound(Number.MAX_VALUE)).toBe(LAST);
    expect(latencyBound(Number.POSITIVE_INFINITY)).toBe(LAST);
  });

  it('give every duration the smallest bound not below it, at most 5.6 % above it', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.1, max: LAST, noNaN: true }), (ms) => {
        const le = latencyBound(ms);
        const i = LATENCY_BOUNDS_MS.indexOf(le);
        expect(i).toBeGreaterThanOrEqual(0);
        expect(le).toBeGreaterThanOrEqual(ms);
        if (i > 0) expect(LATENCY_BOUNDS_MS[i - 1]).toBeLessThan(ms);
        expect(le / ms).toBeLessThanOrEqual(1.056075);
      }),
    );
  });
});

describe('quantile', () => {
  it('is null without calls', () => {
    expect(quantile(new Map(), 0.5)).toBeNull();
    expect(latencyOf(new Map())).toEqual({ p50_ms: null, p99_ms: null, count: 0 });
    expect(latencyOf(undefined)).toEqual({ p50_ms: null, p99_ms: null, count: 0 });
  });

  it('gives one call’s bucket for every percentile', () => {
    expect(latencyOf(histogramOf([0]))).toEqual({ p50_ms: 0.1, p99_ms: 0.1, count: 1 });
    expect(latencyOf(histogramOf([12.34]))).toEqual({ p50_ms: 12.5, p99_ms: 12.5, count: 1 });
  });

  it('takes the nearest rank: of 1 … 100 ms, the 50th and the 99th call', () => {
    const h = histogramOf(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(latencyOf(h)).toEqual({
      p50_ms: latencyBound(50),
      p99_ms: latencyBound(99),
      count: 100,
    });
    expect(latencyBound(50)).toBe(51.6);
    expect(latencyBound(99)).toBe(102);
  });

  it('gives the slowest call’s bucket as p99 of fewer than 100 calls', () => {
    const durations = [...Array.from({ length: 27 }, () => 3), 900];
    expect(latencyOf(histogramOf(durations))).toMatchObject({ p50_ms: 3.04, p99_ms: 917 });
  });

  it('reads the histogram in bound order, whatever order it was filled in', () => {
    const h = new Map([
      [LAST, 1],
      [0.1, 1],
      [5.2, 1],
    ]);
    expect(quantile(h, 0.5)).toBe(5.2);
    expect(quantile(h, 0.99)).toBe(LAST);
  });

  it('is the bucket of the exact nearest-rank percentile, for any durations', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 200_000, noNaN: true }), {
          minLength: 1,
          maxLength: 500,
        }),
        fc.constantFrom(0.5, 0.9, 0.99, 1),
        (durations, q) => {
          expect(quantile(histogramOf(durations), q)).toBe(latencyBound(exact(durations, q)));
        },
      ),
    );
  });

  it('of merged histograms is that of all their calls', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 10_000, noNaN: true }), { maxLength: 200 }),
        fc.array(fc.double({ min: 0, max: 10_000, noNaN: true }), { maxLength: 200 }),
        (a, b) => {
          const merged = histogramOf(a);
          for (const [le, calls] of histogramOf(b)) addTo(merged, le, calls);
          expect(latencyOf(merged)).toEqual(latencyOf(histogramOf([...a, ...b])));
        },
      ),
    );
  });
});
