/**
 * Call durations as a histogram of fixed, log-spaced buckets (docs/analytics.md#latency), so
 * that buckets of any hours, days, outcomes or projects merge by adding their counts, and a
 * percentile of the merge is as good as one of the calls themselves.
 *
 * Bucket i holds the durations in (LATENCY_BOUNDS_MS[i-1], LATENCY_BOUNDS_MS[i]] ms (bucket 0:
 * [0, 0.1]); the bound of bucket i is 0.1 ms × 1.05^i rounded to three significant digits, so
 * consecutive bounds are 4.3 % to 5.6 % apart. The last bound (3,670,000 ms, 61 min) is above
 * anything a call can take (an upstream's timeout is at most 120 s, with at most 5 retries): a
 * longer duration counts in it. The bounds are stored (analytics_latency_*.le_ms): changing
 * them would need new tables.
 */
export const LATENCY_BOUNDS_MS: readonly number[] = (() => {
  const bounds = [0.1];
  while (bounds.at(-1)! < 3_600_000)
    bounds.push(Number((0.1 * 1.05 ** bounds.length).toPrecision(3)));
  return bounds;
})();

/** The upper bound of the bucket a duration counts in. */
export function latencyBound(ms: number): number {
  const b = LATENCY_BOUNDS_MS;
  // 0 ms (and, defensively, a negative or NaN duration, which the event schema refuses).
  if (!(ms > b[0]!)) return b[0]!;
  let lo = 1;
  let hi = b.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms <= b[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return b[lo]!;
}

/** Calls by bucket: its upper bound (ms) → how many. */
export type Histogram = ReadonlyMap<number, number>;

/**
 * The q-quantile (0 < q ≤ 1) by nearest rank: the upper bound of the bucket that holds the
 * ⌈q·n⌉-th shortest of the n calls. It is never below that call's duration, and at most 5.6 %
 * above it (0.1 ms for a call of 0.1 ms or less). Null without calls.
 */
export function quantile(h: Histogram, q: number): number | null {
  let total = 0;
  for (const calls of h.values()) total += calls;
  if (total <= 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const le of [...h.keys()].sort((a, b) => a - b)) {
    seen += h.get(le)!;
    if (seen >= rank) return le;
  }
  return null;
}

/** What the summary answers for a histogram: its median, its 99th percentile and its calls. */
export function latencyOf(h: Histogram | undefined): {
  p50_ms: number | null;
  p99_ms: number | null;
  count: number;
} {
  if (!h) return { p50_ms: null, p99_ms: null, count: 0 };
  let count = 0;
  for (const calls of h.values()) count += calls;
  return { p50_ms: quantile(h, 0.5), p99_ms: quantile(h, 0.99), count };
}

/** Adds `calls` calls of the bucket `le` to `h`. */
export function addTo(h: Map<number, number>, le: number, calls: number): void {
  h.set(le, (h.get(le) ?? 0) + calls);
}
