import { randomUUID } from 'node:crypto';
import {
  AUDIT_TRACE_SUBJECT,
  DECISION_MADE,
  type EventDataOf,
  type EventSubject,
  GatewayError,
  TOOLCALL_COMPLETED,
  TOOLCALL_EXECUTED,
  TOOLCALL_RECEIVED,
  POLICY_CHANGED,
  SHADOW_EVALUATED,
  APPROVAL_REQUESTED,
  APPROVAL_RESOLVED,
  ALERT_RAISED,
  ALERT_ACKNOWLEDGED,
  FEDERATION_RECEIVED,
  ADMIN_ACTION,
  POLICY_PROPOSAL_EVENT,
} from '@sg/contracts';
import type { MessageContext } from '@sg/messaging';
import { createPgPool, migrate, type Pool } from '@sg/runtime';
import { exampleConfigDir, isolate, TEST_SERVERS, waitFor, type Isolation } from '@sg/testing';
import { verifyChain } from '../src/chain/verify.js';
import { IngestService } from '../src/ingest/ingest.service.js';
import { EventStore, type EventRow } from '../src/store/event-store.js';
import { MIGRATIONS_DIR } from '../src/store/pg.provider.js';
import { TraceController } from '../src/trace/trace.controller.js';
import { connectBus, startAuditModule } from './support.js';

const EXAMPLES: { [S in EventSubject]: EventDataOf<S> } = {
  [TOOLCALL_RECEIVED]: {
    channel: 'rest',
    agent_id: 'gpt-4o',
    agent_version: null,
    session_id: 'sess-1',
    request_id: 'req-1',
    tool: 'calendar.list_events',
    arguments: { limit: 5 },
  },
  [DECISION_MADE]: {
    agent_id: 'gpt-4o',
    session_id: 'sess-1',
    request_id: 'req-1',
    tool: 'calendar.list_events',
    decision: {
      allowed: true,
      code: null,
      reason: 'allowed by rule 0',
      rule_trace: [
        {
          check: 'allow_tools',
          outcome: 'pass',
          rule: 'policies/default.yaml#rules[0].allow_tools[0]',
        },
      ],
      reasoning: ['No schema violation.'],
      suggestions: [],
      risk_score: 0,
      requires_approval: false,
      policy_version: 'abcdef012345',
    },
  },
  [TOOLCALL_EXECUTED]: {
    agent_id: 'gpt-4o',
    request_id: 'req-1',
    tool: 'calendar.list_events',
    status: 'ok',
    duration_ms: 3.25,
    upstream_status: 200,
    error_code: null,
    result: { events: [{ title: 'Standup' }] },
  },
  [TOOLCALL_COMPLETED]: {
    channel: 'rest',
    agent_id: 'gpt-4o',
    session_id: 'sess-1',
    request_id: 'req-1',
    tool: 'calendar.list_events',
    outcome: 'allowed',
    http_status: 200,
    code: null,
    risk_score: 0,
    duration_ms: 12.5,
  },
  [SHADOW_EVALUATED]: {
    agent_id: 'gpt-4o',
    session_id: 'sess-1',
    request_id: 'req-1',
    tool: 'calendar.list_events',
    live: { allowed: true, code: null, requires_approval: false },
    shadow: {
      allowed: false,
      code: 'POLICY.TOOL_NOT_ALLOWED',
      requires_approval: false,
      reason: 'preview denies',
      risk_score: 0,
      rule_trace: [],
    },
    differs: true,
  },
  [POLICY_CHANGED]: {
    version: 'abcdef012345',
    previous_version: '0123456789ab',
    instance: 'host:1',
  },
  [APPROVAL_REQUESTED]: {
    approval_id: 'a1',
    agent_id: 'gpt-4o',
    tool: 'db.write_sensitive',
    request_id: 'req-1',
    arguments_digest: 'd'.repeat(64),
    policy_version: 'abcdef012345',
    expires_at: '2026-11-23T19:00:00.000Z',
  },
  [APPROVAL_RESOLVED]: {
    approval_id: 'a1',
    agent_id: 'gpt-4o',
    tool: 'db.write_sensitive',
    request_id: 'req-1',
    status: 'rejected',
    approver: 'admin',
  },
  [ALERT_RAISED]: {
    alert_id: '5b0d8f7e-93a4-4c1e-9a55-0c1f2d3e4f50',
    type: 'denial_spike',
    severity: 'high',
    project: 'acme',
    key: 'acme',
    summary: '10 denied calls in 120 s (threshold 10)',
    count: 10,
    threshold: 10,
    window_s: 120,
    agent_id: null,
    session_id: null,
    tool: null,
    trace_ids: ['trace-1'],
    raised_at: '2026-11-23T19:00:00.000Z',
  },
  // Who acknowledged stays readable in the trail, though it is an email address.
  [ALERT_ACKNOWLEDGED]: {
    alert_id: '5b0d8f7e-93a4-4c1e-9a55-0c1f2d3e4f50',
    type: 'denial_spike',
    severity: 'high',
    principal: 'alice@example.com',
    note: 'a load test; nothing to do',
    acknowledged_at: '2026-11-23T19:05:00.000Z',
  },
  [FEDERATION_RECEIVED]: {
    peer: 'gw-a',
    agent_id: 'gpt-4o',
    tool: 'calendar.list_events',
    request_id: 'req-1',
    via: ['gw-a'],
    hops: 1,
    original_decision: { allowed: true, policy_version: 'v1' },
  },
  [POLICY_PROPOSAL_EVENT]: {
    proposal_id: '6f1d1c62-6f8e-4f53-9d0c-2d7f3d3f2a11',
    project: 'default',
    model_id: 'gpt-4o',
    proposer: 'gpt-4o',
    via: 'agent',
    yaml: 'rules: []\n',
    justification: 'test',
    guardrails: [{ name: 'own_rules_only', pass: true, why: 'only its own rules' }],
    status: 'pending',
    auto_approved: false,
    version_id: null,
    reviewer: null,
    comment: null,
    created_at: '2026-12-05T00:00:00.000Z',
    resolved_at: null,
    key_id: null,
    signature: null,
  },
  [ADMIN_ACTION]: {
    principal: 'alice@example.com',
    roles: ['approver'],
    via: 'oidc',
    permission: 'approvals.resolve',
    method: 'POST',
    path: '/approve',
    http_status: 200,
    code: null,
  },
};

