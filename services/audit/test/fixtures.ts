import { randomUUID } from 'node:crypto';
import { type Alert, GatewayError } from '@sg/contracts';

/** A denial-spike alert of project acme, raised now, with a fresh id; `over` changes any field. */
export const alertOf = (over: Partial<Alert> = {}): Alert => ({
  alert_id: randomUUID(),
  type: 'denial_spike',
  severity: 'high',
  project: 'acme',
  key: 'acme',
  summary: '12 denials in 120 s',
  count: 12,
  threshold: 10,
  window_s: 120,
  agent_id: null,
  session_id: null,
  tool: null,
  trace_ids: ['trace-denied-01'],
  raised_at: new Date().toISOString(),
  ...over,
});

/** The GatewayError a request is refused with; fails the test if it succeeds or fails otherwise. */
export async function failure(p: Promise<unknown>): Promise<GatewayError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GatewayError);
  return err as GatewayError;
}
