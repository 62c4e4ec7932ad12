import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import pg from 'pg';
import { runId } from './ids.js';

/** The real servers the tests run against; override with the same variables the services read. */
export const TEST_SERVERS = {
  natsUrl: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
};

/**
 * An isolated slice of NATS, Redis and PostgreSQL for one test file: its own subject prefix
 * (and so its own stream), Redis key prefix and database schema. cleanup() removes all three.
 */
export interface Isolation {
  id: string;
  env: Record<string, string>;
  subjectPrefix: string;
  redisPrefix: string;
  schema: string;
  cleanup(): Promise<void>;
}

export function isolate(label = 't'): Isolation {
  const id = runId(label);
  const subjectPrefix = id;
  const redisPrefix = `${id}:`;
  const schema = `sg_${id}`.toLowerCase();
  return {
    id,
    subjectPrefix,
    redisPrefix,
    schema,
    env: {
      NATS_URL: TEST_SERVERS.natsUrl,
      REDIS_URL: TEST_SERVERS.redisUrl,
      DATABASE_URL: TEST_SERVERS.databaseUrl,
      SUBJECT_PREFIX: subjectPrefix,
      REDIS_PREFIX: redisPrefix,
      DATABASE_SCHEMA: schema,
      LOG_LEVEL: 'warn',
    },
    async cleanup() {
      const nc = await natsConnect({ servers: TEST_SERVERS.natsUrl });
      try {
        const jsm = await jetstreamManager(nc);
        await jsm.streams.delete(`${subjectPrefix}_GW_EVENTS`).catch(() => undefined);
      } finally {
        await nc.close();
      }
      const redis = new Redis(TEST_SERVERS.redisUrl);
      try {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 500);
          cursor = next;
          if (keys.length) await redis.del(...keys);
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
      }
      const client = new pg.Client({ connectionString: TEST_SERVERS.databaseUrl });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}