const config = exampleConfigDir('http://127.0.0.1:9');
afterAll(() => config.remove());

interface StoredRow {
  event_id: string;
  subject: string;
  source: string;
  project: string;
  trace_id: string;
  occurred_at: Date;
  stream_seq: string;
  data: unknown;
}

/** One audit instance: the ingest and trace providers on its own NATS connection, bootstrapped. */
async function startAudit(iso: Isolation, extraEnv: Record<string, string> = {}) {
  const audit = await startAuditModule(iso, {
    configDir: config.dir,
    env: extraEnv,
    controllers: [TraceController],
    providers: [EventStore, IngestService],
  });
  return { ...audit, store: audit.get(EventStore) };
}

/** The publishing side (what ingress, policy and executor do), plus SQL access to the schema. */
async function startPublisher(iso: Isolation) {
  const bus = await connectBus(iso, 'ingress');
  await bus.ensureStream();
  const sql = createPgPool(TEST_SERVERS.databaseUrl, iso.schema, 2);
  return {
    bus,
    sql,
    async rows(where = 'TRUE', params: unknown[] = []): Promise<StoredRow[]> {
      const res = await sql.query<StoredRow>(
        `SELECT event_id, subject, source, project, trace_id, occurred_at, stream_seq, data FROM audit_events WHERE ${where} ORDER BY stream_seq`,
        params,
      );
      return res.rows;
    },
    async count(where = 'TRUE', params: unknown[] = []): Promise<number> {
      const res = await sql.query<{ n: string }>(
        `SELECT count(*) AS n FROM audit_events WHERE ${where}`,
        params,
      );
      return Number(res.rows[0]!.n);
    },
    /** Resolves once the audit consumer has acked (or terminated) everything in the stream. */
    async drained(consumer = 'audit') {
      const jsm = await bus.jsm();
      return waitFor(
        async () => {
          const info = await jsm.consumers.info(bus.streamName, consumer);
          return info.num_pending === 0 && info.num_ack_pending === 0 ? info : undefined;
        },
        15_000,
        'the audit consumer to ack everything',
      );
    },
    async close() {
      await sql.end();
      await bus.close();
    },
  };
}

