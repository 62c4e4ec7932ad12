import { randomUUID } from 'node:crypto';
import {
  ALERT_ACKNOWLEDGED,
  alertAcknowledgedSchema,
  AUDIT_ACK_ALERT_SUBJECT,
  AUDIT_ALERTS_SUBJECT,
  type Alert,
  type AlertAcknowledged,
  type EventEnvelope,
  GatewayError,
} from '@sg/contracts';
import type { MessageContext, NatsBus } from '@sg/messaging';
import { createPgPool, type Pool } from '@sg/runtime';
import { freePort, isolate, TEST_SERVERS, type Isolation } from '@sg/testing';
import { AlertAckController } from '../src/alert-ack/alert-ack.controller.js';
import { AlertAckService } from '../src/alert-ack/alert-ack.service.js';
import { AlertsService } from '../src/query/alerts.service.js';
import { QueryController } from '../src/query/query.controller.js';
import { RecordsService } from '../src/query/records.service.js';
import { alertOf, failure } from './fixtures.js';
import { connectBus, startAuditModule } from './support.js';

/** The request comes in under the admin's X-Project-ID, not the alert's project. */
const ctx: MessageContext = { traceId: 'trace-ack-test-01', project: 'default' };

function startAcks(iso: Isolation, pool?: Pool) {
  return startAuditModule(iso, {
    requestTimeoutMs: 5000,
    pool,
    controllers: [AlertAckController, QueryController],
    providers: [AlertAckService, AlertsService, RecordsService],
  });
}

