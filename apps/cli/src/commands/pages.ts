import { CliError, ExitCode } from '../exit-codes.js';

/**
 * Follows a list endpoint's `next_cursor` until `limit` items (or every item, without a limit)
 * were read. Each page asks only for what is still missing, up to the endpoint's page size.
 */
export async function collect<T>(
  page: (cursor: string | undefined, size: number) => Promise<{ items: T[]; next: string | null }>,
  pageSize: number,
  limit = Infinity,
): Promise<{ items: T[]; more: boolean }> {
  const items: T[] = [];
  let cursor: string | undefined;
  for (;;) {
    const { items: got, next } = await page(cursor, Math.min(pageSize, limit - items.length));
    items.push(...got.slice(0, limit - items.length));
    if (!next) return { items, more: false };
    if (items.length >= limit) return { items, more: true };
    // A cursor that does not move would loop forever: the answer is not a list we know.
    if (next === cursor)
      throw new CliError('the gateway returned the same cursor twice', ExitCode.Unavailable);
    cursor = next;
  }
}
