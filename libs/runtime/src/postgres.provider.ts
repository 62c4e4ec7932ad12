import type { Provider } from '@nestjs/common';
import { HealthService } from './health.js';
import type { Logger } from './logger.js';
import { createPgPool, migrate, type PostgresEnv } from './postgres.js';
import { ENV, LOGGER } from './tokens.js';

/**
 * A service's PostgreSQL pool under `token`: its migrations applied at start (a failure stops
 * the start with a readable message), a `postgres` health check, and the pool ended on shutdown
 * by whoever owns it.
 */
export function pgPoolProvider(token: symbol, migrationsDir: string): Provider {
  return {
    provide: token,
    inject: [ENV, LOGGER, HealthService],
    useFactory: async (env: PostgresEnv, logger: Logger, health: HealthService) => {
      const pool = createPgPool(env.DATABASE_URL, env.DATABASE_SCHEMA);
      pool.on('error', (err) => logger.warn({ err: err.message }, 'postgres connection error'));
      try {
        const applied = await migrate(pool, env.DATABASE_SCHEMA, migrationsDir);
        if (applied.length) logger.info({ applied }, 'migrations applied');
      } catch (err) {
        await pool.end().catch(() => undefined);
        throw new Error(
          `cannot prepare PostgreSQL (${(err as Error).message}); check DATABASE_URL and that the server runs`,
        );
      }
      health.register('postgres', async () => {
        await pool.query('SELECT 1');
        return { ok: true };
      });
      return pool;
    },
  };
}
