import { randomBytes } from 'node:crypto';

/** A short id, unique per test run: the base of its subject prefix, schema and key prefix. */
export function runId(label = 't'): string {
  return `${label}${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}
