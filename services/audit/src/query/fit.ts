/**
 * The longest run of `items` from the start (or, with 'newest', from the end) whose JSON array
 * takes at most `maxBytes`: an answer has to fit in one NATS message.
 */
export function fitInBytes<T>(
  items: readonly T[],
  maxBytes: number,
  keep: 'oldest' | 'newest' = 'oldest',
): T[] {
  const ordered = keep === 'oldest' ? items : [...items].reverse();
  let bytes = 2; // []
  let n = 0;
  for (const item of ordered) {
    bytes += Buffer.byteLength(JSON.stringify(item)) + (n > 0 ? 1 : 0);
    if (bytes > maxBytes) break;
    n++;
  }
  return keep === 'oldest' ? items.slice(0, n) : items.slice(items.length - n);
}

/**
 * The page a keyset query for `limit + 1` rows gives: at most `limit` items, fewer when they would
 * not fit in `maxBytes` but at least one, so that paging always moves on; and the cursor after
 * the last item kept, or null when nothing follows it (`cut`: the query itself left rows out).
 */
export function pageOf<R, T>(
  rows: readonly R[],
  limit: number,
  maxBytes: number,
  toItem: (row: R) => T,
  cursorOf: (row: R) => string,
  cut = false,
): { items: T[]; next_cursor: string | null } {
  const items = rows.slice(0, limit).map(toItem);
  const fitted = fitInBytes(items, maxBytes);
  const kept = fitted.length > 0 ? fitted : items.slice(0, 1);
  const last = rows[kept.length - 1];
  const more = cut || rows.length > limit || kept.length < items.length;
  return { items: kept, next_cursor: last && more ? cursorOf(last) : null };
}