describe('acknowledging alerts against real NATS and PostgreSQL', () => {
  const iso = isolate('audack');
  let audit: Awaited<ReturnType<typeof startAcks>>;
  let bus: NatsBus;
  let sql: Pool;

  const ack = (alert_id: string, by: string, note?: string) =>
    bus.request(AUDIT_ACK_ALERT_SUBJECT, { alert_id, by, ...(note ? { note } : {}) }, ctx);
  const listed = async (query: Record<string, unknown> = {}) =>
    (await bus.request(AUDIT_ALERTS_SUBJECT, { limit: 100, ...query }, ctx)).alerts;

  /** Inserts an alert as the detectors store it; returns its id. */
  async function raised(over: Partial<Alert> = {}): Promise<string> {
    const a = alertOf(over);
    await sql.query(
      `INSERT INTO alerts (alert_id, project, type, severity, key, raised_at, data, last_seen_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $6)`,
      [a.alert_id, a.project, a.type, a.severity, a.key, a.raised_at, JSON.stringify(a)],
    );
    return a.alert_id;
  }

  /** Every gw.evt.alert.acknowledged.v1 JetStream stored, for one alert. */
  async function ackEvents(alertId: string): Promise<EventEnvelope<AlertAcknowledged>[]> {
    const subject = bus.subject(ALERT_ACKNOWLEDGED);
    const jsm = await bus.jsm();
    const info = await jsm.streams.info(bus.streamName, { subjects_filter: subject });
    const n = info.state.subjects?.[subject] ?? 0;
    if (n === 0) return [];
    const consumer = await bus.js.consumers.get(bus.streamName, { filter_subjects: subject });
    const all: EventEnvelope<AlertAcknowledged>[] = [];
    for await (const m of await consumer.fetch({ max_messages: n, expires: 5000 })) {
      const e = m.json<EventEnvelope<unknown>>();
      all.push({ ...e, data: alertAcknowledgedSchema.parse(e.data) });
      if (all.length >= n) break;
    }
    return all.filter((e) => e.data.alert_id === alertId);
  }

  const storedAck = async (alertId: string) =>
    (
      await sql.query<{ acknowledged_by: string | null; ack_note: string | null }>(
        'SELECT acknowledged_by, ack_note FROM alerts WHERE alert_id = $1',
        [alertId],
      )
    ).rows[0];

  beforeAll(async () => {
    audit = await startAcks(iso);
    bus = await connectBus(iso, 'ingress', 5000);
    await bus.ensureStream();
    sql = createPgPool(TEST_SERVERS.databaseUrl, iso.schema, 2);
  });

  afterAll(async () => {
    await audit?.close();
    await bus?.close();
    await sql?.end();
    await iso.cleanup();
  });

  it('acknowledges an alert with a note, and answers it as the alerts list shows it', async () => {
    const id = await raised({ project: 'beta', key: 'beta' });
    const before = Date.now();
    const answer = await ack(id, 'alice@example.com', '  a load test; nothing to do ');
    expect(answer.acknowledged).toEqual({
      at: expect.any(String),
      by: 'alice@example.com',
      note: 'a load test; nothing to do',
    });
    const at = Date.parse(answer.acknowledged!.at);
    expect(at).toBeGreaterThanOrEqual(before - 1000);
    expect(at).toBeLessThanOrEqual(Date.now() + 1000);
    const [inList] = (await listed({ project: 'beta' })).filter((a) => a.alert_id === id);
    expect(answer).toEqual(inList);
    expect(answer).toMatchObject({ project: 'beta', type: 'denial_spike', suppressed: 0 });
  });

  it("records who acknowledged what in the trail: one event in the alert's project, under the request's trace", async () => {
    const id = await raised({ project: 'beta', key: 'beta', type: 'new_agent', severity: 'low' });
    const answer = await ack(id, 'carol', 'known agent');
    const [event, ...more] = await ackEvents(id);
    expect(more).toEqual([]);
    expect(event).toMatchObject({
      project: 'beta',
      trace_id: ctx.traceId,
      source: 'audit',
      data: {
        alert_id: id,
        type: 'new_agent',
        severity: 'low',
        principal: 'carol',
        note: 'known agent',
        acknowledged_at: answer.acknowledged!.at,
      },
    });
  });

  it('keeps the first acknowledgement: a second is refused with ALERT.ALREADY_ACKNOWLEDGED, naming who', async () => {
    const id = await raised();
    await ack(id, 'alice', 'first');
    const err = await failure(ack(id, 'bob', 'second'));
    expect(err.code).toBe('ALERT.ALREADY_ACKNOWLEDGED');
    expect(err.httpStatus).toBe(409);
    expect(err.message).toMatch(/acknowledged by alice at .*the first acknowledgement stays/);
    expect(err.details).toMatchObject({ acknowledged: { by: 'alice', note: 'first' } });
    expect(await storedAck(id)).toEqual({ acknowledged_by: 'alice', ack_note: 'first' });
    expect((await ackEvents(id)).map((e) => e.data.principal)).toEqual(['alice']);
  });

  it('lets exactly one of many concurrent acknowledgements win', async () => {
    const id = await raised();
    const names = Array.from({ length: 8 }, (_, i) => `admin-${i}`);
    const results = await Promise.allSettled(names.map((n) => ack(id, n)));
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [names[i]] : []));
    expect(won).toHaveLength(1);
    const refused = results.flatMap((r) =>
      r.status === 'rejected' ? [(r.reason as GatewayError).code] : [],
    );
    expect(refused).toEqual(Array(7).fill('ALERT.ALREADY_ACKNOWLEDGED'));
    expect(await storedAck(id)).toEqual({ acknowledged_by: won[0], ack_note: null });
    expect((await ackEvents(id)).map((e) => e.data.principal)).toEqual(won);
  });

  it('answers ALERT.NOT_FOUND for an alert that does not exist', async () => {
    const err = await failure(ack(randomUUID(), 'alice'));
    expect(err.code).toBe('ALERT.NOT_FOUND');
    expect(err.message).toContain('GET /api/alerts');
  });

  it('filters the list by acknowledged=true and false', async () => {
    const open = await raised({ project: 'gamma', key: 'g1' });
    const done = await raised({ project: 'gamma', key: 'g2' });
    await ack(done, 'alice');
    const ids = async (acknowledged?: boolean) =>
      (await listed({ project: 'gamma', ...(acknowledged === undefined ? {} : { acknowledged }) }))
        .map((a) => a.alert_id)
        .sort();
    expect(await ids(true)).toEqual([done]);
    expect(await ids(false)).toEqual([open]);
    expect(await ids()).toEqual([open, done].sort());
    const [shown] = await listed({ project: 'gamma', acknowledged: false });
    expect(shown!.acknowledged).toBeNull();
  });

  it('stores nothing when JetStream does not confirm the event, so a retry can acknowledge it', async () => {
    const id = await raised();
    const real = audit.bus.publishConfirmed.bind(audit.bus);
    audit.bus.publishConfirmed = async () => {
      throw new GatewayError('GATEWAY.SERVICE_UNAVAILABLE', 'JetStream did not confirm (test)');
    };
    try {
      const err = await failure(ack(id, 'alice', 'try 1'));
      expect(err.code).toBe('GATEWAY.SERVICE_UNAVAILABLE');
    } finally {
      audit.bus.publishConfirmed = real;
    }
    expect(await storedAck(id)).toEqual({ acknowledged_by: null, ack_note: null });
    const [shown] = (await listed({ acknowledged: false })).filter((a) => a.alert_id === id);
    expect(shown).toBeDefined();
    expect((await ack(id, 'alice', 'try 2')).acknowledged).toMatchObject({ note: 'try 2' });
    expect((await ackEvents(id)).map((e) => e.data.note)).toEqual(['try 2']);
  });

  it('refuses a note the contract does not take, before touching the alert', async () => {
    const id = await raised();
    for (const note of ['x'.repeat(501), 'a\u0000b']) {
      const err = await failure(
        bus.request(AUDIT_ACK_ALERT_SUBJECT, { alert_id: id, by: 'alice', note }, ctx),
      );
      expect(err.code).toBe('MESSAGE.INVALID');
    }
    expect(await storedAck(id)).toEqual({ acknowledged_by: null, ack_note: null });
  });
});

describe('acknowledging alerts while PostgreSQL is unreachable', () => {
  const iso = isolate('audackd');
  let audit: Awaited<ReturnType<typeof startAcks>>;
  let bus: NatsBus;

  beforeAll(async () => {
    const deadPool = createPgPool(
      `postgres://postgres@127.0.0.1:${await freePort()}/test`,
      iso.schema,
      1,
    );
    audit = await startAcks(iso, deadPool);
    bus = await connectBus(iso, 'ingress', 5000);
  });

  afterAll(async () => {
    await audit?.close();
    await bus?.close();
    await iso.cleanup();
  });

  it('answers AUDIT.STORE_UNAVAILABLE, and says to retry', async () => {
    const err = await failure(
      bus.request(AUDIT_ACK_ALERT_SUBJECT, { alert_id: randomUUID(), by: 'alice' }, ctx),
    );
    expect(err.code).toBe('AUDIT.STORE_UNAVAILABLE');
    expect(err.message).toMatch(/retry later/);
  });
});
