import { randomUUID } from 'node:crypto';
import {
  AUDIT_ALERTS_SUBJECT,
  AUDIT_RECORDS_SUBJECT,
  AUDIT_SESSION_SUBJECT,
  type AuditRecord,
  DECISION_MADE,
  type RecordsQuery,
  type StoredAlert,
  TOOLCALL_COMPLETED,
  TOOLCALL_EXECUTED,
  TOOLCALL_RECEIVED,
} from '@sg/contracts';
import type { NatsBus, MessageContext } from '@sg/messaging';
import { createPgPool, type Pool } from '@sg/runtime';
import { freePort, isolate, TEST_SERVERS, type Isolation } from '@sg/testing';
import { AlertsService } from '../src/query/alerts.service.js';
import { encodeCursor } from '../src/query/cursor.js';
import { QueryController } from '../src/query/query.controller.js';
import { RecordsService, SESSION_CALLS } from '../src/query/records.service.js';
import { alertOf, failure } from './fixtures.js';
import { connectBus, startAuditModule } from './support.js';

const ctx: MessageContext = { traceId: 'trace-query-test', project: 'default' };
const BASE = Date.parse('2026-03-01T10:00:00.000Z');
const at = (ms: number) => new Date(BASE + ms).toISOString();

/** The query handlers of one audit instance; `pool` replaces the real PostgreSQL pool when given. */
function startQueries(iso: Isolation, pool?: Pool) {
  return startAuditModule(iso, {
    requestTimeoutMs: 5000,
    pool,
    controllers: [QueryController],
    providers: [RecordsService, AlertsService],
  });
}

/** The asking side (what the ingress does). */
async function client(iso: Isolation) {
  return connectBus(iso, 'ingress', 5000);
}

interface EventSpec {
  project: string;
  subject: string;
  trace_id: string;
  at: string;
  data: unknown;
  source?: string;
  event_id?: string;
}

/** Rows as the ingest writes them; the chain columns are dummies (the chain is not under test). */
class AuditRows {
  private readonly seq = new Map<string, number>();
  private streamSeq = 0;
  constructor(readonly sql: Pool) {}

  async insert(events: EventSpec[]): Promise<string[]> {
    const ids: string[] = [];
    for (const e of events) {
      const chainSeq = (this.seq.get(e.project) ?? 0) + 1;
      this.seq.set(e.project, chainSeq);
      const id = e.event_id ?? randomUUID();
      ids.push(id);
      await this.sql.query(
        `INSERT INTO audit_events (project, chain_seq, event_id, subject, source, trace_id, occurred_at, stream_seq, data, stored_at, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), $10, $11)`,
        [
          e.project,
          chainSeq,
          id,
          e.subject,
          e.source ?? 'ingress',
          e.trace_id,
          e.at,
          ++this.streamSeq,
          JSON.stringify(e.data),
          'a'.repeat(64),
          'b'.repeat(64),
        ],
      );
    }
    return ids;
  }
}

interface CallSpec {
  project?: string;
  trace: string;
  agent: string;
  tool: string;
  session: string;
  user?: string;
  outcome: 'allowed' | 'pending_approval' | 'denied' | 'rejected' | 'error';
  http: number;
  code?: string | null;
  /** ms after BASE of the received event; the others follow 1 ms apart. */
  t: number;
  args?: Record<string, unknown>;
  result?: unknown;
  risk?: number;
  /** executed: ok, error (with this code), or not run. */
  executed?: 'ok' | string | null;
  /**
   * As the gateway publishes now (ADR 0010): the completed event carries the call and its
   * decision, with no received or decision event. Otherwise as stored before.
   */
  story?: boolean;
}

function decision(spec: CallSpec) {
  const allowed = spec.outcome !== 'denied';
  return {
    allowed,
    code: allowed ? null : spec.code,
    reason: allowed ? 'allowed by rule 0' : 'the tool is not allowed for this model',
    rule_trace: [],
    reasoning: [],
    suggestions: [],
    risk_score: spec.risk ?? 0.1,
    requires_approval: spec.outcome === 'pending_approval',
    policy_version: 'abcdef012345',
  };
}

