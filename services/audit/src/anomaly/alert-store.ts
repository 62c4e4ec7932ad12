import { Inject, Injectable } from '@nestjs/common';
import { alertSchema, type Alert } from '@sg/contracts';
import { ENV, withTransaction, type Pool } from '@sg/runtime';
import type { AuditEnv } from '../config/env.js';
import { enqueueAlert } from '../siem/enqueue.js';
import { storableJson } from '../store/event-store.js';
import { PG } from '../store/pg.provider.js';

/** What a transaction's statements run on. */
type Tx = Pick<Pool, 'query'>;

export type BuildAlert = (raisedAt: Date) => Alert;

type PriorRow = { alert_id: string; raised_at: Date; data: unknown };

export interface Raised {
  /**
   * True if this call inserted the alert; false if one with the same key was in its cooldown,
   * or the alert with the given id (the same event's, raised before) exists.
   */
  raised: boolean;
  alert: Alert;
  /** When the cooldown of `alert` ends. */
  coolsAt: Date;
}

/** The alerts table: raising under the cooldown, suppressed repeats, first-seen names. */
@Injectable()
export class AlertStore {
  constructor(
    @Inject(PG) private readonly pool: Pool,
    @Inject(ENV) private readonly env: AuditEnv,
  ) {}

  /**
   * Inserts the alert `alertId` (and its SIEM deliveries) unless one with the same project, type
   * and key was raised within the cooldown; then that one counts a repeat instead (if
   * `repeat`). If `alertId` itself exists (its event raised it before, however long ago), that
   * one is returned and nothing counts. One transaction under an advisory lock per key, so any
   * number of instances raise one alert.
   */
  async raise(
    ref: { project: string; type: Alert['type']; key: string },
    alertId: string,
    cooldownS: number,
    repeat: boolean,
    build: BuildAlert,
  ): Promise<Raised> {
    return withTransaction(this.pool, async (c) => {
      await c.query(
        `SELECT pg_advisory_xact_lock(hashtextextended('alert:' || $1 || ':' || $2 || ':' || $3, 0))`,
        [ref.project, ref.type, ref.key],
      );
      const now = new Date();
      const cooldownMs = cooldownS * 1000;
      const own = await c.query<PriorRow>(
        'SELECT alert_id, raised_at, data FROM alerts WHERE alert_id = $1',
        [alertId],
      );
      const cooling = own.rows[0]
        ? null
        : await c.query<PriorRow>(
            `SELECT alert_id, raised_at, data FROM alerts
              WHERE project = $1 AND type = $2 AND key = $3 AND raised_at > $4
              ORDER BY raised_at DESC LIMIT 1`,
            [ref.project, ref.type, ref.key, new Date(now.getTime() - cooldownMs)],
          );
      const row = own.rows[0] ?? cooling?.rows[0];
      if (row) {
        if (repeat && row.alert_id !== alertId)
          await c.query(
            'UPDATE alerts SET suppressed = suppressed + 1, last_seen_at = greatest(last_seen_at, $2) WHERE alert_id = $1',
            [row.alert_id, now],
          );
        return {
          raised: false,
          alert: alertSchema.parse(row.data),
          coolsAt: new Date(row.raised_at.getTime() + cooldownMs),
        };
      }
      const alert = await this.insert(c, build(now), now);
      return { raised: true, alert, coolsAt: new Date(now.getTime() + cooldownMs) };
    });
  }

  /** Folds repeats tallied during a cooldown into their alerts, one statement per alert. */
  async addRepeats(repeats: ReadonlyMap<string, number>): Promise<void> {
    const now = new Date();
    for (const [alertId, n] of repeats) {
      await this.pool.query(
        'UPDATE alerts SET suppressed = suppressed + $2, last_seen_at = greatest(last_seen_at, $3) WHERE alert_id = $1',
        [alertId, n, now],
      );
    }
  }

  /**
   * Records a tool or agent of the project; if it is new and `build` is given, raises its alert
   * in the same transaction, so a crash leaves either both or neither.
   */
  async firstSeen(
    project: string,
    kind: 'tool' | 'agent',
    name: string,
    build: BuildAlert | null,
  ): Promise<{ isNew: boolean; alert: Alert | null }> {
    return withTransaction(this.pool, async (c) => {
      const now = new Date();
      const res = await c.query(
        `INSERT INTO audit_seen (project, kind, name, first_seen) VALUES ($1, $2, $3, $4)
         ON CONFLICT (project, kind, name) DO NOTHING RETURNING name`,
        [project, kind, name, now],
      );
      if (res.rowCount === 0) return { isNew: false, alert: null };
      return { isNew: true, alert: build ? await this.insert(c, build(now), now) : null };
    });
  }

  /** The alert with this id, if it was committed. */
  async get(alertId: string): Promise<Alert | null> {
    const res = await this.pool.query<{ data: unknown }>(
      'SELECT data FROM alerts WHERE alert_id = $1',
      [alertId],
    );
    return res.rows[0] ? alertSchema.parse(res.rows[0].data) : null;
  }

  private async insert(c: Tx, built: Alert, now: Date): Promise<Alert> {
    // The one place an alert is made storable: jsonb refuses U+0000 and lone surrogate halves,
    // which a caller can put in its agent, session or tool name.
    const alert = alertSchema.parse(storableJson(built));
    await c.query(
      `INSERT INTO alerts (alert_id, project, type, severity, key, raised_at, data, last_seen_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $6)`,
      [
        alert.alert_id,
        alert.project,
        alert.type,
        alert.severity,
        alert.key,
        now,
        JSON.stringify(alert),
      ],
    );
    await enqueueAlert(c, this.env, alert.alert_id, now);
    return alert;
  }
}
