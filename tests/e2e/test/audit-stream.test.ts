// GET /api/audit/stream: the live audit feed over Server-Sent Events (docs/audit-queries.md),
// with calls made through the real gateway.
import { randomUUID } from 'node:crypto';
import { waitFor } from '@sg/testing';
import {
  ADMIN_KEY,
  AGENT_KEY,
  adminsYaml,
  envelope,
  get,
  post,
  startGateway,
  type Gateway,
} from './harness.js';

const ANALYST = 'ann-analyst-key-00000000002';
const VIEWER = 'vic-viewer-key-000000000002';
const EMAIL = 'mad.hatter@example.com';
const MAX_CLIENTS = 4;
const admin = { 'X-Admin-Key': ADMIN_KEY };
let gw: Gateway;

beforeAll(async () => {
  gw = await startGateway({
    env: {
      AUDIT_STREAM_KEEPALIVE_MS: '1000',
      AUDIT_STREAM_MAX_CLIENTS: String(MAX_CLIENTS),
    },
    configure: (c) =>
      c.write(
        'admins.yaml',
        adminsYaml({
          ann: { key: ANALYST, roles: ['analyst'] },
          vic: { key: VIEWER, roles: ['viewer'] },
        }),
      ),
  });
});

afterAll(async () => {
  await gw?.stop();
});

interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

interface Stream {
  res: Response;
  /** Everything received so far. */
  text(): string;
  events(): SseEvent[];
  /** The `call` events' records. */
  calls(): Array<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

/** Opens the stream and reads its body as it arrives, as a browser's EventSource would. */
async function openStream(query = '', headers: Record<string, string> = admin): Promise<Stream> {
  const abort = new AbortController();
  const res = await fetch(`${gw.url}/api/audit/stream${query}`, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: abort.signal,
  });
  let text = '';
  const ended = (async () => {
    if (!res.body) return;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body) text += decoder.decode(chunk, { stream: true });
    } catch {
      /* aborted by close() */
    }
  })();
  const events = () =>
    text
      .split('\n\n')
      .slice(0, -1)
      .flatMap((block) => {
        const e: SseEvent = { event: 'message', data: '' };
        let data = false;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const i = line.indexOf(': ');
          const [field, value] = [line.slice(0, i), line.slice(i + 2)];
          if (field === 'id') e.id = value;
          if (field === 'event') e.event = value;
          if (field === 'data') [e.data, data] = [value, true];
        }
        return data ? [e] : [];
      });
  return {
    res,
    text: () => text,
    events,
    calls: () => events().flatMap((e) => (e.event === 'call' ? [JSON.parse(e.data)] : [])),
    ended,
    close: () => abort.abort(),
  };
}

/** A tool call through the gateway, as an agent makes it; its audit_id and trace id. */
async function call(body: Record<string, unknown>) {
  const res = await post(gw, '/api/tools/call', envelope(body), {
    'X-API-Key': AGENT_KEY,
    'X-Session-Id': 'e2e-stream',
  });
  expect(res.body.audit_id).toEqual(expect.any(String));
  return {
    status: res.status,
    auditId: res.body.audit_id as string,
    traceId: res.headers.get('x-trace-id')!,
  };
}

const heard = (s: Stream, auditId: string) =>
  waitFor(
    async () => s.calls().find((c) => c.audit_id === auditId),
    20_000,
    `call ${auditId} on the stream`,
  );

/** Open streams of the ingress, from its /metrics. */
async function openStreams(): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const m = /^sg_audit_stream_clients (\d+)$/m.exec(text);
  return m ? Number(m[1]) : -1;
}
const noStreams = () =>
  waitFor(
    async () => ((await openStreams()) === 0 ? true : undefined),
    10_000,
    'every stream to close',
  );

