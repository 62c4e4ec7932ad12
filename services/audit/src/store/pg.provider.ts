import type { Provider } from '@nestjs/common';
import { createPgPool, ENV, HealthService, LOGGER, migrate, type Logger } from '@sg/runtime';
import { fileURLToPath } from 'node:url';
import type { AuditEnv } from '../config/env.js';

export const PG = Symbol('PG');

/** migrations/ sits beside src/ and dist/, so both the built and the test code find it. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

export const pgProvider: Provider = {
  provide: PG,
  inject: [ENV, LOGGER, HealthService],
  useFactory: async (env: AuditEnv, logger: Logger, health: HealthService) => {
    const pool = createPgPool(env.DATABASE_URL, env.DATABASE_SCHEMA);
    pool.on('error', (err) => logger.warn({ err: err.message }, 'postgres connection error'));
    try {
      const applied = await migrate(pool, env.DATABASE_SCHEMA, MIGRATIONS_DIR);
      if (applied.length) logger.info({ applied }, 'migrations applied');
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new Error(`cannot prepare PostgreSQL (${(err as Error).message}); check DATABASE_URL and that the server runs`);
    }
    health.register('postgres', async () => {
      await pool.query('SELECT 1');
      return { ok: true };
    });
    return pool;
  },
};
