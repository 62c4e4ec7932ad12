import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { ENV, HealthService, LOGGER, type Logger } from '@sg/runtime';
import type { Pool } from 'pg';
import type { AnalyticsEnv } from '../config/env.js';
import { AggregateStore } from '../store/aggregate-store.js';
import { PG } from '../store/pg.provider.js';
import { AGGREGATE_TABLES } from '../store/tables.js';
import type { Counted } from './fold.js';
import { COUNTED_SUBJECTS, countedOf } from './parse.js';

const PAGE = 5000;
/**
 * The advisory lock one instance holds while it backfills: (a number of our own, the schema), so
 * that gateways sharing a database in their own schemas do not wait for each other.
 */
const LOCK_CLASS = 734_001;
const LOCK_KEY = 'hashtext(current_schema())';
const RETRY_MS = 30_000;
const PRUNE_MS = 3_600_000;

interface Progress {
  done: boolean;
  /** Per project, the last chain_seq read. */
  after: Record<string, string>;
  rows: number;
}

/**
 * On the first start, counts what audit_events already holds (the calls before analytics ran,
 * or older than the stream keeps), project by project in chain order, resuming where it stopped.
 * One instance does it (an advisory lock); the others retry until it is done. The consumer runs
 * meanwhile: an event both see is counted once. Every hour, prunes the counted ids past
 * ANALYTICS_DEDUPE_DAYS and refreshes the aggregate tables' statistics (ANALYZE).
 */
@Injectable()
export class Backfill implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private pruner: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();
  private state = 'not started';

  constructor(
    @Inject(PG) private readonly pg: Pool,
    private readonly store: AggregateStore,
    private readonly health: HealthService,
    @Inject(ENV) private readonly env: AnalyticsEnv,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap() {
    this.health.register('backfill', async () => ({ ok: true, detail: this.state }));
    this.running = this.attempt();
    this.pruner = setInterval(() => void this.prune(), PRUNE_MS);
    this.pruner.unref();
  }

  /** Whether every event audit_events held at the first start is counted. */
  get done(): boolean {
    return this.state === 'done';
  }

  private async attempt(): Promise<void> {
    try {
      if (await this.run()) return;
    } catch (err) {
      this.state = `failed, retried in ${RETRY_MS / 1000} s: ${(err as Error).message}`;
      this.logger.warn({ err: (err as Error).message }, 'backfill from audit_events failed');
    }
    if (!this.stopped)
      this.timer = setTimeout(() => {
        this.running = this.attempt();
      }, RETRY_MS);
  }

  /** True when the backfill is done (by this instance or before). */
  private async run(): Promise<boolean> {
    const client = await this.pg.connect();
    try {
      const progress = await this.progress(client);
      if (progress.done) {
        this.state = 'done';
        return true;
      }
      const locked = await client.query<{ ok: boolean }>(
        `SELECT pg_try_advisory_lock($1, ${LOCK_KEY}) AS ok`,
        [LOCK_CLASS],
      );
      if (!locked.rows[0]?.ok) {
        this.state = 'another instance is backfilling';
        return false;
      }
      try {
        const exists = await client.query<{ t: string | null }>(
          "SELECT to_regclass('audit_events')::text AS t",
        );
        if (!exists.rows[0]?.t) {
          // The audit service has not created its table yet: nothing to read until it has.
          this.state = `waiting for audit_events (retried every ${RETRY_MS / 1000} s)`;
          return false;
        }
        await this.copy(client, progress);
        progress.done = true;
        await this.save(client, progress);
        // Fresh statistics: the planner would otherwise take the tables the backfill filled for
        // empty, and answer a 30-day question with a sort that spills to disk.
        await this.analyze();
        this.state = 'done';
        this.logger.info({ rows: progress.rows }, 'backfill from audit_events done');
        return true;
      } finally {
        await client.query(`SELECT pg_advisory_unlock($1, ${LOCK_KEY})`, [LOCK_CLASS]);
      }
    } finally {
      client.release();
    }
  }

  private async copy(client: import('pg').PoolClient, progress: Progress): Promise<void> {
    const projects = await client.query<{ project: string }>(
      'SELECT DISTINCT project FROM audit_events ORDER BY project',
    );
    for (const { project } of projects.rows) {
      for (;;) {
        if (this.stopped) throw new Error('stopping');
        const page = await client.query<{
          chain_seq: string;
          event_id: string;
          subject: string;
          trace_id: string;
          occurred_at: Date;
          data: unknown;
        }>(
          `SELECT chain_seq, event_id, subject, trace_id, occurred_at, data FROM audit_events
           WHERE project = $1 AND chain_seq > $2 ORDER BY chain_seq LIMIT $3`,
          [project, progress.after[project] ?? '0', PAGE],
        );
        if (page.rows.length === 0) break;
        const events: Counted[] = [];
        for (const r of page.rows) {
          if (!(COUNTED_SUBJECTS as readonly string[]).includes(r.subject)) continue;
          const counted = countedOf(r.subject, { ...r, project });
          if (counted) events.push(counted);
        }
        await this.store.count(events);
        progress.after[project] = page.rows.at(-1)!.chain_seq;
        progress.rows += events.length;
        this.state = `backfilling: ${progress.rows} events counted`;
        await this.save(client, progress);
      }
    }
  }

  private async progress(client: import('pg').PoolClient): Promise<Progress> {
    const r = await client.query<{ value: Progress }>(
      "SELECT value FROM analytics_state WHERE key = 'backfill'",
    );
    return r.rows[0]?.value ?? { done: false, after: {}, rows: 0 };
  }

  private async save(client: import('pg').PoolClient, progress: Progress) {
    await client.query(
      `INSERT INTO analytics_state (key, value) VALUES ('backfill', $1)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      [JSON.stringify(progress)],
    );
  }

  private async prune() {
    try {
      await this.pg.query(
        `DELETE FROM analytics_events WHERE counted_at < now() - make_interval(days => $1)`,
        [this.env.ANALYTICS_DEDUPE_DAYS],
      );
      await this.analyze();
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'pruning counted event ids failed');
    }
  }

  /** Statistics of the aggregate tables, for the planner (also where autovacuum is off). */
  private async analyze() {
    await this.pg.query(`ANALYZE ${AGGREGATE_TABLES.join(', ')}`);
  }

  async onApplicationShutdown() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.pruner) clearInterval(this.pruner);
    await this.running.catch(() => undefined);
  }
}
