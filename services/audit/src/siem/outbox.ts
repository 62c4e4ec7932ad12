import {
  Inject,
  Injectable,
  Optional,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { hostname } from 'node:os';
import { alertSchema } from '@sg/contracts';
import { ENV, HealthService, LOGGER, type Logger, Metrics, type Pool } from '@sg/runtime';
import { siemSinks, type AuditEnv, type SiemSink } from '../config/env.js';
import { PG } from '../store/pg.provider.js';
import { createSinks, type Delivery, type SinkClient } from './sinks.js';

/** The sender's clock (a `() => Date`); tests replace it to live through a long outage at once. */
export const SIEM_CLOCK = Symbol('SIEM_CLOCK');

/** Rows one sink claims per round. */
export const SIEM_BATCH = 100;
/** Room left in a lease for the mark after the last send of a round. */
const LEASE_MARGIN_MS = 5_000;

/** The wait before the next attempt of a row that has failed `attempts` times before: base, 2 base, 4 base ... up to max. */
export function backoffMs(attempts: number, baseMs: number, maxMs: number): number {
  return Math.min(baseMs * 2 ** attempts, maxMs);
}

interface DueRow {
  id: string;
  attempts: number;
  next_attempt_at: Date;
  data: unknown;
}

interface SinkRound {
  claimed: number;
  delivered: number;
  failure: string | undefined;
}

interface PendingRow {
  sink: string;
  pending: number;
  failing: number;
  oldest: Date;
  last_error: string | null;
}

/**
 * Delivers the siem_outbox to the configured sinks. Every SIEM_POLL_MS each sink claims its due
 * rows with one statement (FOR UPDATE SKIP LOCKED plus a lease), so any number of audit instances
 * share the work and never send one row at the same time. A row is marked delivered, or its attempt
 * is counted and it waits min(base * 2^attempts, max) (+ up to 10 % jitter). No row is ever given up:
 * an alert stays queued until its SIEM takes it.
 */
@Injectable()
export class SiemSender implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly sinks: SinkClient[];
  private readonly now: () => Date;
  private readonly leaseMs: number;
  private readonly failing = new Set<SiemSink>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private rounds: Promise<unknown> = Promise.resolve();

  constructor(
    @Inject(PG) private readonly pool: Pool,
    @Inject(ENV) private readonly env: AuditEnv,
    @Inject(LOGGER) private readonly logger: Logger,
    health: HealthService,
    metrics: Metrics,
    @Optional() @Inject(SIEM_CLOCK) now?: () => Date,
  ) {
    this.now = now ?? (() => new Date());
    this.sinks = createSinks(env, hostname());
    // Long enough for a few sends at SIEM_TIMEOUT_MS each; a crashed instance's rows wait this long.
    this.leaseMs = Math.max(30_000, 4 * env.SIEM_TIMEOUT_MS + LEASE_MARGIN_MS);
    health.register('siem', () => this.health());
    this.recordOutbox(metrics);
  }

  onApplicationBootstrap() {
    if (this.sinks.length === 0) return;
    this.logger.info(
      { sinks: this.sinks.map((s) => s.name), format: this.env.SIEM_FORMAT },
      'SIEM delivery started',
    );
    this.schedule(this.env.SIEM_POLL_MS);
  }

  async onModuleDestroy() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.rounds;
    await Promise.all(this.sinks.map((s) => s.close()));
  }

  /** One round: every sink sends its due rows once. Resolves with the number delivered. */
  async deliverDue(): Promise<number> {
    const rounds = await this.round();
    return rounds.reduce((n, r) => n + r.delivered, 0);
  }

  /** Rounds of one instance run one after the other (the loop and a caller of deliverDue). */
  private round(): Promise<SinkRound[]> {
    const next = this.rounds.then(async () => {
      // Each sink on its own: one that fails or hangs does not hold up the other.
      const settled = await Promise.allSettled(this.sinks.map((sink) => this.deliverSink(sink)));
      const failed = settled.find((s) => s.status === 'rejected');
      if (failed) throw failed.reason;
      return settled.map((s) => (s as PromiseFulfilledResult<SinkRound>).value);
    });
    this.rounds = next.catch(() => undefined);
    return next;
  }

  private schedule(delayMs: number) {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.tick();
    }, delayMs);
  }

  private async tick() {
    let again = false;
    try {
      const rounds = await this.round();
      // A full batch that went through: there may be more behind it, go on without waiting.
      again = rounds.some((r) => r.claimed === SIEM_BATCH && r.failure === undefined);
    } catch (err) {
      this.logger.warn(
        { err: (err as Error).message },
        'SIEM outbox round failed; the claimed alerts are retried when their lease ends',
      );
    }
    this.schedule(again ? 0 : this.env.SIEM_POLL_MS);
  }

  private async deliverSink(sink: SinkClient): Promise<SinkRound> {
    const now = this.now();
    const leaseUntil = new Date(now.getTime() + this.leaseMs);
    const claimed = await this.pool.query<DueRow>(
      `WITH due AS MATERIALIZED (
         SELECT id FROM siem_outbox
          WHERE sink = $1 AND delivered_at IS NULL AND next_attempt_at <= $2
            AND (lease_until IS NULL OR lease_until < $2)
          ORDER BY next_attempt_at, id
          LIMIT $4
          FOR UPDATE SKIP LOCKED)
       UPDATE siem_outbox o SET lease_until = $3
         FROM due, alerts a
        WHERE o.id = due.id AND a.alert_id = o.alert_id
       RETURNING o.id, o.attempts, o.next_attempt_at, a.data`,
      [sink.name, now, leaseUntil, SIEM_BATCH],
    );
    const rows = claimed.rows.sort(
      (a, b) =>
        a.next_attempt_at.getTime() - b.next_attempt_at.getTime() || Number(a.id) - Number(b.id),
    );
    const result: SinkRound = { claimed: rows.length, delivered: 0, failure: undefined };

    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      // Never start a send that could outlive the lease: another instance may claim the row then.
      if (
        this.now().getTime() + this.env.SIEM_TIMEOUT_MS + LEASE_MARGIN_MS >
        leaseUntil.getTime()
      ) {
        await this.release(rows.slice(i));
        break;
      }
      const alert = alertSchema.safeParse(row.data);
      const outcome: Delivery = alert.success
        ? await sink.send(alert.data)
        : {
            delivered: false,
            reason: 'the stored alert does not match the alert schema',
            sinkDown: false,
          };
      if (outcome.delivered) {
        await this.pool.query(
          'UPDATE siem_outbox SET delivered_at = $2, lease_until = NULL WHERE id = $1 AND delivered_at IS NULL',
          [row.id, this.now()],
        );
        result.delivered++;
        continue;
      }
      result.failure = outcome.reason;
      // The SIEM itself failed: the alerts behind this one would fail the same way, so they wait too.
      const failed = outcome.sinkDown ? rows.slice(i) : [row];
      await this.markFailed(failed, outcome.reason);
      if (outcome.sinkDown) break;
    }
    this.noteOutcome(sink.name, result);
    return result;
  }

  private async markFailed(rows: DueRow[], reason: string) {
    const now = this.now().getTime();
    // One jitter for the whole group, so alerts that failed together keep their order.
    const jitter = 1 + Math.random() * 0.1;
    const next = rows.map(
      (r) =>
        new Date(
          now +
            Math.round(
              backoffMs(r.attempts, this.env.SIEM_RETRY_BASE_MS, this.env.SIEM_RETRY_MAX_MS) *
                jitter,
            ),
        ),
    );
    await this.pool.query(
      `UPDATE siem_outbox o
          SET attempts = o.attempts + 1, last_error = $3, lease_until = NULL, next_attempt_at = v.next
         FROM unnest($1::bigint[], $2::timestamptz[]) AS v(id, next)
        WHERE o.id = v.id AND o.delivered_at IS NULL`,
      [rows.map((r) => r.id), next, reason.slice(0, 500)],
    );
  }

  private async release(rows: DueRow[]) {
    await this.pool.query(
      'UPDATE siem_outbox SET lease_until = NULL WHERE id = ANY($1::bigint[]) AND delivered_at IS NULL',
      [rows.map((r) => r.id)],
    );
  }

  /** One line when a sink starts failing and one when it recovers, not one per alert. */
  private noteOutcome(sink: SiemSink, round: SinkRound) {
    if (round.failure !== undefined && !this.failing.has(sink)) {
      this.failing.add(sink);
      this.logger.warn(
        { sink, reason: round.failure, claimed: round.claimed },
        'SIEM delivery failing; alerts stay queued and are retried with backoff',
      );
    } else if (round.failure === undefined && round.delivered > 0 && this.failing.delete(sink)) {
      this.logger.info({ sink, delivered: round.delivered }, 'SIEM delivery recovered');
    }
  }

  /** What each sink has not delivered yet: how many rows, how many failing, the oldest alert. */
  private async pending(): Promise<PendingRow[]> {
    const result = await this.pool.query<PendingRow>(
      `SELECT o.sink, count(*)::int AS pending, count(*) FILTER (WHERE o.attempts > 0)::int AS failing,
              min(a.raised_at) AS oldest,
              (array_agg(o.last_error ORDER BY o.attempts DESC, o.id) FILTER (WHERE o.attempts > 0))[1] AS last_error
         FROM siem_outbox o JOIN alerts a ON a.alert_id = o.alert_id
        WHERE o.delivered_at IS NULL
        GROUP BY o.sink ORDER BY o.sink`,
    );
    return result.rows;
  }

  /** sg_siem_outbox_depth and sg_siem_outbox_oldest_age_seconds, per sink, read on a scrape. */
  private recordOutbox(metrics: Metrics) {
    let read: Promise<PendingRow[] | null> | null = null;
    // Both gauges are collected in one scrape: one query serves the two.
    const rows = () => {
      read ??= this.pending()
        .catch(() => null)
        .finally(() => setImmediate(() => (read = null)));
      return read;
    };
    const sinks = () => siemSinks(this.env);
    const now = () => this.now().getTime();
    metrics.gauge({
      name: 'sg_siem_outbox_depth',
      help: 'Alerts not yet delivered to a SIEM sink',
      labelNames: ['sink'],
      async collect() {
        const pending = await rows();
        if (!pending) return;
        for (const sink of sinks())
          this.set({ sink }, pending.find((r) => r.sink === sink)?.pending ?? 0);
      },
    });
    metrics.gauge({
      name: 'sg_siem_outbox_oldest_age_seconds',
      help: 'Age of the oldest alert not yet delivered to a SIEM sink (0 when none waits)',
      labelNames: ['sink'],
      async collect() {
        const pending = await rows();
        if (!pending) return;
        for (const sink of sinks()) {
          const oldest = pending.find((r) => r.sink === sink)?.oldest;
          this.set({ sink }, oldest ? Math.max(0, (now() - oldest.getTime()) / 1000) : 0);
        }
      },
    });
  }

  /**
   * Always ok: a SIEM that is down must not take the audit service out of rotation (the alerts wait
   * in PostgreSQL). The detail says what is pending, how old, and whether deliveries are failing.
   */
  private async health(): Promise<{ ok: boolean; detail?: string }> {
    const configured = siemSinks(this.env);
    let rows: PendingRow[];
    try {
      rows = await this.pending();
    } catch {
      return { ok: true, detail: 'cannot read the SIEM outbox (see the postgres check)' };
    }
    const now = this.now().getTime();
    const parts: string[] = [];
    for (const sink of configured) {
      const row = rows.find((r) => r.sink === sink);
      if (!row) {
        parts.push(`${sink}: all delivered`);
        continue;
      }
      const age = Math.max(0, Math.round((now - row.oldest.getTime()) / 1000));
      let part = `${sink}: ${row.pending} pending, oldest ${age} s`;
      if (row.failing > 0)
        part += `, deliveries failing (${row.failing} retrying; last error: ${row.last_error ?? 'unknown'})`;
      parts.push(part);
    }
    for (const row of rows.filter((r) => !configured.includes(r.sink as SiemSink))) {
      parts.push(
        `${row.sink}: ${row.pending} pending but not configured (set ${row.sink === 'syslog' ? 'SIEM_SYSLOG_URL' : 'SIEM_URL'} to deliver them)`,
      );
    }
    return { ok: true, detail: parts.length ? parts.join('; ') : 'no SIEM configured' };
  }
}
