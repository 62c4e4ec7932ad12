// The ingress's OpenAPI document (issue 16 §1), served at /openapi.json with Swagger UI at
// /docs (bundled: it works air-gapped), and live answers of the real gateway checked against
// it: every answer below must match the schema the document gives for its route and status.
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
import { freePort } from '@sg/testing';
import { answerSchemaOf } from '@sg/runtime';

const POLICY = [
  'rules:',
  '  - model: gpt-4o',
  '    allow_tools: ["calendar.*", "db.*"]',
  '    requires_approval: ["db.write_*"]',
  'forbidden_fields: [password, api_key, secret, token, private_key]',
  '',
].join('\n');

interface Operation {
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
}
type Doc = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: Record<string, unknown>;
};

let gw: Gateway;
let browser: Browser;
let federation: string;
let doc: Doc;
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
const compiled = new Map<object, ValidateFunction>();
/** The operations whose live answers were checked, and how many. */
const checked = new Map<string, number>();
const admin = { 'X-Admin-Key': ADMIN_KEY };
const agent = { 'X-API-Key': AGENT_KEY };

beforeAll(async () => {
  const federationPort = await freePort();
  federation = `http://127.0.0.1:${federationPort}`;
  [gw, browser] = await Promise.all([
    startGateway({
      // Saved versions are signed: the policy service needs its signing key.
      env: { SECRET_POLICY_SIGNING_KEY: SIGNING_SEED, FEDERATION_PORT: String(federationPort) },
      configure: (c) => {
        c.write('policies/default.yaml', POLICY);
        c.write('model_keys/default.yaml', `models:\n  gpt-4o:\n    key: ${AGENT_KEY}\n`);
      },
    }),
    launch(),
  ]);
  const res = await get(gw, '/openapi.json');
  expect(res.status).toBe(200);
  doc = res.body as Doc;
});

afterAll(async () => {
  await browser?.close();
  await gw?.stop();
});

/** The document's template of a concrete path (`/api/policy/versions/{id}`). */
function templateOf(path: string): string {
  const bare = path.split('?')[0]!;
  const match = Object.keys(doc.paths).find((t) =>
    new RegExp(`^${t.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`).test(bare),
  );
  if (!match) throw new Error(`${bare} is not in the OpenAPI document`);
  return match;
}

/** Checks one live answer against the document; returns it. */
function conforms(method: string, path: string, answer: Answer): Answer {
  const template = templateOf(path);
  const op = doc.paths[template]![method.toLowerCase()];
  if (!op) throw new Error(`${method} ${template} is not in the OpenAPI document`);
  const documented = op.responses[String(answer.status)];
  if (!documented)
    throw new Error(
      `${method} ${path} answered ${answer.status}, which the document does not list (${Object.keys(op.responses).join(', ')}): ${JSON.stringify(answer.body).slice(0, 300)}`,
    );
  const ref = documented.content?.['application/json']?.schema;
  if (ref) {
    const schema = answerSchemaOf(doc, ref as Record<string, unknown>);
    let validate = compiled.get(schema);
    if (!validate) compiled.set(schema, (validate = ajv.compile(schema)));
    if (!validate(answer.body))
      throw new Error(
        `${method} ${path} ${answer.status} does not match the document: ${ajv.errorsText(validate.errors)}; body ${JSON.stringify(answer.body).slice(0, 400)}`,
      );
  }
  const key = `${method} ${template}`;
  checked.set(key, (checked.get(key) ?? 0) + 1);
  return answer;
}

const GET = async (path: string, headers: Record<string, string> = admin) =>
  conforms('GET', path, await get(gw, path, headers));
const POST = async (path: string, body: unknown, headers: Record<string, string> = admin) =>
  conforms('POST', path, await post(gw, path, body, headers));