/** A call's events, as ingress, policy and executor publish them. Returns the events; the last is the completed one. */
function callEvents(spec: CallSpec): EventSpec[] {
  const project = spec.project ?? 'acme';
  const id = {
    agent_id: spec.agent,
    session_id: spec.session,
    request_id: `req-${spec.trace}`,
    tool: spec.tool,
  };
  const base = { project, trace_id: spec.trace };
  const events: EventSpec[] = [];
  if (spec.outcome !== 'rejected' && !spec.story) {
    events.push({
      ...base,
      subject: TOOLCALL_RECEIVED,
      at: at(spec.t),
      data: {
        channel: 'rest',
        ...id,
        agent_version: null,
        user_id: spec.user ?? null,
        arguments: spec.args ?? {},
      },
    });
    events.push({
      ...base,
      subject: DECISION_MADE,
      source: 'policy',
      at: at(spec.t + 1),
      data: { ...id, decision: decision(spec) },
    });
  }
  if (spec.executed) {
    const ok = spec.executed === 'ok';
    events.push({
      ...base,
      subject: TOOLCALL_EXECUTED,
      source: 'executor',
      at: at(spec.t + 2),
      data: {
        agent_id: spec.agent,
        request_id: id.request_id,
        tool: spec.tool,
        status: ok ? 'ok' : 'error',
        duration_ms: 12.5,
        upstream_status: ok ? 200 : null,
        error_code: ok ? null : spec.executed,
        ...(ok ? { result: spec.result ?? { ok: true } } : {}),
      },
    });
  }
  const rejected = spec.outcome === 'rejected';
  events.push({
    ...base,
    subject: TOOLCALL_COMPLETED,
    at: at(spec.t + 3),
    data: {
      channel: 'rest',
      agent_id: rejected ? null : spec.agent,
      session_id: rejected ? null : spec.session,
      request_id: rejected ? null : id.request_id,
      tool: rejected ? null : spec.tool,
      outcome: spec.outcome,
      http_status: spec.http,
      code: spec.code ?? null,
      risk_score: rejected ? null : (spec.risk ?? 0.1),
      duration_ms: 20,
      ...(spec.story && !rejected
        ? {
            agent_version: null,
            user_id: spec.user ?? null,
            arguments: spec.args ?? {},
            decision: decision(spec),
          }
        : {}),
    },
  });
  return events;
}

