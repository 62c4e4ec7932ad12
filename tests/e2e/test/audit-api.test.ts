import { randomUUID } from 'node:crypto';
import { waitFor } from '@sg/testing';
import {
  ADMIN_KEY,
  AGENT_KEY,
  envelope,
  get,
  post,
  startGateway,
  type Gateway,
} from './harness.js';

// The audit admin API (docs/audit-queries.md) over calls made through the real gateway.
let gw: Gateway;
const admin = { 'X-Admin-Key': ADMIN_KEY };
const SESSION = `e2e-audit-${randomUUID().slice(0, 8)}`;
const EMAIL = 'alice.liddell@example.com';
const SEED_003_FIELDS = [
  'timestamp',
  'user_id',
  'tenant_id',
  'tool_name',
  'arguments',
  'result',
  'validation',
  'execution_time_ms',
  'error',
  'status',
];
/** audit_id of each call made in beforeAll. */
const calls: Record<'withEmail' | 'plain' | 'denied' | 'otherSession', string> = {
  withEmail: '',
  plain: '',
  denied: '',
  otherSession: '',
};

async function call(body: Record<string, unknown>, session: string): Promise<string> {
  const res = await post(gw, '/api/tools/call', envelope(body), {
    'X-API-Key': AGENT_KEY,
    'X-Session-Id': session,
    'X-User-Id': 'user-42',
  });
  expect(res.body.audit_id).toBeDefined();
  // The trail keeps occurred_at to the millisecond (it is hashed as an ISO string), and calls of
  // one millisecond order by event id: a later call of the same millisecond may list first.
  // The calls here are a few milliseconds apart, so that their order is their time's.
  await new Promise((r) => setTimeout(r, 5));
  return res.body.audit_id as string;
}