it('streams each stored call with its audit_id and trace_id, arguments masked as stored', async () => {
  const s = await openStream();
  try {
    expect(s.res.status).toBe(200);
    expect(s.res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(s.res.headers.get('cache-control')).toBe('no-store');
    expect(s.res.headers.get('x-accel-buffering')).toBe('no');
    expect(s.res.headers.get('x-trace-id')).toEqual(expect.any(String));
    const made = await call({ arguments: { calendar_id: EMAIL, limit: 2 } });
    expect(made.status).toBe(200);
    const record = await heard(s, made.auditId);
    expect(record).toMatchObject({
      audit_id: made.auditId,
      trace_id: made.traceId,
      project: 'default',
      agent_id: 'gpt-4o',
      tool_name: 'calendar.list_events',
      status: 'success',
      http_status: 200,
    });
    expect(record.arguments.limit).toBe(2);
    expect(typeof record.arguments.calendar_id).toBe('string');
    expect(record.arguments.calendar_id).not.toBe(EMAIL);
    expect(s.text()).not.toContain(EMAIL);
    expect(s.text()).not.toContain('mad.hatter');
    // The frame: id, event, one line of data.
    expect(s.text()).toContain(
      `id: ${made.auditId}\nevent: call\ndata: ${JSON.stringify(record)}\n\n`,
    );
    // The same record the records query answers for the call.
    const page = await get(gw, `/api/audit/records?trace_id=${made.traceId}`, admin);
    expect(page.body.records).toEqual([record]);
  } finally {
    s.close();
  }
});

it('sends a client only the calls its filters let through', async () => {
  const denied = await openStream('?tool=db.write_sensitive&status=denied');
  const nobody = await openStream('?agent_id=no-such-agent');
  const all = await openStream();
  try {
    expect([denied.res.status, nobody.res.status, all.res.status]).toEqual([200, 200, 200]);
    const allowed = await call({ arguments: { limit: 1 } });
    const refused = await call({
      tool: 'db.write_sensitive',
      arguments: { table: 't', record: {} },
    });
    expect([allowed.status, refused.status]).toEqual([200, 403]);
    await heard(all, allowed.auditId);
    await heard(all, refused.auditId);
    expect((await heard(denied, refused.auditId)).status).toBe('denied');
    expect(denied.calls().map((c) => c.audit_id)).toEqual([refused.auditId]);
    expect(nobody.calls()).toEqual([]);
  } finally {
    for (const s of [denied, nobody, all]) s.close();
  }
});

it('audits the opening of a stream once, with its filters', async () => {
  const agent = `audited-${randomUUID().slice(0, 8)}`;
  const s = await openStream(`?agent_id=${agent}`);
  s.close();
  const rows = () =>
    gw.db.query<{ data: Record<string, any> }>( // eslint-disable-line @typescript-eslint/no-explicit-any
      `SELECT data FROM audit_events WHERE subject = 'gw.evt.admin.action.v1'
         AND data->>'path' = '/api/audit/stream' AND data->'detail'->'filter'->>'agent_id' = $1`,
      [agent],
    );
  const first = await waitFor(
    async () => ((await rows()).rows.length > 0 ? (await rows()).rows : undefined),
    10_000,
    'the admin.action record of the stream',
  );
  expect(first[0]!.data).toMatchObject({
    principal: 'bootstrap',
    permission: 'audit.read',
    method: 'GET',
    http_status: 200,
    code: null,
    detail: { filter: { agent_id: agent } },
  });
  await new Promise((r) => setTimeout(r, 1000));
  expect((await rows()).rows).toHaveLength(1);
});

it('refuses a request without credentials (401), without audit.read (403) and with a bad filter (400)', async () => {
  const none = await get(gw, '/api/audit/stream');
  expect([none.status, none.body.error.code]).toEqual([401, 'AUTH.ADMIN_KEY_REQUIRED']);
  const viewer = await get(gw, '/api/audit/stream', { 'X-Admin-Key': VIEWER });
  expect([viewer.status, viewer.body.error.code]).toEqual([403, 'AUTH.ADMIN_ROLE_REQUIRED']);
  expect(viewer.body.error.message).toMatch(/needs audit\.read/);
  for (const [query, message] of [
    ['?status=ok', /status must be one of success, pending_approval/],
    ['?from=2026-01-01', /unknown parameter "from"; use project, agent_id, tool, status/],
    ['?tool=a&tool=b', /given 2 times/],
  ] as const) {
    const bad = await get(gw, `/api/audit/stream${query}`, admin);
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/^application\/json/);
    expect(bad.body.error.code).toBe('AUDIT.INVALID_QUERY');
    expect(bad.body.error.message).toMatch(message);
  }
  // The analyst's key may (audit.read).
  const analyst = await openStream('', { 'X-Admin-Key': ANALYST });
  expect(analyst.res.status).toBe(200);
  analyst.close();
});

it("ends a dashboard session's stream when the session is logged out", async () => {
  const login = await post(gw, '/dash/api/session', {}, { 'X-Admin-Key': ANALYST });
  expect(login.status).toBe(201);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  const s = await openStream('', { cookie });
  try {
    expect(s.res.status).toBe(200);
    const made = await call({ arguments: { limit: 3 } });
    await heard(s, made.auditId);
    const out = await fetch(`${gw.url}/dash/api/session`, {
      method: 'DELETE',
      headers: { cookie, 'X-CSRF-Token': login.body.csrf_token as string },
    });
    expect(out.status).toBe(204);
    // The next keep-alive tick (1 s here) finds the session gone and ends the stream.
    await Promise.race([
      s.ended,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('the stream outlived its session')), 10_000),
      ),
    ]);
    const end = s.events().find((e) => e.event === 'end');
    expect(JSON.parse(end!.data)).toMatchObject({ code: 'AUTH.SESSION_INVALID' });
    // The cookie opens no new stream.
    const again = await get(gw, '/api/audit/stream', { cookie });
    expect([again.status, again.body.error.code]).toEqual([401, 'AUTH.SESSION_INVALID']);
  } finally {
    s.close();
  }
});

it(`serves at most AUDIT_STREAM_MAX_CLIENTS (${MAX_CLIENTS}) streams: 503 AUDIT.STREAM_LIMIT beyond`, async () => {
  await noStreams();
  const streams: Stream[] = [];
  try {
    for (let i = 0; i < MAX_CLIENTS; i++) streams.push(await openStream());
    expect(streams.map((s) => s.res.status)).toEqual(Array(MAX_CLIENTS).fill(200));
    const over = await get(gw, '/api/audit/stream', admin);
    expect(over.status).toBe(503);
    expect(over.body.error.code).toBe('AUDIT.STREAM_LIMIT');
    expect(over.body.error.message).toMatch(/AUDIT_STREAM_MAX_CLIENTS/);
    streams.pop()!.close();
    await waitFor(
      async () => ((await openStreams()) === MAX_CLIENTS - 1 ? true : undefined),
      10_000,
      'a place to free',
    );
    streams.push(await openStream());
    expect(streams.at(-1)!.res.status).toBe(200);
  } finally {
    for (const s of streams) s.close();
  }
});
