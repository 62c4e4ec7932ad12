import { randomUUID } from 'node:crypto';
import {
  ADMIN_ACTION,
  AUDIT_FEED_DEMAND_INTERVAL_MS,
  AUDIT_FEED_DEMAND_SUBJECT,
  AUDIT_STORED_SUBJECT,
  type AuditRecord,
  auditStoredSchema,
  TOOLCALL_COMPLETED,
} from '@sg/contracts';
import { createPgPool } from '@sg/runtime';
import { exampleConfigDir, isolate, TEST_SERVERS, waitFor } from '@sg/testing';
import { IngestService } from '../src/ingest/ingest.service.js';
import { toAuditRecord } from '../src/query/audit-record.js';
import { EventStore } from '../src/store/event-store.js';
import { connectBus, startAuditModule } from './support.js';

// The live feed (gw.audit.stored.v1): what the ingest announces after a commit, on real NATS and PostgreSQL.
const config = exampleConfigDir('http://127.0.0.1:9');
const iso = isolate('aul');
const EMAIL = 'bob.builder@example.com';
let audit: Awaited<ReturnType<typeof startAuditModule>>;
let pub: Awaited<ReturnType<typeof connectBus>>;
const heard: unknown[] = [];
/** Asking for the feed, as an ingress with streams open does. */
let demand: NodeJS.Timeout | undefined;
const ask = () => pub.nc.publish(pub.subject(AUDIT_FEED_DEMAND_SUBJECT));

beforeAll(async () => {
  pub = await connectBus(iso, 'ingress');
  await pub.ensureStream();
  pub.nc.subscribe(pub.subject(AUDIT_STORED_SUBJECT), {
    callback: (err, msg) => {
      if (!err) heard.push(msg.json());
    },
  });
  await pub.nc.flush();
  audit = await startAuditModule(iso, {
    configDir: config.dir,
    providers: [EventStore, IngestService],
  });
});

afterAll(async () => {
  clearInterval(demand);
  await audit?.close();
  await pub?.close();
  await iso.cleanup();
  config.remove();
});

const completed = {
  channel: 'rest' as const,
  agent_id: 'gpt-4o',
  session_id: 'sess-live',
  request_id: 'req-live',
  tool: 'calendar.list_events',
  outcome: 'allowed' as const,
  http_status: 200,
  code: null,
  risk_score: 0.1,
  duration_ms: 7,
  agent_version: '1.0.0',
  user_id: 'user-9',
  arguments: { calendar_id: EMAIL, password: 'hunter2-secret', limit: 3 },
  decision: null,
};

const heardOf = (auditId: string) =>
  waitFor(
    async () =>
      heard.find((m) => (m as { audit_id?: string }).audit_id === auditId) as
        AuditRecord | undefined,
    10_000,
    `the announcement of ${auditId}`,
  );

it('announces nothing while no ingress asks for the feed', async () => {
  const sql = createPgPool(TEST_SERVERS.databaseUrl, iso.schema, 1);
  try {
    const unwanted = pub.publish(TOOLCALL_COMPLETED, completed, {
      traceId: 'trace-live-unwanted',
      project: 'default',
    });
    await waitFor(
      async () =>
        (await sql.query('SELECT 1 FROM audit_events WHERE event_id = $1', [unwanted])).rowCount
          ? true
          : undefined,
      10_000,
      'the unwanted call stored',
    );
    // Asked for now: a call stored after this is heard, and the one before would have been
    // heard first (one connection keeps its order).
    ask();
    await pub.nc.flush();
    demand = setInterval(ask, AUDIT_FEED_DEMAND_INTERVAL_MS);
    const wanted = pub.publish(TOOLCALL_COMPLETED, completed, {
      traceId: 'trace-live-wanted',
      project: 'default',
    });
    await heardOf(wanted);
    expect(heard.some((m) => (m as { audit_id?: string }).audit_id === unwanted)).toBe(false);
  } finally {
    await sql.end();
  }
});

it('announces a stored call as the record the records query gives, masked as stored', async () => {
  const traceId = `trace-live-${randomUUID().slice(0, 8)}`;
  const id = pub.publish(TOOLCALL_COMPLETED, completed, { traceId, project: 'default' });
  const record = await heardOf(id);
  expect(auditStoredSchema.parse(record)).toEqual(record);
  expect(record).toMatchObject({
    audit_id: id,
    trace_id: traceId,
    project: 'default',
    agent_id: 'gpt-4o',
    user_id: 'user-9',
    tool_name: 'calendar.list_events',
    status: 'success',
    http_status: 200,
  });
  const args = record.arguments as Record<string, unknown>;
  expect(args.limit).toBe(3);
  expect(args.password).toBe('[redacted]');
  expect(args.calendar_id).not.toBe(EMAIL);
  expect(JSON.stringify(record)).not.toContain(EMAIL);
  expect(JSON.stringify(record)).not.toContain('hunter2');

  // The same record as one built from the row PostgreSQL holds.
  const sql = createPgPool(TEST_SERVERS.databaseUrl, iso.schema, 1);
  try {
    const row = (
      await sql.query<{ occurred_at: Date; data: unknown }>(
        'SELECT occurred_at, data FROM audit_events WHERE event_id = $1',
        [id],
      )
    ).rows[0]!;
    expect(record).toEqual(
      toAuditRecord({
        event_id: id,
        trace_id: traceId,
        project: 'default',
        occurred_at: row.occurred_at,
        completed: row.data,
        received: null,
        decided: null,
        executed: null,
      }),
    );
  } finally {
    await sql.end();
  }
});

it('announces calls only, never the other events it stores', async () => {
  const other = pub.publish(
    ADMIN_ACTION,
    {
      principal: 'alice',
      roles: ['admin'],
      via: 'key',
      permission: 'audit.read',
      method: 'GET',
      path: '/api/audit/records',
      http_status: 200,
      code: null,
    },
    { traceId: 'trace-live-admin', project: 'default' },
  );
  // A call published after it: once the call is heard, the admin action would have been too.
  const call = pub.publish(TOOLCALL_COMPLETED, completed, {
    traceId: 'trace-live-after',
    project: 'default',
  });
  await heardOf(call);
  expect(heard.some((m) => (m as { audit_id?: string }).audit_id === other)).toBe(false);
});