describe('audit queries against real NATS and PostgreSQL', () => {
  const iso = isolate('audq');
  let audit: Awaited<ReturnType<typeof startQueries>>;
  let bus: NatsBus;
  let sql: Pool;
  let rows: AuditRows;
  /** audit_id of each named call. */
  const ids: Record<string, string> = {};

  const records = async (query: Partial<RecordsQuery>) =>
    (await bus.request(AUDIT_RECORDS_SUBJECT, { limit: 100, ...query }, ctx)).records;
  const names = (list: AuditRecord[]) =>
    list.map((r) => Object.entries(ids).find(([, id]) => id === r.audit_id)?.[0] ?? r.audit_id);

  const calls: Record<string, CallSpec> = {
    ok: {
      trace: 'trace-ok-0001',
      agent: 'gpt-4o',
      tool: 'calendar.list_events',
      session: 's-1',
      user: 'u-1',
      outcome: 'allowed',
      http: 200,
      t: 1000,
      args: { limit: 5 },
      result: { events: ['standup'] },
      executed: 'ok',
      story: true,
    },
    denied: {
      trace: 'trace-denied-01',
      agent: 'claude',
      tool: 'crm.lookup',
      session: 's-1',
      outcome: 'denied',
      http: 403,
      code: 'POLICY.TOOL_NOT_ALLOWED',
      t: 2000,
      risk: 0.7,
    },
    failed: {
      trace: 'trace-failed-01',
      agent: 'gpt-4o',
      tool: 'crm.lookup',
      session: 's-2',
      outcome: 'error',
      http: 504,
      code: 'EXECUTOR.UPSTREAM_TIMEOUT',
      t: 3000,
      executed: 'EXECUTOR.UPSTREAM_TIMEOUT',
    },
    other: {
      project: 'beta',
      trace: 'trace-beta-0001',
      agent: 'gpt-4o',
      tool: 'calendar.list_events',
      session: 's-1',
      outcome: 'allowed',
      http: 200,
      t: 4000,
      executed: 'ok',
    },
    unauth: {
      trace: 'trace-unauth-01',
      agent: '',
      tool: '',
      session: '',
      outcome: 'rejected',
      http: 401,
      code: 'AUTH.MISSING_KEY',
      t: 5000,
    },
  };

  beforeAll(async () => {
    audit = await startQueries(iso);
    bus = await client(iso);
    sql = createPgPool(TEST_SERVERS.databaseUrl, iso.schema, 2);
    rows = new AuditRows(sql);
    for (const [name, spec] of Object.entries(calls)) {
      const inserted = await rows.insert(callEvents(spec));
      ids[name] = inserted.at(-1)!;
    }
    // An approved call: 202 pending_approval, then run after an admin approved it, under one trace.
    const approval = { trace_id: 'trace-approval1', project: 'acme' };
    const who = {
      agent_id: 'gpt-4o',
      session_id: 's-2',
      request_id: 'req-approval',
      tool: 'db.write_sensitive',
    };
    const pending = callEvents({
      trace: 'trace-approval1',
      agent: 'gpt-4o',
      tool: 'db.write_sensitive',
      session: 's-2',
      user: 'u-9',
      outcome: 'pending_approval',
      http: 202,
      t: 6000,
      args: { table: 'orders' },
      risk: 0.6,
    });
    pending.forEach((e) => (e.data = { ...(e.data as object), request_id: 'req-approval' }));
    const approvalIds = await rows.insert([
      ...pending,
      {
        ...approval,
        subject: TOOLCALL_EXECUTED,
        source: 'executor',
        at: at(60_000),
        data: {
          ...who,
          status: 'ok',
          duration_ms: 33,
          upstream_status: 200,
          error_code: null,
          result: { written: 1 },
        },
      },
      {
        ...approval,
        subject: TOOLCALL_COMPLETED,
        at: at(60_001),
        data: {
          channel: 'rest',
          ...who,
          outcome: 'allowed',
          http_status: 200,
          code: null,
          risk_score: 0.6,
          duration_ms: 40,
        },
      },
    ]);
    ids.pending = approvalIds[pending.length - 1]!;
    ids.approved = approvalIds.at(-1)!;
    // Clock skew: the executor's clock runs ahead, so its event claims a time after the answer's.
    const skewed = callEvents({
      trace: 'trace-skewed-01',
      agent: 'gpt-4o',
      tool: 'calendar.list_events',
      session: 's-3',
      outcome: 'allowed',
      http: 200,
      t: 70_000,
      executed: 'ok',
      result: { skewed: true },
    });
    skewed.find((e) => e.subject === TOOLCALL_EXECUTED)!.at = at(70_010);
    ids.skewed = (await rows.insert(skewed)).at(-1)!;
  });

  afterAll(async () => {
    await audit?.close();
    await bus?.close();
    await sql?.end();
    await iso.cleanup();
  });

  describe('records', () => {
    it("answers one record per call, oldest first, with seed 003's fields", async () => {
      const all = await records({});
      expect(names(all)).toEqual([
        'ok',
        'denied',
        'failed',
        'other',
        'unauth',
        'pending',
        'approved',
        'skewed',
      ]);
      const ok = all[0]!;
      expect(ok).toEqual({
        audit_id: ids.ok,
        trace_id: 'trace-ok-0001',
        project: 'acme',
        timestamp: at(1003),
        channel: 'rest',
        agent_id: 'gpt-4o',
        session_id: 's-1',
        request_id: 'req-trace-ok-0001',
        user_id: 'u-1',
        tenant_id: 'acme',
        tool_name: 'calendar.list_events',
        arguments: { limit: 5 },
        result: { events: ['standup'] },
        validation: {
          allowed: true,
          code: null,
          reason: 'allowed by rule 0',
          risk_score: 0.1,
          requires_approval: false,
          policy_version: 'abcdef012345',
        },
        execution_time_ms: 12.5,
        error: null,
        status: 'success',
        http_status: 200,
      });
    });

    it('gives refusals and failures their code, HTTP status and what ran', async () => {
      const [denied] = await records({ trace_id: 'trace-denied-01' });
      expect(denied).toMatchObject({
        status: 'denied',
        error: { code: 'POLICY.TOOL_NOT_ALLOWED', http_status: 403 },
        validation: { allowed: false, code: 'POLICY.TOOL_NOT_ALLOWED' },
        execution_time_ms: null,
        result: null,
      });
      const [failed] = await records({ trace_id: 'trace-failed-01' });
      expect(failed).toMatchObject({
        status: 'error',
        error: { code: 'EXECUTOR.UPSTREAM_TIMEOUT', http_status: 504 },
        execution_time_ms: 12.5,
        result: null,
      });
      const [unauth] = await records({ trace_id: 'trace-unauth-01' });
      expect(unauth).toMatchObject({
        status: 'rejected',
        error: { code: 'AUTH.MISSING_KEY', http_status: 401 },
        agent_id: null,
        user_id: null,
        arguments: null,
        validation: null,
      });
    });

    it.each<[string, Partial<RecordsQuery>, string[]]>([
      [
        'project',
        { project: 'acme' },
        ['ok', 'denied', 'failed', 'unauth', 'pending', 'approved', 'skewed'],
      ],
      ['trace_id', { trace_id: 'trace-ok-0001' }, ['ok']],
      ['session_id', { session_id: 's-1' }, ['ok', 'denied', 'other']],
      [
        'agent_id',
        { agent_id: 'gpt-4o' },
        ['ok', 'failed', 'other', 'pending', 'approved', 'skewed'],
      ],
      ['tool', { tool: 'crm.lookup' }, ['denied', 'failed']],
      ['status success', { status: 'success' }, ['ok', 'other', 'approved', 'skewed']],
      ['status denied', { status: 'denied' }, ['denied']],
      ['status pending_approval', { status: 'pending_approval' }, ['pending']],
      [
        'from (inclusive)',
        { from: at(4003) },
        ['other', 'unauth', 'pending', 'approved', 'skewed'],
      ],
      ['to (exclusive)', { to: at(4003) }, ['ok', 'denied', 'failed']],
      ['from and to', { from: at(2000), to: at(5003) }, ['denied', 'failed', 'other']],
      ['project and session', { project: 'acme', session_id: 's-1' }, ['ok', 'denied']],
      [
        'project, agent and status',
        { project: 'acme', agent_id: 'gpt-4o', status: 'error' },
        ['failed'],
      ],
      ['tool and a time range matching none', { tool: 'crm.lookup', from: at(5000) }, []],
    ])('filters by %s', async (_what, query, expected) => {
      expect(names(await records(query))).toEqual(expected);
    });

    it("builds each of an approved call's two records from the events that led to it", async () => {
      const [pending, approved] = await records({ trace_id: 'trace-approval1' });
      expect(pending).toMatchObject({
        audit_id: ids.pending,
        status: 'pending_approval',
        http_status: 202,
        error: null,
        user_id: 'u-9',
        arguments: { table: 'orders' },
        validation: { requires_approval: true, allowed: true },
        execution_time_ms: null,
        result: null,
      });
      expect(approved).toMatchObject({
        audit_id: ids.approved,
        status: 'success',
        http_status: 200,
        user_id: 'u-9',
        arguments: { table: 'orders' },
        validation: { requires_approval: true },
        execution_time_ms: 33,
        result: { written: 1 },
      });
    });

    it("finds a call's execution even when the executor's clock is ahead", async () => {
      const [skewed] = await records({ trace_id: 'trace-skewed-01' });
      expect(skewed).toMatchObject({
        status: 'success',
        result: { skewed: true },
        execution_time_ms: 12.5,
      });
    });

    it('refuses a cursor it did not make with AUDIT.INVALID_CURSOR', async () => {
      for (const cursor of [
        'garbage',
        Buffer.from('{"offset":100}').toString('base64url'),
        encodeCursor('alerts', { at: '2026-03-01T10:00:00.000000Z', id: randomUUID() }),
      ]) {
        const err = await failure(bus.request(AUDIT_RECORDS_SUBJECT, { cursor, limit: 10 }, ctx));
        expect(err.code).toBe('AUDIT.INVALID_CURSOR');
        expect(err.message).toMatch(/next_cursor/);
      }
    });

    it('refuses a time range that ends before it starts', async () => {
      const err = await failure(
        bus.request(AUDIT_RECORDS_SUBJECT, { from: at(5000), to: at(1000), limit: 10 }, ctx),
      );
      expect(err).toMatchObject({
        code: 'AUDIT.INVALID_QUERY',
        message: expect.stringMatching(/from.*earlier than.*to/),
      });
    });
  });

  describe('pagination', () => {
    const N = 250;
    const expected: string[] = [];

    beforeAll(async () => {
      // Groups of five calls share one instant, and neighbours differ by a millisecond or so (the
      // precision the trail stores): the cursor must keep both the tie-break and the time exactly.
      const events: EventSpec[] = [];
      for (let i = 0; i < N; i++) {
        const millis = String(Math.floor(i / 5) * 7).padStart(3, '0');
        const occurred = `2026-04-01T00:00:00.${millis}Z`;
        const id = randomUUID();
        events.push({
          project: 'bulk',
          subject: TOOLCALL_COMPLETED,
          trace_id: `trace-bulk-${i}`,
          at: occurred,
          event_id: id,
          data: {
            channel: 'mcp',
            agent_id: i % 2 ? 'bulk-odd' : 'bulk-even',
            session_id: 'bulk',
            request_id: `r${i}`,
            tool: 'bulk.tool',
            outcome: 'denied',
            http_status: 403,
            code: 'POLICY.TOOL_NOT_ALLOWED',
            risk_score: 0,
            duration_ms: 1,
          },
        });
        expected.push(`${occurred}|${id}`);
      }
      // Inserted in a shuffled order, so that insertion order cannot pass for sort order.
      const shuffled = events.map((e, i) => ({ e, k: (i * 7919) % N })).sort((a, b) => a.k - b.k);
      await rows.insert(shuffled.map((s) => s.e));
      expected.sort();
    });

    it(`walks ${N} records in pages of 100: 3 pages, in order, none twice, none missing`, async () => {
      const pages: AuditRecord[][] = [];
      let cursor: string | undefined;
      do {
        const page = await bus.request(
          AUDIT_RECORDS_SUBJECT,
          { project: 'bulk', limit: 100, ...(cursor ? { cursor } : {}) },
          ctx,
        );
        pages.push(page.records);
        cursor = page.next_cursor ?? undefined;
      } while (cursor && pages.length < 10);
      expect(pages.map((p) => p.length)).toEqual([100, 100, 50]);
      const seen = pages.flat().map((r) => r.audit_id);
      expect(new Set(seen).size).toBe(N);
      expect(seen).toEqual(expected.map((k) => k.split('|')[1]));
    });

    it('says there is no next page when the last page is exactly full', async () => {
      const page = await bus.request(
        AUDIT_RECORDS_SUBJECT,
        { project: 'bulk', agent_id: 'bulk-even', limit: 125 },
        ctx,
      );
      expect(page.records).toHaveLength(125);
      expect(page.next_cursor).toBeNull();
    });

    it('pages calls with large arguments by size: PostgreSQL sends only what can fit, and paging loses none', async () => {
      const BIG = 12;
      const big: string[] = [];
      for (let i = 0; i < BIG; i++) {
        const events = callEvents({
          project: 'big',
          trace: `trace-big-${String(i).padStart(4, '0')}`,
          agent: 'gpt-4o',
          tool: 'docs.upload',
          session: 'big',
          outcome: 'allowed',
          http: 200,
          t: 500_000 + i * 10,
          args: { blob: 'x'.repeat(200_000) },
          executed: 'ok',
        });
        big.push((await rows.insert(events)).at(-1)!);
      }
      // What PostgreSQL sends for one page of up to 1,000 records within about 1 MB.
      const sent: number[] = [];
      const counting = {
        query: async (text: string, values: unknown[]) => {
          const r = await sql.query(text, values);
          sent.push(r.rows.length);
          return r;
        },
      } as unknown as Pool;
      const first = await new RecordsService(counting).page(
        { project: 'big', limit: 1000 },
        1_000_000,
      );
      expect(sent[0]).toBeLessThanOrEqual(6);
      expect(first.records.length).toBeGreaterThan(0);
      expect(first.next_cursor).not.toBeNull();

      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await bus.request(
          AUDIT_RECORDS_SUBJECT,
          { project: 'big', limit: 1000, ...(cursor ? { cursor } : {}) },
          ctx,
        );
        seen.push(...page.records.map((r) => r.audit_id));
        cursor = page.next_cursor ?? undefined;
        pages++;
      } while (cursor && pages < 20);
      expect(seen).toEqual(big);
      expect(pages).toBeGreaterThan(2);
    });

    it('keeps filters across pages', async () => {
      const first = await bus.request(
        AUDIT_RECORDS_SUBJECT,
        { agent_id: 'bulk-odd', limit: 100 },
        ctx,
      );
      const second = await bus.request(
        AUDIT_RECORDS_SUBJECT,
        { agent_id: 'bulk-odd', limit: 100, cursor: first.next_cursor! },
        ctx,
      );
      expect(second.next_cursor).toBeNull();
      const all = [...first.records, ...second.records];
      expect(all).toHaveLength(125);
      expect(all.every((r) => r.agent_id === 'bulk-odd')).toBe(true);
    });
  });

  describe('session trace', () => {
    it("answers a session's calls in its project only, with totals and every event of its calls in stream order", async () => {
      const trace = await bus.request(
        AUDIT_SESSION_SUBJECT,
        { project: 'acme', session_id: 's-1' },
        ctx,
      );
      expect(trace).toMatchObject({
        project: 'acme',
        session_id: 's-1',
        agent_ids: ['claude', 'gpt-4o'],
        started_at: at(1003),
        last_at: at(2003),
        counts: { success: 1, denied: 1, pending_approval: 0, rejected: 0, error: 0 },
        max_risk_score: 0.7,
        truncated: false,
      });
      expect(trace.calls.map((c) => c.audit_id)).toEqual([ids.ok, ids.denied]);
      expect(trace.calls[0]).toMatchObject({
        user_id: 'u-1',
        status: 'success',
        result: { events: ['standup'] },
      });
      // ok as published now (its story in the completed event), denied as stored before.
      expect(trace.events.map((e) => `${e.trace_id} ${e.subject}`)).toEqual([
        `trace-ok-0001 ${TOOLCALL_EXECUTED}`,
        `trace-ok-0001 ${TOOLCALL_COMPLETED}`,
        `trace-denied-01 ${TOOLCALL_RECEIVED}`,
        `trace-denied-01 ${DECISION_MADE}`,
        `trace-denied-01 ${TOOLCALL_COMPLETED}`,
      ]);
    });

    it('counts both records of an approved call', async () => {
      const trace = await bus.request(
        AUDIT_SESSION_SUBJECT,
        { project: 'acme', session_id: 's-2' },
        ctx,
      );
      expect(trace.counts).toMatchObject({ error: 1, pending_approval: 1, success: 1 });
      expect(trace.calls.map((c) => c.audit_id)).toEqual([ids.failed, ids.pending, ids.approved]);
    });

    it('answers a session of a few hundred calls whole', async () => {
      const trace = await bus.request(
        AUDIT_SESSION_SUBJECT,
        { project: 'bulk', session_id: 'bulk' },
        ctx,
      );
      expect(trace.counts.denied).toBe(250);
      expect(trace.calls).toHaveLength(250);
      expect(trace.events).toHaveLength(250);
      expect(trace.truncated).toBe(false);
    });

    it(`keeps the ${SESSION_CALLS} most recent calls of a longer session, with totals over all, and says it is truncated`, async () => {
      await sql.query(
        `INSERT INTO audit_events (project, chain_seq, event_id, subject, source, trace_id, occurred_at, stream_seq, data, stored_at, prev_hash, hash)
         SELECT 'long', g, gen_random_uuid(), $1, 'ingress', 'trace-long-' || g, timestamptz '2026-05-01T00:00:00Z' + g * interval '1 second', 100000 + g,
                jsonb_build_object('channel', 'rest', 'agent_id', 'gpt-4o', 'session_id', 'long', 'request_id', 'r' || g, 'tool', 'calendar.list_events',
                                   'outcome', 'allowed', 'http_status', 200, 'code', NULL, 'risk_score', 0, 'duration_ms', 1),
                now(), repeat('a', 64), repeat('b', 64)
           FROM generate_series(1, 520) AS g`,
        [TOOLCALL_COMPLETED],
      );
      const trace = await bus.request(
        AUDIT_SESSION_SUBJECT,
        { project: 'long', session_id: 'long' },
        ctx,
      );
      expect(trace.counts.success).toBe(520);
      expect(trace.started_at).toBe('2026-05-01T00:00:01.000Z');
      expect(trace.calls).toHaveLength(SESSION_CALLS);
      expect(trace.calls[0]!.request_id).toBe(`r${520 - SESSION_CALLS + 1}`);
      expect(trace.calls.at(-1)!.request_id).toBe('r520');
      expect(trace.truncated).toBe(true);
    });

    it('answers AUDIT.SESSION_NOT_FOUND for an unknown session, or one of another project', async () => {
      for (const q of [
        { project: 'acme', session_id: 'no-such-session' },
        { project: 'gamma', session_id: 's-1' },
      ]) {
        const err = await failure(bus.request(AUDIT_SESSION_SUBJECT, q, ctx));
        expect(err.code).toBe('AUDIT.SESSION_NOT_FOUND');
        expect(err.message).toContain(q.session_id);
      }
    });
  });

  describe('alerts', () => {
    const alertIds: string[] = [];

    beforeAll(async () => {
      const list = [
        alertOf({ raised_at: at(60_000) }),
        alertOf({
          type: 'new_tool',
          severity: 'low',
          key: 'crm.lookup',
          tool: 'crm.lookup',
          count: 1,
          threshold: null,
          window_s: null,
          raised_at: at(120_000),
        }),
        alertOf({ project: 'beta', key: 'beta', raised_at: at(180_000) }),
        alertOf({
          type: 'high_risk_session',
          key: 's-1',
          session_id: 's-1',
          raised_at: at(240_000),
        }),
        alertOf({ type: 'new_agent', key: 'claude', agent_id: 'claude', raised_at: at(240_000) }),
      ];
      for (const a of list) {
        await sql.query(
          `INSERT INTO alerts (alert_id, project, type, severity, key, raised_at, data, suppressed, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [
            a.alert_id,
            a.project,
            a.type,
            a.severity,
            a.key,
            a.raised_at,
            JSON.stringify(a),
            a.type === 'denial_spike' ? 3 : 0,
            a.raised_at,
          ],
        );
        alertIds.push(a.alert_id);
      }
      await sql.query(
        `INSERT INTO siem_outbox (alert_id, sink, attempts, next_attempt_at, delivered_at, last_error) VALUES
           ($1, 'webhook', 1, now(), '2026-03-01T10:01:01.000Z', NULL),
           ($1, 'syslog', 3, now(), NULL, 'connect ECONNREFUSED 127.0.0.1:514')`,
        [alertIds[0]],
      );
    });

    const byNewest = () => {
      // Newest first; the two raised at the same instant by alert_id, descending.
      const [a0, a1, a2, a3, a4] = alertIds as [string, string, string, string, string];
      return [...[a3, a4].sort().reverse(), a2, a1, a0];
    };

    it('lists alerts newest first, with each sink’s delivery state', async () => {
      const page = await bus.request(AUDIT_ALERTS_SUBJECT, { limit: 100 }, ctx);
      expect(page.next_cursor).toBeNull();
      expect(page.alerts.map((a) => a.alert_id)).toEqual(byNewest());
      const spike = page.alerts.find((a) => a.alert_id === alertIds[0]) as StoredAlert;
      expect(spike).toMatchObject({
        type: 'denial_spike',
        project: 'acme',
        summary: '12 denials in 120 s',
        suppressed: 3,
        last_seen_at: at(60_000),
        trace_ids: ['trace-denied-01'],
        acknowledged: null,
      });
      expect(spike.delivery).toEqual([
        {
          sink: 'syslog',
          delivered_at: null,
          attempts: 3,
          last_error: 'connect ECONNREFUSED 127.0.0.1:514',
        },
        {
          sink: 'webhook',
          delivered_at: '2026-03-01T10:01:01.000Z',
          attempts: 1,
          last_error: null,
        },
      ]);
      expect(page.alerts.find((a) => a.alert_id === alertIds[1])!.delivery).toEqual([]);
    });

    it('pages through alerts two at a time without repeating or missing one', async () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await bus.request(
          AUDIT_ALERTS_SUBJECT,
          { limit: 2, ...(cursor ? { cursor } : {}) },
          ctx,
        );
        seen.push(...page.alerts.map((a) => a.alert_id));
        cursor = page.next_cursor ?? undefined;
        pages++;
      } while (cursor && pages < 10);
      expect(pages).toBe(3);
      expect(seen).toEqual(byNewest());
    });

    it.each<[string, Record<string, string>, number[]]>([
      ['project', { project: 'beta' }, [2]],
      ['type', { type: 'denial_spike' }, [2, 0]],
      ['project and type', { project: 'acme', type: 'denial_spike' }, [0]],
      ['from and to', { from: at(120_000), to: at(240_000) }, [2, 1]],
    ])('filters alerts by %s', async (_what, query, expected) => {
      const page = await bus.request(AUDIT_ALERTS_SUBJECT, { limit: 100, ...query }, ctx);
      expect(page.alerts.map((a) => a.alert_id)).toEqual(expected.map((i) => alertIds[i]));
    });

    it('refuses a records cursor with AUDIT.INVALID_CURSOR', async () => {
      const err = await failure(
        bus.request(
          AUDIT_ALERTS_SUBJECT,
          {
            limit: 10,
            cursor: encodeCursor('records', {
              at: '2026-03-01T10:00:00.000000Z',
              id: randomUUID(),
            }),
          },
          ctx,
        ),
      );
      expect(err.code).toBe('AUDIT.INVALID_CURSOR');
    });
  });
});

describe('audit queries while PostgreSQL is unreachable', () => {
  const iso = isolate('audqd');
  let audit: Awaited<ReturnType<typeof startQueries>>;
  let bus: NatsBus;

  beforeAll(async () => {
    // A pool aimed at a port where nothing listens: every query fails to connect.
    const deadPool = createPgPool(
      `postgres://postgres@127.0.0.1:${await freePort()}/test`,
      iso.schema,
      1,
    );
    audit = await startQueries(iso, deadPool);
    bus = await client(iso);
  });

  afterAll(async () => {
    await audit?.close();
    await bus?.close();
    await iso.cleanup();
  });

  it.each([
    [AUDIT_RECORDS_SUBJECT, { limit: 10 }],
    [AUDIT_SESSION_SUBJECT, { project: 'acme', session_id: 's-1' }],
    [AUDIT_ALERTS_SUBJECT, { limit: 10 }],
  ] as const)('%s answers AUDIT.STORE_UNAVAILABLE, and says to retry', async (subject, query) => {
    const err = await failure(bus.request(subject, query as never, ctx));
    expect(err.code).toBe('AUDIT.STORE_UNAVAILABLE');
    expect(err.message).toMatch(/retry later/);
  });
});