function envelope(eventId: string, traceId: string, data: unknown) {
  return {
    event_id: eventId,
    occurred_at: new Date().toISOString(),
    trace_id: traceId,
    project: 'default',
    source: 'ingress',
    data,
  };
}

describe('audit ingest against real NATS and PostgreSQL', () => {
  const iso = isolate('aud');
  let audit: Awaited<ReturnType<typeof startAudit>>;
  let pub: Awaited<ReturnType<typeof startPublisher>>;
  let n = 0;
  const ctx = (traceId = `trace-${++n}-${randomUUID().slice(0, 8)}`): MessageContext => ({
    traceId,
    project: 'default',
  });
  const rowOf = (eventId: string) =>
    waitFor(
      async () => (await pub.rows('event_id = $1', [eventId]))[0],
      10_000,
      `the row of event ${eventId}`,
    );

  beforeAll(async () => {
    pub = await startPublisher(iso);
    audit = await startAudit(iso);
  });

  afterAll(async () => {
    await audit?.close();
    await pub?.close();
    await iso.cleanup();
  });

  it.each(Object.keys(EXAMPLES) as EventSubject[])(
    'stores %s with the columns of its envelope',
    async (subject) => {
      const c: MessageContext = { traceId: `trace-cols-${subject.split('.')[2]}`, project: 'acme' };
      const id = pub.bus.publish(subject, EXAMPLES[subject] as never, c);
      const row = await rowOf(id);
      expect(row).toMatchObject({
        event_id: id,
        subject,
        source: 'ingress',
        project: 'acme',
        trace_id: c.traceId,
        data: EXAMPLES[subject],
      });
      // stream_seq is the position of this very event in the stream, and occurred_at its time.
      const jsm = await pub.bus.jsm();
      const msg = await jsm.streams.getMessage(pub.bus.streamName, { seq: Number(row.stream_seq) });
      const env = msg!.json<{ event_id: string; occurred_at: string }>();
      expect(env.event_id).toBe(id);
      expect(Math.abs(row.occurred_at.getTime() - Date.parse(env.occurred_at))).toBeLessThanOrEqual(
        1,
      );
    },
  );

  it('stores an event published twice with the same id once', async () => {
    const c = ctx();
    const id = pub.bus.publish(TOOLCALL_COMPLETED, EXAMPLES[TOOLCALL_COMPLETED], c);
    pub.bus.publish(TOOLCALL_COMPLETED, EXAMPLES[TOOLCALL_COMPLETED], c, id);
    await rowOf(id);
    await pub.drained();
    expect(await pub.count('event_id = $1', [id])).toBe(1);
  });

  it('stores a re-delivered event once, and acks every copy', async () => {
    // Without Nats-Msg-Id the stream keeps both copies (as after the dedupe window), so the
    // consumer really sees the event twice.
    const id = randomUUID();
    const traceId = `trace-redeliver-${id.slice(0, 8)}`;
    const jsm = await pub.bus.jsm();
    const before = (await jsm.streams.info(pub.bus.streamName)).state.messages;
    const raw = JSON.stringify(envelope(id, traceId, EXAMPLES[TOOLCALL_COMPLETED]));
    await pub.bus.js.publish(pub.bus.subject(TOOLCALL_COMPLETED), raw);
    await pub.bus.js.publish(pub.bus.subject(TOOLCALL_COMPLETED), raw);
    expect((await jsm.streams.info(pub.bus.streamName)).state.messages).toBe(before + 2);
    await rowOf(id);
    await pub.drained();
    expect(await pub.count('event_id = $1', [id])).toBe(1);
  });

  it('makes EventStore.append idempotent on event_id', async () => {
    const stored = await pub.rows();
    expect(stored.length).toBeGreaterThan(0);
    const again: EventRow[] = stored.map((r) => ({
      ...r,
      occurred_at: r.occurred_at.toISOString(),
      stream_seq: Number(r.stream_seq),
    }));
    expect(await audit.store.append(again)).toBe(0);
    expect(await pub.count()).toBe(stored.length);

    const fresh: EventRow = {
      ...again[0]!,
      event_id: randomUUID(),
      trace_id: 'trace-direct-insert',
    };
    expect(await audit.store.append([fresh, fresh, again[0]!])).toBe(1);
    expect(await pub.count()).toBe(stored.length + 1);
    expect(await audit.store.append([])).toBe(0);
  });

  it('answers the trace query with the events of that trace only, in stream order', async () => {
    const c = ctx('trace-order-0001');
    const other = ctx('trace-order-0002');
    const ids = [
      pub.bus.publish(TOOLCALL_RECEIVED, EXAMPLES[TOOLCALL_RECEIVED], c),
      pub.bus.publish(DECISION_MADE, EXAMPLES[DECISION_MADE], c),
      pub.bus.publish(TOOLCALL_EXECUTED, EXAMPLES[TOOLCALL_EXECUTED], c),
      pub.bus.publish(TOOLCALL_COMPLETED, EXAMPLES[TOOLCALL_COMPLETED], c),
    ];
    const otherId = pub.bus.publish(TOOLCALL_COMPLETED, EXAMPLES[TOOLCALL_COMPLETED], other);
    await Promise.all([...ids, otherId].map(rowOf));

    const trace = await pub.bus.request(AUDIT_TRACE_SUBJECT, { trace_id: c.traceId }, c);
    expect(trace.trace_id).toBe(c.traceId);
    expect(trace.events.map((e) => e.event_id)).toEqual(ids);
    expect(trace.events.map((e) => e.subject)).toEqual([
      TOOLCALL_RECEIVED,
      DECISION_MADE,
      TOOLCALL_EXECUTED,
      TOOLCALL_COMPLETED,
    ]);
    const seqs = trace.events.map((e) => e.stream_seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(trace.events[1]).toMatchObject({
      source: 'ingress',
      project: 'default',
      trace_id: c.traceId,
      data: EXAMPLES[DECISION_MADE],
    });
    expect(trace.events[0]!.occurred_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('orders a trace by stream position, not by the clocks of the publishers', async () => {
    // Two services with skewed clocks: the later event in the stream claims an earlier time.
    const traceId = 'trace-skewed-clocks';
    const base = {
      subject: TOOLCALL_COMPLETED,
      source: 'ingress',
      project: 'default',
      trace_id: traceId,
      data: {},
    };
    const first: EventRow = {
      ...base,
      event_id: randomUUID(),
      occurred_at: '2030-01-01T00:00:05.000Z',
      stream_seq: 900_001,
    };
    const second: EventRow = {
      ...base,
      event_id: randomUUID(),
      occurred_at: '2030-01-01T00:00:01.000Z',
      stream_seq: 900_002,
    };
    await audit.store.append([second, first]);
    const trace = await pub.bus.request(AUDIT_TRACE_SUBJECT, { trace_id: traceId }, ctx(traceId));
    expect(trace.events.map((e) => e.event_id)).toEqual([first.event_id, second.event_id]);
  });

  it('answers AUDIT.TRACE_NOT_FOUND for a trace with no events', async () => {
    const err = await pub.bus
      .request(AUDIT_TRACE_SUBJECT, { trace_id: 'trace-that-never-was' }, ctx())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('AUDIT.TRACE_NOT_FOUND');
  });

  it('drops malformed messages without blocking the events behind them', async () => {
    const before = await pub.count();
    const subject = pub.bus.subject(TOOLCALL_COMPLETED);
    await pub.bus.js.publish(subject, 'not json');
    await pub.bus.js.publish(subject, JSON.stringify({ event_id: 'not-a-uuid', data: {} }));
    await pub.bus.js.publish(
      subject,
      JSON.stringify({ ...envelope(randomUUID(), 'trace-bad-project', {}), project: '../etc' }),
    );
    const good = pub.bus.publish(TOOLCALL_COMPLETED, EXAMPLES[TOOLCALL_COMPLETED], ctx());
    await rowOf(good);
    // Terminated, not left pending for redelivery.
    await pub.drained();
    expect(await pub.count()).toBe(before + 1);
    expect(await pub.count('trace_id = $1', ['trace-bad-project'])).toBe(0);
  });

  it('masks PII and redacts credentials before storing, keeping the call identifiers', async () => {
    const c = ctx();
    const id = pub.bus.publish(
      TOOLCALL_RECEIVED,
      {
        ...EXAMPLES[TOOLCALL_RECEIVED],
        agent_id: 'agent-7',
        session_id: 'sess-pii',
        arguments: {
          to: 'alice.smith@example.com',
          note: 'card 4111 1111 1111 1111',
          Pass_Word: 'hunter2',
          deep: [{ 'api-key': 'k-123' }],
          headers: { 'x-api-key': 'xk-1', 'X-Auth-Token': 'xt-2', apiToken: 'at-3' },
          pwd: 'pw-4',
          passphrase: 'pp-5',
          credentials: { user: 'u', pass: 'cp-6' },
          max_tokens: 256,
          limit: 5,
        },
      },
      c,
    );
    const row = await rowOf(id);
    const text = JSON.stringify(row.data);
    for (const raw of [
      'alice.smith',
      '4111 1111 1111 1111',
      'hunter2',
      'k-123',
      'xk-1',
      'xt-2',
      'at-3',
      'pw-4',
      'pp-5',
      'cp-6',
    ])
      expect(text).not.toContain(raw);
    expect(row.data).toMatchObject({
      agent_id: 'agent-7',
      session_id: 'sess-pii',
      tool: 'calendar.list_events',
      arguments: {
        Pass_Word: '[redacted]',
        deep: [{ 'api-key': '[redacted]' }],
        credentials: '[redacted]',
        max_tokens: 256,
        limit: 5,
      },
    });
    expect((row.data as { arguments: { note: string } }).arguments.note).toMatch(/1111$/);
  });

  it("chains each project's rows: consecutive chain_seq, each prev_hash the hash before it", async () => {
    const res = await pub.sql.query<{
      project: string;
      chain_seq: string;
      prev_hash: string;
      hash: string;
    }>('SELECT project, chain_seq, prev_hash, hash FROM audit_events ORDER BY project, chain_seq');
    const heads = await pub.sql.query<{ project: string; chain_seq: string; hash: string }>(
      'SELECT project, chain_seq, hash FROM audit_chain_heads',
    );
    expect(res.rows.length).toBeGreaterThan(5);
    const last = new Map<string, { seq: number; hash: string }>();
    for (const r of res.rows) {
      const prev = last.get(r.project) ?? { seq: 0, hash: '' };
      expect(Number(r.chain_seq)).toBe(prev.seq + 1);
      expect(r.prev_hash).toBe(prev.hash);
      expect(r.hash).toMatch(/^[0-9a-f]{64}$/);
      last.set(r.project, { seq: Number(r.chain_seq), hash: r.hash });
    }
    expect(
      new Map(heads.rows.map((h) => [h.project, { seq: Number(h.chain_seq), hash: h.hash }])),
    ).toEqual(last);
  });

  it('leaves nothing for a second migration run of its schema', async () => {
    await expect(migrate(audit.pool, iso.schema, MIGRATIONS_DIR)).resolves.toEqual([]);
  });
});

// PostgreSQL jsonb cannot hold \u0000, and an agent controls its arguments. Such an event must
// neither be lost nor hold up the events batched with it (it once did: redelivered forever).
describe('an event PostgreSQL cannot store', () => {
  const iso = isolate('aud3');
  let audit: Awaited<ReturnType<typeof startAudit>>;
  let pub: Awaited<ReturnType<typeof startPublisher>>;

  beforeAll(async () => {
    pub = await startPublisher(iso);
    audit = await startAudit(iso);
  });

  afterAll(async () => {
    await audit?.close();
    await pub?.close();
    await iso.cleanup();
  });

  it('does not keep the events published with it out of the audit log', async () => {
    const c: MessageContext = { traceId: 'trace-nul-0001', project: 'default' };
    const bad = pub.bus.publish(
      TOOLCALL_RECEIVED,
      { ...EXAMPLES[TOOLCALL_RECEIVED], arguments: { q: 'a\u0000b' } },
      c,
    );
    const good = pub.bus.publish(TOOLCALL_COMPLETED, EXAMPLES[TOOLCALL_COMPLETED], c);
    await waitFor(
      async () => ((await pub.count('event_id = $1', [good])) === 1 ? true : undefined),
      5000,
      'the good event',
    );
    const stored = await pub.sql.query<{ q: string }>(
      "SELECT data->'arguments'->>'q' AS q FROM audit_events WHERE event_id = $1",
      [bad],
    );
    expect(stored.rows).toEqual([{ q: 'a\uFFFDb' }]);
    await pub.drained();
  });
});

describe('two audit instances sharing the durable consumer', () => {
  const iso = isolate('aud2');
  const N = 500;
  let pub: Awaited<ReturnType<typeof startPublisher>>;
  const instances: Awaited<ReturnType<typeof startAudit>>[] = [];

  beforeAll(async () => {
    pub = await startPublisher(iso);
    // Small batches, so that both instances pull a share of the events.
    for (let i = 0; i < 2; i++)
      instances.push(await startAudit(iso, { AUDIT_BATCH_SIZE: '10', AUDIT_FLUSH_MS: '5' }));
  });

  afterAll(async () => {
    for (const a of instances) await a.close();
    await pub?.close();
    await iso.cleanup();
  });

  it(`stores ${N} events exactly once between them`, async () => {
    const inserted = instances.map(() => 0);
    instances.forEach((a, i) => {
      const original = a.store.append.bind(a.store);
      a.store.append = async (rows, now) => {
        const count = await original(rows, now);
        inserted[i]! += count;
        return count;
      };
    });

    const ids = Array.from({ length: N }, (_, i) =>
      pub.bus.publish(
        TOOLCALL_COMPLETED,
        { ...EXAMPLES[TOOLCALL_COMPLETED], request_id: `bulk-${i}` },
        { traceId: `trace-bulk-${i % 25}`, project: 'default' },
      ),
    );
    await waitFor(async () => ((await pub.count()) >= N ? true : undefined), 30_000, `${N} rows`);
    await pub.drained();

    const res = await pub.sql.query<{ rows: string; ids: string; seqs: string }>(
      'SELECT count(*) AS rows, count(DISTINCT event_id) AS ids, count(DISTINCT stream_seq) AS seqs FROM audit_events',
    );
    expect(res.rows[0]).toEqual({ rows: String(N), ids: String(N), seqs: String(N) });
    const stored = new Set((await pub.rows()).map((r) => r.event_id));
    expect(ids.every((id) => stored.has(id))).toBe(true);
    // Both instances did part of the work, and no row was written twice.
    expect(inserted[0]! + inserted[1]!).toBe(N);
    // Both appended to one chain, interleaved: it is still one unbroken chain.
    expect(await verifyChain(pub.sql, 'default')).toMatchObject({
      ok: true,
      rows_checked: N,
      head_seq: N,
    });
    expect(inserted[0]).toBeGreaterThan(0);
    expect(inserted[1]).toBeGreaterThan(0);
  });
});

const MIGRATION_FILES = [
  '0001_audit_events.sql',
  '0002_hash_chain.sql',
  '0003_alerts.sql',
  '0004_chain_seq_positive.sql',
  '0005_alert_ack.sql',
  '0006_partition_by_time.sql',
];

describe('migrations', () => {
  const base = `sg_mig_${randomUUID().slice(0, 8)}`;
  const pools: Pool[] = [];
  const poolFor = (schema: string) => {
    const pool = createPgPool(TEST_SERVERS.databaseUrl, schema, 2);
    pools.push(pool);
    return pool;
  };

  afterAll(async () => {
    const admin = poolFor('public');
    for (const suffix of ['a', 'b'])
      await admin.query(`DROP SCHEMA IF EXISTS "${base}_${suffix}" CASCADE`);
    for (const pool of pools) await pool.end();
  });

  it('applies each file once: a second run applies nothing', async () => {
    const schema = `${base}_a`;
    const pool = poolFor(schema);
    await expect(migrate(pool, schema, MIGRATIONS_DIR)).resolves.toEqual(MIGRATION_FILES);
    await expect(migrate(pool, schema, MIGRATIONS_DIR)).resolves.toEqual([]);
    const recorded = await pool.query<{ name: string }>(
      'SELECT name FROM schema_migrations ORDER BY name',
    );
    expect(recorded.rows.map((r) => r.name)).toEqual(MIGRATION_FILES);
    await expect(pool.query('SELECT count(*) FROM audit_events')).resolves.toMatchObject({
      rows: [{ count: '0' }],
    });
  });

  it('applies each file once when two instances start at the same time', async () => {
    const schema = `${base}_b`;
    const results = await Promise.all([
      migrate(poolFor(schema), schema, MIGRATIONS_DIR),
      migrate(poolFor(schema), schema, MIGRATIONS_DIR),
    ]);
    expect(results.flat().sort()).toEqual(MIGRATION_FILES);
  });
});
