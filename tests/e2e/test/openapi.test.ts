// The ingress's OpenAPI document (issue 16 §1), served at /openapi.json with Swagger UI at
// /docs (bundled: it works air-gapped), and live answers of the real gateway checked against
// it: every answer below must match the document for its route and status (its content type,
// and its body, or each item of a JSON Lines or SSE answer, against the schema given), and
// every operation of the document must have been answered at least once. The federation
// service's own document likewise.
import { randomUUID } from 'node:crypto';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { Browser } from 'playwright-core';
import {
  ADMIN_KEY,
  AGENT_KEY,
  type Answer,
  envelope,
  get,
  post,
  startGateway,
  type Gateway,
  SIGNING_SEED,
} from './harness.js';
import { launch, openPage } from './browser.js';
import { freePort, mcpInitialize, waitFor } from '@sg/testing';
import { answerSchemaOf } from '@sg/runtime';

const POLICY = [
  'rules:',
  '  - model: gpt-4o',
  '    allow_tools: ["calendar.*", "db.*"]',
  '    requires_approval: ["db.write_*"]',
  'forbidden_fields: [password, api_key, secret, token, private_key]',
  '',
].join('\n');
/** A tool its own server runs, governed through /api/sdk/authorize and /api/sdk/complete. */
const SDK_TOOL = 'calendar.sdk_lookup';
/** OAuth tokens on, so the protected-resource metadata is served (no token is ever sent). */
const OAUTH = {
  OAUTH_ISSUER: 'https://issuer.example.test',
  OAUTH_JWKS_URL: 'https://issuer.example.test/jwks.json',
  OAUTH_AUDIENCE: 'https://gateway.example.test/mcp',
};
/**
 * Operations of the ingress's document no live answer can be had of, each with why. Empty: every
 * operation is exercised below.
 */
const NOT_EXERCISED = new Set<string>();

/** A JSON body (`application/json`, `application/schema+json`), not JSON Lines. */
const JSON_TYPE = /^application\/([\w.-]+\+)?json\b/;

interface Operation {
  responses: Record<string, { content?: Record<string, { schema?: Record<string, unknown> }> }>;
}
type Doc = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: Record<string, unknown>;
};
/** A document, and the operations (`GET /api/trace/{trace_id}`) answered so far, how often. */
interface Checked {
  doc: Doc;
  operations: Map<string, number>;
}
interface SseEvent {
  event: string | undefined;
  data: string;
}

let gw: Gateway;
let browser: Browser;
let federation: string;
let doc: Doc;
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
const compiled = new Map<object, ValidateFunction>();
/** The ingress's operations whose live answers were checked, and how many. */
const ingress: Checked = { doc: {} as Doc, operations: new Map() };
const admin = { 'X-Admin-Key': ADMIN_KEY };
const agent = { 'X-API-Key': AGENT_KEY };
const mcp = { ...agent, accept: 'application/json, text/event-stream' };
const INITIALIZE = mcpInitialize('openapi-test');

beforeAll(async () => {
  const federationPort = await freePort();
  federation = `http://127.0.0.1:${federationPort}`;
  [gw, browser] = await Promise.all([
    startGateway({
      // Saved versions are signed: the policy service needs its signing key.
      env: {
        SECRET_POLICY_SIGNING_KEY: SIGNING_SEED,
        FEDERATION_PORT: String(federationPort),
        ...OAUTH,
      },
      configure: (c) => {
        c.write('policies/default.yaml', POLICY);
        c.write('model_keys/default.yaml', `models:\n  gpt-4o:\n    key: ${AGENT_KEY}\n`);
        c.write(`tools/${SDK_TOOL}.json`, {
          name: SDK_TOOL,
          description: 'run by its own server, governed through the SDK',
          input_schema: { type: 'object', properties: {} },
          upstream: { type: 'sdk' },
        });
      },
    }),
    launch(),
  ]);
  const res = await get(gw, '/openapi.json');
  expect(res.status).toBe(200);
  doc = res.body as Doc;
  ingress.doc = doc;
});

afterAll(async () => {
  await browser?.close();
  await gw?.stop();
});

/** The document's template of a concrete path (`/api/policy/versions/{id}`). */
function templateOf(document: Doc, path: string): string {
  const bare = path.split('?')[0]!;
  const match = Object.keys(document.paths).find((t) =>
    new RegExp(`^${t.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`).test(bare),
  );
  if (!match) throw new Error(`${bare} is not in the OpenAPI document`);
  return match;
}