it('serves an OpenAPI 3.1 document of every route, and Swagger UI bundled under a strict CSP', async () => {
  expect(doc.openapi).toBe('3.1.0');
  expect(Object.keys(doc.paths).length).toBeGreaterThan(35);
  const page = await fetch(`${gw.url}/docs`);
  expect(page.status).toBe(200);
  const csp = page.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("script-src 'self'");
  expect(csp).not.toMatch(/script-src[^;]*unsafe/);
  const html = await page.text();
  // Nothing from a CDN, and no inline script.
  expect(html).not.toMatch(/https?:\/\//);
  expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  expect((await fetch(`${gw.url}/docs/swagger-ui-bundle.js`)).status).toBe(200);

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
});

it('answers the audit, policy, analytics and operations endpoints as documented', async () => {
  const made = await post(
    gw,
    '/api/tools/call',
    envelope({ tool: 'calendar.list_events', arguments: {} }),
    { ...agent, 'X-Session-ID': 'oas-2' },
  );
  const trace = made.body.trace_id as string;
  // The audit stores it shortly after the answer.
  let records: Answer | undefined;
  for (let i = 0; i < 50; i++) {
    records = await GET(`/api/audit/records?trace_id=${trace}`);
    if (records.body.records?.length) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(records!.body.records.length).toBe(1);
  expect((await GET(`/api/trace/${trace}`)).status).toBe(200);
  expect((await GET('/api/session/oas-2')).status).toBe(200);
  expect((await GET('/api/alerts?limit=5')).status).toBe(200);
  expect((await GET('/api/audit/verify?project=default')).status).toBe(200);
  expect((await GET('/api/audit/checkpoints?project=default')).status).toBe(200);
  expect((await GET('/api/audit/records?limit=0')).status).toBe(400);
  expect((await GET('/api/audit/records', {})).status).toBe(401);

  const history = await GET('/api/policy/history?project=default&kind=policies');
  expect(history.status).toBe(200);
  const active = history.body.versions[0].id as string;
  expect((await GET(`/api/policy/versions/${active}`)).status).toBe(200);
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
  expect((await GET(`/api/proposals/${proposed.body.proposal_id}`)).status).toBe(200);
  // Four-eyes: the admin who proposed it may not review it (403), as documented either way.
  const reviewed = await POST(`/api/proposals/${proposed.body.proposal_id}/reject`, {});
  expect([200, 403]).toContain(reviewed.status);

  expect((await GET('/api/analytics/summary?project=default')).status).toBe(200);
  expect((await GET('/api/policy/suggest?project=default')).status).toBe(200);
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
  const metrics = await fetch(`${gw.url}/metrics`);
  expect(metrics.headers.get('content-type')).toContain('text/plain');
  conforms('GET', '/metrics', { status: metrics.status, headers: metrics.headers, body: {} });
  // The dashboard's login, and who is logged in.
  const login = await POST('/dash/api/session', {}, admin);
  expect(login.status).toBe(201);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  expect((await GET('/dash/api/session', { cookie })).status).toBe(200);

  // How much of the document these answers covered.
  const operations = Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
  console.log(
    `openapi: ${checked.size} of ${operations} operations checked against live answers (${[...checked.values()].reduce((a, b) => a + b, 0)} answers)`,
  );
  expect(checked.size).toBeGreaterThanOrEqual(30);
});

it("serves the federation service's own document, and its unsigned refusals are as documented", async () => {
  const res = await fetch(`${federation}/openapi.json`);
  expect(res.status).toBe(200);
  const fed = (await res.json()) as Doc;
  expect(Object.keys(fed.paths).sort()).toEqual([
    '/docs',
    '/federation/ping',
    '/federation/tools',
    '/forward',
    '/healthz',
    '/metrics',
    '/openapi.json',
  ]);
  expect((await fetch(`${federation}/docs`)).headers.get('content-security-policy')).toContain(
    "script-src 'self'",
  );
  const fedAjv = new Ajv2020({ strict: false, validateFormats: false });
  const check = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${federation}${path}`, {
      method,
      ...(body
        ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }
        : {}),
    });
    const op = fed.paths[path.split('?')[0]!]![method.toLowerCase()]!;
    const ref = op.responses[String(r.status)]?.content?.['application/json']?.schema;
    expect(ref).toBeDefined();
    const validate = fedAjv.compile(answerSchemaOf(fed, ref as Record<string, unknown>));
    const json: unknown = await r.json();
    expect([validate(json), fedAjv.errorsText(validate.errors)]).toEqual([true, 'No errors']);
    return r.status;
  };
  // Without a peer's signature: 401, in the documented error shape.
  expect(await check('GET', '/federation/ping')).toBe(401);
  expect(await check('GET', '/federation/tools?project=default')).toBe(401);
  expect(await check('POST', '/forward', { tool: 'calendar.list_events' })).toBe(401);
  expect(await check('GET', '/healthz')).toBe(200);
});