async function fetchText(path: string, headers: Record<string, string> = admin) {
  const res = await fetch(`${gw.url}${path}`, { headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

beforeAll(async () => {
  // A second configured project, for a session looked up in the wrong project.
  gw = await startGateway({ configure: (c) => c.write('policies/other.yaml', 'rules: []\n') });
  calls.withEmail = await call({ arguments: { calendar_id: EMAIL, limit: 2 } }, SESSION);
  calls.plain = await call({ arguments: { limit: 1 } }, SESSION);
  calls.denied = await call(
    { tool: 'db.write_sensitive', arguments: { table: 't', record: {} } },
    SESSION,
  );
  calls.otherSession = await call({ arguments: {} }, `${SESSION}-b`);
  // The audit consumer stores the calls within moments; wait until the records query has them all.
  await waitFor(
    async () => {
      const res = await get(gw, `/api/audit/records?session_id=${SESSION}`, admin);
      return res.status === 200 && res.body.records.length === 3 ? true : undefined;
    },
    20_000,
    'the three calls of the session in /api/audit/records',
  );
});

afterAll(async () => {
  await gw?.stop();
});

describe('GET /api/audit/records', () => {
  it('finds calls by agent, tool and status', async () => {
    const ok = await get(
      gw,
      '/api/audit/records?agent_id=gpt-4o&tool=calendar.list_events&status=success',
      admin,
    );
    expect(ok.status).toBe(200);
    const okIds = ok.body.records.map((r: { audit_id: string }) => r.audit_id);
    expect(okIds).toEqual(expect.arrayContaining([calls.withEmail, calls.plain]));
    expect(okIds).not.toContain(calls.denied);
    expect(
      ok.body.records.every(
        (r: { status: string; tool_name: string }) =>
          r.status === 'success' && r.tool_name === 'calendar.list_events',
      ),
    ).toBe(true);

    const denied = await get(
      gw,
      `/api/audit/records?status=denied&tool=db.write_sensitive&session_id=${SESSION}`,
      admin,
    );
    expect(denied.body.records).toHaveLength(1);
    expect(denied.body.records[0]).toMatchObject({
      audit_id: calls.denied,
      status: 'denied',
      error: { code: 'POLICY.TOOL_NOT_ALLOWED', http_status: 403 },
      validation: { allowed: false, code: 'POLICY.TOOL_NOT_ALLOWED' },
      execution_time_ms: null,
    });
  });

  it('pages with a cursor', async () => {
    const first = await get(gw, `/api/audit/records?session_id=${SESSION}&limit=2`, admin);
    expect(first.body.records).toHaveLength(2);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await get(
      gw,
      `/api/audit/records?session_id=${SESSION}&limit=2&cursor=${first.body.next_cursor}`,
      admin,
    );
    expect(second.body).toMatchObject({ next_cursor: null, records: [{ audit_id: calls.denied }] });
    expect(
      [...first.body.records, ...second.body.records].map((r: { audit_id: string }) => r.audit_id),
    ).toEqual([calls.withEmail, calls.plain, calls.denied]);
  });

  it.each([
    [
      '/api/audit/records?limit=0',
      'AUDIT.INVALID_QUERY',
      /limit must be an integer from 1 to 1000/,
    ],
    ['/api/audit/records?agent=gpt-4o', 'AUDIT.INVALID_QUERY', /unknown parameter "agent"/],
    ['/api/audit/records?status=ok', 'AUDIT.INVALID_QUERY', /status must be one of success/],
    ['/api/audit/records?from=2026-02-30', 'AUDIT.INVALID_QUERY', /from must be an ISO 8601 time/],
    ['/api/audit/records?tool=a&tool=b', 'AUDIT.INVALID_QUERY', /given 2 times/],
    ['/api/audit/records?cursor=not-a-cursor', 'AUDIT.INVALID_CURSOR', /next_cursor/],
    ['/api/alerts?type=spike', 'AUDIT.INVALID_QUERY', /type must be one of/],
    ['/api/audit/verify', 'AUDIT.INVALID_QUERY', /project is required/],
    ['/api/audit/export?limit=5', 'AUDIT.INVALID_QUERY', /unknown parameter "limit"/],
  ])('answers 400 to %s', async (path, code, message) => {
    const res = await get(gw, path, admin);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.message).toMatch(message);
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.(ts|js):\d+/);
  });
});

describe('GET /api/audit/export', () => {
  it("streams one JSON line per call with seed 003's fields, and no raw email address", async () => {
    const res = await fetchText(`/api/audit/export?session_id=${SESSION}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename="audit-all-\d{4}-\d\d-\d\d\.jsonl"$/,
    );
    const lines = res.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.audit_id)).toEqual([calls.withEmail, calls.plain, calls.denied]);
    for (const line of lines)
      expect(Object.keys(line)).toEqual(expect.arrayContaining(SEED_003_FIELDS));
    expect(lines[0]).toMatchObject({
      user_id: 'user-42',
      tenant_id: 'default',
      tool_name: 'calendar.list_events',
      status: 'success',
      error: null,
    });
    expect(lines[0]!.execution_time_ms).toEqual(expect.any(Number));
    expect(lines[0]!.result).toEqual(expect.objectContaining({ events: expect.any(Array) }));
    // Redacted at ingest: the address is masked in the arguments, and appears nowhere.
    const args = lines[0]!.arguments as { calendar_id: string; limit: number };
    expect(args.limit).toBe(2);
    expect(typeof args.calendar_id).toBe('string');
    expect(args.calendar_id).not.toBe(EMAIL);
    expect(res.text).not.toContain(EMAIL);
    expect(res.text).not.toContain('alice.liddell');
  });

  it('names the file after the project and pages through more records than one page holds', async () => {
    // 1,200 calls stored straight into the table (the chain columns are not under test here).
    await gw.db.query(
      `INSERT INTO audit_events (project, chain_seq, event_id, subject, source, trace_id, occurred_at, stream_seq, data, stored_at, prev_hash, hash)
       SELECT 'e2e-bulk', g, gen_random_uuid(), 'gw.evt.toolcall.completed.v1', 'ingress', 'trace-bulk-' || g,
              timestamptz '2026-01-01T00:00:00Z' + g * interval '1 millisecond', 1000000 + g,
              jsonb_build_object('channel', 'rest', 'agent_id', 'gpt-4o', 'session_id', 'bulk', 'request_id', 'r' || g, 'tool', 'calendar.list_events',
                                 'outcome', 'denied', 'http_status', 403, 'code', 'POLICY.TOOL_NOT_ALLOWED', 'risk_score', 0, 'duration_ms', 1),
              now(), repeat('a', 64), repeat('b', 64)
         FROM generate_series(1, 1200) AS g`,
    );
    const res = await fetchText('/api/audit/export?project=e2e-bulk');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toMatch(
      /filename="audit-e2e-bulk-\d{4}-\d\d-\d\d\.jsonl"/,
    );
    const lines = res.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { request_id: string; error: unknown });
    expect(lines).toHaveLength(1200);
    expect(lines.map((l) => l.request_id)).toEqual(
      Array.from({ length: 1200 }, (_, i) => `r${i + 1}`),
    );
  });
});

describe('GET /api/session/:sid', () => {
  it("lists the session's calls and their events", async () => {
    const res = await get(gw, `/api/session/${SESSION}`, admin);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      project: 'default',
      session_id: SESSION,
      agent_ids: ['gpt-4o'],
      counts: { success: 2, denied: 1 },
      truncated: false,
    });
    expect(res.body.calls.map((c: { audit_id: string }) => c.audit_id)).toEqual([
      calls.withEmail,
      calls.plain,
      calls.denied,
    ]);
    const subjects = res.body.events.map((e: { subject: string }) => e.subject);
    expect(subjects.filter((s: string) => s === 'gw.evt.toolcall.completed.v1')).toHaveLength(3);
    // Each call's decision (ADR 0010) and, for the calls that ran, the run (ADR 0011) are in its completed event.
    const ran = res.body.events.filter((e: { data: { execution?: unknown } }) => e.data.execution);
    expect(ran.map((e: { event_id: string }) => e.event_id).sort()).toEqual(
      [calls.withEmail, calls.plain].sort(),
    );
    const denied = res.body.events.find((e: { event_id: string }) => e.event_id === calls.denied);
    expect(denied.data.decision).toMatchObject({ allowed: false });
    expect(JSON.stringify(res.body)).not.toContain(EMAIL);
  });

  it('answers 404 AUDIT.SESSION_NOT_FOUND for an unknown session or another project, REQUEST.UNKNOWN_PROJECT for an unconfigured one', async () => {
    expect(await get(gw, '/api/session/no-such-session', admin)).toMatchObject({
      status: 404,
      body: { error: { code: 'AUDIT.SESSION_NOT_FOUND' } },
    });
    expect(
      await get(gw, `/api/session/${SESSION}`, { ...admin, 'X-Project-ID': 'other' }),
    ).toMatchObject({ status: 404, body: { error: { code: 'AUDIT.SESSION_NOT_FOUND' } } });
    expect(
      await get(gw, `/api/session/${SESSION}`, { ...admin, 'X-Project-ID': 'not-configured' }),
    ).toMatchObject({ status: 404, body: { error: { code: 'REQUEST.UNKNOWN_PROJECT' } } });
    expect(
      await get(gw, `/api/session/${SESSION}`, { ...admin, 'X-Project-ID': '../etc' }),
    ).toMatchObject({ status: 400, body: { error: { code: 'REQUEST.INVALID_PROJECT' } } });
  });
});

describe('GET /api/alerts', () => {
  it('answers a page of alerts', async () => {
    const res = await get(gw, '/api/alerts?limit=10', admin);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['alerts', 'next_cursor']);
    expect(Array.isArray(res.body.alerts)).toBe(true);
  });
});

describe('GET /api/audit/verify and /api/audit/checkpoints', () => {
  it("answer the project's chain report and checkpoints", async () => {
    const verify = await get(gw, '/api/audit/verify?project=default', admin);
    expect(verify.status).toBe(200);
    expect(verify.body).toMatchObject({ project: 'default', ok: true });
    const checkpoints = await get(gw, '/api/audit/checkpoints?project=default', admin);
    expect(checkpoints.status).toBe(200);
    expect(checkpoints.body).toMatchObject({ project: 'default', checkpoints: expect.any(Array) });
  });
});

describe('the admin key', () => {
  it.each([
    `/api/audit/records`,
    `/api/audit/export`,
    `/api/session/${SESSION}`,
    `/api/alerts`,
    `/api/audit/verify?project=default`,
    `/api/audit/checkpoints?project=default`,
  ])('is required by %s', async (path) => {
    expect(await get(gw, path)).toMatchObject({
      status: 401,
      body: { error: { code: 'AUTH.ADMIN_KEY_REQUIRED' } },
    });
    expect(await get(gw, path, { 'X-Admin-Key': AGENT_KEY })).toMatchObject({ status: 401 });
  });
});
