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