function validatorOf(document: Doc, schema: Record<string, unknown>): ValidateFunction {
  const resolved = answerSchemaOf(document, schema);
  let validate = compiled.get(resolved);
  if (!validate) compiled.set(resolved, (validate = ajv.compile(resolved)));
  return validate;
}

/**
 * Checks one live answer against the document: its status is listed for the route, its content
 * type is the documented one, and its body (JSON), or each of its `items` (the lines of JSON
 * Lines, the data of Server-Sent Events), fits the documented schema. Returns the answer.
 */
function conformsTo<A extends Answer>(
  checked: Checked,
  method: string,
  path: string,
  answer: A,
  items?: unknown[],
): A {
  const template = templateOf(checked.doc, path);
  const op = checked.doc.paths[template]![method.toLowerCase()];
  if (!op) throw new Error(`${method} ${template} is not in the OpenAPI document`);
  const documented = op.responses[String(answer.status)];
  if (!documented)
    throw new Error(
      `${method} ${path} answered ${answer.status}, which the document does not list (${Object.keys(op.responses).join(', ')}): ${JSON.stringify(answer.body).slice(0, 300)}`,
    );
  const [type, media] = Object.entries(documented.content ?? {})[0] ?? [];
  if (type) {
    const got = answer.headers.get('content-type') ?? '';
    if (!got.startsWith(type))
      throw new Error(
        `${method} ${path} ${answer.status} is ${got || 'untyped'}; the document says ${type}`,
      );
  }
  if (media?.schema) {
    const json = JSON_TYPE.test(type!);
    if (!json && !items) throw new Error(`${method} ${path}: give the items of its ${type} answer`);
    const validate = validatorOf(checked.doc, media.schema);
    for (const value of json ? [answer.body] : items!)
      if (!validate(value))
        throw new Error(
          `${method} ${path} ${answer.status} does not match the document: ${ajv.errorsText(validate.errors)}; ${json ? 'body' : 'item'} ${JSON.stringify(value).slice(0, 400)}`,
        );
  }
  const key = `${method} ${template}`;
  checked.operations.set(key, (checked.operations.get(key) ?? 0) + 1);
  return answer;
}

const conforms = <A extends Answer>(method: string, path: string, answer: A, items?: unknown[]) =>
  conformsTo(ingress, method, path, answer, items);

/** Any request; the answer's body parsed when it is JSON, and its text. */
async function request(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<Answer & { text: string }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  const json = JSON_TYPE.test(res.headers.get('content-type') ?? '') && text !== '';
  return {
    status: res.status,
    headers: res.headers,
    body: json ? (JSON.parse(text) as Record<string, unknown>) : {},
    text,
  };
}

const GET = async (path: string, headers: Record<string, string> = admin) =>
  conforms('GET', path, await get(gw, path, headers));
const POST = async (path: string, body: unknown, headers: Record<string, string> = admin) =>
  conforms('POST', path, await post(gw, path, body, headers));
/** Any method, any answer (an empty one, HTML), checked against the ingress's document. */
const live = async (
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
) => conforms(method, path, await request(gw.url, method, path, headers, body));

/**
 * Opens a Server-Sent Events answer of the ingress and reads its events as they arrive, as a
 * browser's EventSource would; `until` waits for the events wanted, then closes it.
 */
async function openEvents(path: string, headers: Record<string, string>) {
  const abort = new AbortController();
  const res = await fetch(`${gw.url}${path}`, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: abort.signal,
  });
  const events: SseEvent[] = [];
  const reading = (async () => {
    if (!res.ok || !res.body) return;
    const decoder = new TextDecoder();
    let text = '';
    try {
      for await (const chunk of res.body) {
        text += decoder.decode(chunk as Uint8Array, { stream: true });
        for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
          const lines = text.slice(0, end).split('\n');
          text = text.slice(end + 2);
          const data = lines.filter((l) => l.startsWith('data:'));
          // A comment (`: keep-alive`) carries no data.
          if (data.length === 0) continue;
          events.push({
            event: lines
              .find((l) => l.startsWith('event:'))
              ?.slice(6)
              .trim(),
            data: data.map((l) => l.slice(5).replace(/^ /, '')).join('\n'),
          });
        }
      }
    } catch {
      /* closed by until() */
    }
  })();
  return {
    answer: { status: res.status, headers: res.headers, body: {} } as Answer,
    /** Every event, once `enough` holds of them (its data parsed as JSON), the stream closed. */
    async until(enough: (data: Array<Record<string, unknown>>) => boolean, what: string) {
      try {
        return await waitFor(
          async () => {
            const data = events.map((e) => JSON.parse(e.data) as Record<string, unknown>);
            return enough(data) ? { events, data } : undefined;
          },
          20_000,
          what,
        );
      } finally {
        abort.abort();
        await reading;
      }
    },
  };
}

