import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/**
 * Runs `fn` in one transaction on one connection: COMMIT if it resolves, ROLLBACK if it throws
 * (and the error goes on). A connection whose ROLLBACK fails is destroyed, not reused.
 * `begin` may set the isolation level, e.g. 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY'.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  begin = 'BEGIN',
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(begin);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((e: Error) => (broken = e));
    throw err;
  } finally {
    client.release(broken);
  }
}

/** A pool whose connections all work inside `schema` (created by migrate()). */
export function createPgPool(url: string, schema: string, max = 10): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: 3000,
    options: `-c search_path=${schema}`,
  });
  // A client checked out of the pool (a transaction) has no 'error' listener of the pool's: if
  // PostgreSQL goes away then, pg emits 'error' on it and, unheard, that kills the process. Its
  // queries still fail with the error, and the pool drops the broken client on release.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/**
 * Applies the SQL files of `dir` in name order, each once, inside `schema`. An advisory lock
 * lets several instances start at the same time.
 */
export async function migrate(pool: pg.Pool, schema: string, dir: string): Promise<string[]> {
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`sg-migrate:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS "${schema}".schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Set(
      (
        await client.query<{ name: string }>(`SELECT name FROM "${schema}".schema_migrations`)
      ).rows.map((r) => r.name),
    );
    for (const file of readdirSync(dir)
      .filter((f) => f.endsWith('.sql'))
      .sort()) {
      if (done.has(file)) continue;
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL search_path TO "${schema}"`);
        await client.query(readFileSync(join(dir, file), 'utf8'));
        await client.query(`INSERT INTO "${schema}".schema_migrations (name) VALUES ($1)`, [file]);
        await client.query('COMMIT');
        applied.push(file);
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${file} failed: ${(err as Error).message}`);
      }
    }
  } finally {
    await client
      .query('SELECT pg_advisory_unlock(hashtext($1))', [`sg-migrate:${schema}`])
      .catch(() => undefined);
    client.release();
  }
  return applied;
}

export interface PostgresEnv {
  DATABASE_URL: string;
  DATABASE_SCHEMA: string;
}
