import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { ALERT_ACKNOWLEDGED, type AckAlert, GatewayError, type StoredAlert } from '@sg/contracts';
import { type MessageContext, NatsBus } from '@sg/messaging';
import { type Pool, withTransaction } from '@sg/runtime';
import { selectStoredAlerts, toStoredAlert, type AlertRow } from '../query/stored-alert.js';
import { PG } from '../store/pg.provider.js';

/**
 * The one statement that acknowledges: it sets the acknowledgement only where there is none, so
 * of two concurrent acks the second waits for the first's row lock, finds acknowledged_at set,
 * and updates nothing. It answers the alert as the alerts list shows it.
 */
const ACK_SQL = `
  WITH acked AS (
    UPDATE alerts SET acknowledged_at = now(), acknowledged_by = $2, ack_note = $3
     WHERE alert_id = $1 AND acknowledged_at IS NULL
    RETURNING *)
  ${selectStoredAlerts('acked')}`;

interface PriorAck {
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  ack_note: string | null;
}

/**
 * Acknowledging alerts (POST /api/alerts/:id/ack), once each: the first acknowledgement stays.
 *
 * The acknowledgement goes into the tamper-evident trail as its own event,
 * gw.evt.alert.acknowledged.v1, rather than only as the admin.action record of the request:
 * that record is published by the ingress after it answered, without waiting for JetStream (an
 * outage loses it), and lands in the chain of the request's X-Project-ID. This event is
 * published in the alert's own project, and confirmed by JetStream before the update commits:
 * an acknowledgement the alerts list shows is always in the trail, and one JetStream did not
 * take is rolled back and answered 503 (retry). Its event id is new on each attempt: if the
 * commit itself fails after the publish, the trail shows an acknowledgement that did not take
 * (the alert stays open) rather than attribute a later one to the wrong admin. The admin.action
 * record still shows every attempt, refused ones too, with the alert id in its path. The row
 * stays locked while JetStream confirms (at most its 5 s publish timeout); a repeat counted on
 * the alert meanwhile waits for it.
 */
@Injectable()
export class AlertAckService {
  constructor(
    @Inject(PG) private readonly pool: Pool,
    private readonly bus: NatsBus,
  ) {}

  async acknowledge(req: AckAlert, ctx: MessageContext): Promise<StoredAlert> {
    return withTransaction(this.pool, async (c) => {
      const res = await c.query<AlertRow>(ACK_SQL, [req.alert_id, req.by, req.note ?? null]);
      const row = res.rows[0];
      if (!row) throw await this.refusal(c, req.alert_id);
      const alert = toStoredAlert(row);
      const ack = alert.acknowledged!; // ACK_SQL just set it
      await this.bus.publishConfirmed(
        ALERT_ACKNOWLEDGED,
        {
          alert_id: alert.alert_id,
          type: alert.type,
          severity: alert.severity,
          principal: ack.by,
          note: ack.note,
          acknowledged_at: ack.at,
        },
        { ...ctx, project: alert.project },
        randomUUID(),
      );
      return alert;
    });
  }

  /** Why nothing was updated: no such alert, or it was acknowledged already (and by whom). */
  private async refusal(c: Pick<Pool, 'query'>, alertId: string): Promise<GatewayError> {
    const prior = await c.query<PriorAck>(
      'SELECT acknowledged_at, acknowledged_by, ack_note FROM alerts WHERE alert_id = $1',
      [alertId],
    );
    const row = prior.rows[0];
    if (!row?.acknowledged_at)
      return new GatewayError(
        'ALERT.NOT_FOUND',
        `no alert ${alertId}; use an alert_id from GET /api/alerts`,
      );
    const acknowledged = {
      at: row.acknowledged_at.toISOString(),
      by: row.acknowledged_by,
      note: row.ack_note,
    };
    return new GatewayError(
      'ALERT.ALREADY_ACKNOWLEDGED',
      `alert ${alertId} was acknowledged by ${acknowledged.by} at ${acknowledged.at}; the first acknowledgement stays, nothing was changed`,
      { acknowledged },
    );
  }
}