it('serves an OpenAPI 3.1 document of every route, and Swagger UI bundled under a strict CSP', async () => {
  expect(doc.openapi).toBe('3.1.0');
  expect(Object.keys(doc.paths).length).toBeGreaterThan(35);
  const page = await live('GET', '/docs', {});
  expect(page.status).toBe(200);
  const csp = page.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("script-src 'self'");
  expect(csp).not.toMatch(/script-src[^;]*unsafe/);
  // Nothing from a CDN, and no inline script.
  expect(page.text).not.toMatch(/https?:\/\//);
  expect(page.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  expect((await fetch(`${gw.url}/docs/swagger-ui-bundle.js`)).status).toBe(200);
  expect((await live('GET', '/openapi.json', {})).body).toEqual(doc);

  // In a real browser: the UI renders the document, with no console error (a CSP refusal is one).
  const w = await openPage(browser);
  try {
    await w.page.goto(`${gw.url}/docs`);
    await w.page.getByText('SecureGateway ingress').first().waitFor({ timeout: 20_000 });
    await w.page.locator('.opblock-summary-path', { hasText: '/api/tools/call' }).first().waitFor();
    expect(w.problems).toEqual([]);
  } finally {
    await w.context.close();
  }
});

it('answers tool calls as documented: ran, denied, pending, refused', async () => {
  const call = (
    tool: string,
    args: Record<string, unknown>,
    headers: Record<string, string> = agent,
  ) => POST('/api/tools/call', envelope({ tool, arguments: args }), headers);
  expect((await call('calendar.list_events', { calendar_id: 'team' })).status).toBe(200);
  expect((await call('mail.send', {})).status).toBe(403);
  const pending = await call('db.write_sensitive', { table: 't', record: { n: 1 } });
  expect(pending.status).toBe(202);
  expect((await call('calendar.list_events', {}, {})).status).toBe(401);
  expect((await POST('/api/tools/call', { nope: 1 }, agent)).status).toBe(400);
  const seed = await POST(
    '/mcp/toolcall',
    { model_id: 'gpt-4o', session_id: 'oas-1', tool: 'calendar.list_events', input: {} },
    { ...agent, 'X-Session-ID': 'oas-1' },
  );
  expect(seed.status).toBe(200);
  expect((await GET('/schema/calendar.list_events.json', agent)).status).toBe(200);

  // The approval, and its resolution.
  const id = pending.body.approval_id as string;
  expect((await GET(`/api/approvals/${id}`)).status).toBe(200);
  expect((await GET('/api/approvals?status=pending')).status).toBe(200);
  expect((await POST('/approve', { approval_id: id, approved: true, comment: 'ok' })).status).toBe(
    200,
  );
  expect((await POST('/approve', { approval_id: id, approved: true })).status).toBe(409);
  expect((await GET(`/api/approvals/not-a-uuid`)).status).toBe(404);

  // The SDK's pair: authorized, its run reported; a tool the gateway runs itself, an unknown grant.
  const authorized = await POST('/api/sdk/authorize', { tool: SDK_TOOL, arguments: {} }, agent);
  expect(authorized.body).toMatchObject({ allowed: true, status: 'authorized' });
  const report = (audit_id: string) =>
    POST('/api/sdk/complete', { audit_id, status: 'ok', duration_ms: 2 }, agent);
  expect((await report(authorized.body.audit_id as string)).status).toBe(202);
  const gatewayRun = await POST('/api/sdk/authorize', { tool: 'calendar.list_events' }, agent);
  expect([gatewayRun.status, gatewayRun.body.error.code]).toEqual([409, 'SDK.REGISTRY_MISMATCH']);
  const unknown = await report(randomUUID());
  expect([unknown.status, unknown.body.error.code]).toEqual([404, 'SDK.GRANT_NOT_FOUND']);

  // RFC 9728 metadata, at the root and under the resource's path.
  for (const path of [
    '/.well-known/oauth-protected-resource',
    '/.well-known/oauth-protected-resource/mcp',
  ])
    expect((await live('GET', path, {})).body).toMatchObject({
      resource: OAUTH.OAUTH_AUDIENCE,
      authorization_servers: [OAUTH.OAUTH_ISSUER],
    });
});

it('answers MCP Streamable HTTP as documented: JSON-RPC answers, the session stream, refusals', async () => {
  const init = await live('POST', '/mcp', mcp, INITIALIZE);
  expect(init.status).toBe(200);
  expect(init.body.result.protocolVersion).toBe('2025-11-25');
  const sid = init.headers.get('mcp-session-id')!;
  const session = { ...mcp, 'mcp-session-id': sid };
  const initialized = { jsonrpc: '2.0', method: 'notifications/initialized' };
  expect((await live('POST', '/mcp', session, initialized)).status).toBe(202);
  const tools = await live('POST', '/mcp', session, {
    jsonrpc: '2.0',
    id: 2,
    method: 'tools/list',
  });
  expect(tools.body.result.tools.map((t: { name: string }) => t.name)).toContain(
    'db.write_sensitive',
  );

  // The session's stream: a saved policy that takes a tool away is told as list_changed. Its
  // headers come with its first bytes, about 15 s after it opens on an idle session: once they
  // are here, the gateway holds the stream, so the change below cannot be missed.
  const stream = await openEvents('/mcp', { ...agent, 'mcp-session-id': sid });
  expect([stream.answer.status, stream.answer.headers.get('content-type')]).toEqual([
    200,
    'text/event-stream',
  ]);
  const active = (await get(gw, '/api/policy/history?project=default&kind=policies', admin)).body
    .versions[0].id as string;
  const narrowed = await post(
    gw,
    '/api/policy',
    {
      project: 'default',
      kind: 'policies',
      yaml: POLICY.replace(', "db.*"', ''),
      reason: 'openapi test: list_changed',
    },
    admin,
  );
  expect(narrowed.status).toBe(201);
  const { data } = await stream.until(
    (d) => d.some((m) => m.method === 'notifications/tools/list_changed'),
    'list_changed on the session stream',
  );
  conforms('GET', '/mcp', stream.answer, data);
  const back = await post(gw, `/api/policy/rollback/${active}`, { reason: 'back' }, admin);
  expect(back.status).toBe(201);

  // Refusals, in JSON-RPC with the gateway's code in error.data.
  const code = (a: Answer) => [a.status, a.body.error.data.code];
  const list = { jsonrpc: '2.0', id: 3, method: 'tools/list' };
  expect(code(await live('POST', '/mcp', mcp, list))).toEqual([400, 'MCP.SESSION_REQUIRED']);
  expect(code(await live('POST', '/mcp', { ...mcp, 'X-API-Key': '' }, INITIALIZE))).toEqual([
    401,
    'AUTH.MISSING_KEY',
  ]);
  expect(
    code(await live('POST', '/mcp', { ...agent, accept: 'application/json' }, INITIALIZE)),
  ).toEqual([406, 'MCP.NOT_ACCEPTABLE']);
  expect(code(await live('GET', '/mcp', { ...agent, accept: 'text/event-stream' }))).toEqual([
    400,
    'MCP.SESSION_REQUIRED',
  ]);
  expect(code(await live('DELETE', '/mcp', agent))).toEqual([400, 'MCP.SESSION_REQUIRED']);
  // DELETE ends the session: then it is gone.
  expect((await live('DELETE', '/mcp', { ...agent, 'mcp-session-id': sid })).status).toBe(204);
  expect(code(await live('POST', '/mcp', session, list))).toEqual([404, 'MCP.SESSION_NOT_FOUND']);
  expect(code(await live('DELETE', '/mcp', { ...agent, 'mcp-session-id': sid }))).toEqual([
    404,
    'MCP.SESSION_NOT_FOUND',
  ]);
});

it('answers the audit, policy, analytics and operations endpoints as documented', async () => {
  // The live feed, open before the call it then carries.
  const feed = await openEvents('/api/audit/stream?project=default', admin);
  const made = await post(
    gw,
    '/api/tools/call',
    envelope({ tool: 'calendar.list_events', arguments: {} }),
    { ...agent, 'X-Session-ID': 'oas-2' },
  );
  const trace = made.body.trace_id as string;
  const fed = await feed.until(
    (d) => d.some((r) => r.trace_id === trace),
    'the call on the audit stream',
  );
  expect(fed.events.every((e) => e.event === 'call')).toBe(true);
  conforms('GET', '/api/audit/stream?project=default', feed.answer, fed.data);
  // The audit stores it shortly after the answer.
  let records: Answer | undefined;
  for (let i = 0; i < 50; i++) {
    records = await GET(`/api/audit/records?trace_id=${trace}`);
    if (records.body.records?.length) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(records!.body.records.length).toBe(1);
  // The same records as JSON Lines, each line one documented record.
  const exported = await request(gw.url, 'GET', '/api/audit/export?project=default', admin);
  const lines = exported.text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines.map((l) => l.trace_id)).toContain(trace);
  conforms('GET', '/api/audit/export?project=default', exported, lines);
  expect((await GET(`/api/trace/${trace}`)).status).toBe(200);
  expect((await GET('/api/session/oas-2')).status).toBe(200);
  expect((await GET('/api/alerts?limit=5')).status).toBe(200);
  expect((await GET('/api/audit/verify?project=default')).status).toBe(200);
  expect((await GET('/api/audit/checkpoints?project=default')).status).toBe(200);
  expect((await GET('/api/audit/records?limit=0')).status).toBe(400);
  expect((await GET('/api/audit/records', {})).status).toBe(401);

  // The first calls of an agent and a tool raise first-seen alerts: one acknowledged, once.
  const [alert] = await waitFor(
    async () => {
      const page = await get(gw, '/api/alerts?project=default&acknowledged=false', admin);
      return page.body.alerts?.length
        ? (page.body.alerts as Array<{ alert_id: string }>)
        : undefined;
    },
    20_000,
    'a first-seen alert',
  );
  const ack = (id: string) => POST(`/api/alerts/${id}/ack`, { note: 'seen by the openapi test' });
  expect((await ack(alert!.alert_id)).body.acknowledged).toMatchObject({ by: 'bootstrap' });
  expect((await ack(alert!.alert_id)).status).toBe(409);
  expect((await ack(randomUUID())).status).toBe(404);

  const history = await GET('/api/policy/history?project=default&kind=policies');
  expect(history.status).toBe(200);
  const active = history.body.versions[0].id as string;
  expect((await GET(`/api/policy/versions/${active}`)).status).toBe(200);
  const signingKey = await GET('/api/policy/signing-key');
  expect([signingKey.status, signingKey.body.algorithm]).toEqual([200, 'Ed25519']);
  const lint = { project: 'default', kind: 'policies' };
  expect((await POST('/api/policy/lint', { ...lint, yaml: POLICY })).status).toBe(200);
  expect((await POST('/api/policy', { ...lint, yaml: 'rules: 12\n', reason: 'x' })).status).toBe(
    422,
  );
  const saved = await POST('/api/policy', {
    ...lint,
    yaml: POLICY.replace('"db.*"', '"db.read_*"'),
    reason: 'openapi test',
  });
  expect(saved.status).toBe(201);
  expect((await POST(`/api/policy/rollback/${active}`, { reason: 'back' })).status).toBe(201);

  const proposed = await POST('/api/propose_policy', {
    model_id: 'gpt-4o',
    yaml: 'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"]\n',
    justification: 'narrower',
  });
  expect([201, 202]).toContain(proposed.status);
  expect((await GET('/api/proposals')).status).toBe(200);
  const proposal = proposed.body.proposal_id as string;
  expect((await GET(`/api/proposals/${proposal}`)).status).toBe(200);
  // Four-eyes: the admin who proposed it may not review it (403), as documented either way.
  const reviewed = await POST(`/api/proposals/${proposal}/reject`, {});
  expect([200, 403, 409]).toContain(reviewed.status);
  const approved = await POST(`/api/proposals/${proposal}/approve`, {});
  expect([200, 403, 409]).toContain(approved.status);
  expect((await POST(`/api/proposals/${randomUUID()}/approve`, {})).status).toBe(404);

  expect((await GET('/api/analytics/summary?project=default')).status).toBe(200);
  const suggested = await GET('/api/policy/suggest?project=default');
  expect(suggested.status).toBe(200);
  // A suggestion's id is a digest of its change: one that is not listed (yet) is dismissed alike.
  const suggestion =
    (suggested.body.suggestions as Array<{ id: string }>)[0]?.id ?? '0123456789abcdef01234567';
  const dismiss = (id: string, body: unknown) => POST(`/api/policy/suggest/${id}/dismiss`, body);
  const dismissed = await dismiss(suggestion, { project: 'default', why: 'openapi test' });
  expect(dismissed.body).toMatchObject({ id: suggestion, by: 'bootstrap', why: 'openapi test' });
  expect((await dismiss(suggestion, { project: 'default' })).status).toBe(400);
  expect((await dismiss('not-a-suggestion', { project: 'default', why: 'x' })).status).toBe(404);
  expect((await GET('/api/shadow/report?project=default')).status).toBe(200);
  expect((await GET('/api/risk/sessions?project=default')).status).toBe(200);
  expect((await GET('/api/risk/agents?project=default')).status).toBe(200);
  expect((await POST('/api/simulate', { project: 'default', session_id: 'oas-2' })).status).toBe(
    200,
  );
  expect((await GET('/api/federation/peers')).status).toBe(200);
  expect((await GET('/healthz', {})).status).toBe(200);
  expect((await GET('/health', {})).status).toBe(200);
  // Prometheus text: its status and content type, as documented.
  expect((await live('GET', '/metrics', {})).text).toContain('# TYPE');
});

it("answers the dashboard's session and pages as documented", async () => {
  const login = await POST('/dash/api/session', {}, admin);
  expect(login.status).toBe(201);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  expect((await GET('/dash/api/session', { cookie })).status).toBe(200);
  // Logout needs the session's CSRF token; then the cookie is worth nothing.
  expect((await live('DELETE', '/dash/api/session', { cookie })).status).toBe(403);
  const csrf = login.body.csrf_token as string;
  const out = await live('DELETE', '/dash/api/session', { cookie, 'X-CSRF-Token': csrf });
  expect(out.status).toBe(204);
  expect((await GET('/dash/api/session', { cookie })).status).toBe(401);
  // The app's shell for any page, and a JSON 404 for a file that is not built.
  const page = await live('GET', '/dash/approvals', {});
  expect([page.status, page.text.slice(0, 15)]).toEqual([200, '<!doctype html>']);
  expect((await live('GET', '/dash/missing.js', {})).status).toBe(404);
});

it('has checked a live answer of every operation of the document', () => {
  const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
  );
  const answers = [...ingress.operations.values()].reduce((a, b) => a + b, 0);
  console.log(
    `openapi: ${ingress.operations.size} of ${operations.length} operations checked against ${answers} live answers`,
  );
  expect(operations.length).toBeGreaterThanOrEqual(49);
  expect(operations.filter((o) => !ingress.operations.has(o) && !NOT_EXERCISED.has(o))).toEqual([]);
  // The exclusions name operations of the document, none of them answered after all.
  expect(
    [...NOT_EXERCISED].filter((o) => !operations.includes(o) || ingress.operations.has(o)),
  ).toEqual([]);
});

it("serves the federation service's own document, each operation answered as documented", async () => {
  const res = await fetch(`${federation}/openapi.json`);
  expect(res.status).toBe(200);
  const fed: Checked = { doc: (await res.json()) as Doc, operations: new Map() };
  expect(Object.keys(fed.doc.paths).sort()).toEqual([
    '/docs',
    '/federation/ping',
    '/federation/tools',
    '/forward',
    '/healthz',
    '/metrics',
    '/openapi.json',
  ]);
  const check = async (method: string, path: string, body?: unknown) =>
    conformsTo(fed, method, path, await request(federation, method, path, {}, body));
  // Without a peer's signature: 401, in the documented error shape.
  expect((await check('GET', '/federation/ping')).status).toBe(401);
  expect((await check('GET', '/federation/tools?project=default')).status).toBe(401);
  expect((await check('POST', '/forward', { tool: 'calendar.list_events' })).status).toBe(401);
  expect((await check('GET', '/healthz')).status).toBe(200);
  expect((await check('GET', '/metrics')).status).toBe(200);
  expect((await check('GET', '/openapi.json')).body).toEqual(fed.doc);
  const docs = await check('GET', '/docs');
  expect(docs.headers.get('content-security-policy')).toContain("script-src 'self'");
  const operations = Object.entries(fed.doc.paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
  );
  expect(operations.filter((o) => !fed.operations.has(o))).toEqual([]);
});
