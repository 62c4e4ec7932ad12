import type { Pool } from '@sg/runtime';
import { siemSinks, type AuditEnv } from '../config/env.js';

/**
 * Queues an alert for every configured SIEM sink, inside the caller's transaction (the one that
 * inserts the alert), so an alert is stored if and only if its deliveries are queued.
 */
export async function enqueueAlert(
  client: Pick<Pool, 'query'>,
  env: Pick<AuditEnv, 'SIEM_URL' | 'SIEM_SYSLOG_URL'>,
  alertId: string,
  now: Date,
): Promise<void> {
  const sinks = siemSinks(env);
  if (sinks.length === 0) return;
  await client.query(
    `INSERT INTO siem_outbox (alert_id, sink, next_attempt_at)
     SELECT $1, sink, $3 FROM unnest($2::text[]) AS sink
     ON CONFLICT (alert_id, sink) DO NOTHING`,
    [alertId, sinks, now],
  );
}
