import { createHash, timingSafeEqual } from 'node:crypto';

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Finds which digest `presented` hashes to, in time that does not depend on where (or
 * whether) it matches: every entry is compared, always over 32 bytes.
 */
export function matchKey<T>(
  presented: string,
  entries: ReadonlyArray<{ digest: Buffer; value: T }>,
): T | null {
  const digest = sha256(presented);
  let found: T | null = null;
  for (const entry of entries) {
    if (timingSafeEqual(digest, entry.digest) && found === null) found = entry.value;
  }
  return found;
}

/** Constant-time equality of two secrets of any length. */
export function secretEquals(presented: string, expected: string): boolean {
  return timingSafeEqual(sha256(presented), sha256(expected));
}
