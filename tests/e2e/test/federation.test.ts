// Inbound federation (POST /forward on the federation service's port) through the real
// processes: this test plays the peer gateway gw-a and signs its requests (RFC 9421) as a peer
// implementation would, against gateway gw-b.
import { randomUUID } from 'node:crypto';
import { signRequest } from '@sg/runtime';
import { freePort, waitFor } from '@sg/testing';
import {
  ADMIN_KEY,
  auditRows,
  callRows,
  get,
  startGateway,
  type Answer,
  type Gateway,
} from './harness.js';

const A_KEY = 'shared-key-of-gw-a-and-gw-b-0001';
const C_KEY = 'shared-key-of-gw-c-and-gw-b-0002';
let gw: Gateway;
let forwardUrl: string;

beforeAll(async () => {
  const port = await freePort();
  forwardUrl = `http://127.0.0.1:${port}/forward`;
  gw = await startGateway({
    env: { FEDERATION_PORT: String(port), SECRET_PEER_A: A_KEY, SECRET_PEER_C: C_KEY },
    configure: (c) => {
      c.write(
        'trusted_peers.yaml',
        [
          'self: gw-b',
          'max_hops: 2',
          'peers:',
          '  gw-a:',
          '    url: http://127.0.0.1:9/forward',
          '    key_id: gw-a:gw-b',
          '    key: "{{secret:PEER_A}}"',
          '    allow: { tools: ["calendar.*", "db.*"], projects: [default] }',
          '  gw-c:',
          '    url: http://127.0.0.1:9/forward',
          '    key_id: gw-c:gw-b',
          '    key: "{{secret:PEER_C}}"',
          '    allow: { tools: ["calendar.*"] }',
          '    legacy_gateway_key: true',
          '',
        ].join('\n'),
      );
      c.write(
        'policies/default.yaml',
        'rules:\n  - model: gw-a/gpt-4o\n    allow_tools: ["calendar.*"]\n  - model: gw-c/gpt-4o\n    allow_tools: ["calendar.*"]\n  - model: gpt-4o\n    allow_tools: ["calendar.*"]\n',
      );
    },
  });
});

afterAll(async () => {
  await gw?.stop();
});

interface Forward {
  from?: string;
  keyId?: string;
  key?: string;
  nonce?: string;
  created?: number;
  body?: Record<string, unknown>;
  traceId?: string;
  unsigned?: boolean;
  /** The seed's X-Gateway-Key header. */
  legacyKey?: string;
}

function forwardBody(over: Record<string, unknown> = {}) {
  return {
    project: 'default',
    agent_id: 'gpt-4o',
    session_id: 's-1',
    request_id: `r-${randomUUID()}`,
    tool: 'calendar.list_events',
    arguments: {},
    original_decision: {
      allowed: true,
      reason: 'Allowed by allow_tools match: calendar.*',
      policy_version: 'a1b2c3',
    },
    via: ['gw-a'],
    hops: 1,
    ...over,
  };
}

/** POST /forward as peer `from`, signed with `key` under `keyId` (gw-a's by default). */
async function forward(o: Forward = {}): Promise<Answer> {
  const body = JSON.stringify(o.body ?? forwardBody());
  const signed = o.unsigned
    ? {}
    : await signRequest(
        { method: 'POST', url: forwardUrl, body },
        { keyId: o.keyId ?? 'gw-a:gw-b', alg: 'hmac-sha256', key: o.key ?? A_KEY },
        { nonce: o.nonce ?? randomUUID(), ...(o.created ? { created: o.created } : {}) },
      );
  const res = await fetch(forwardUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-gateway-id': o.from ?? 'gw-a',
      ...(o.traceId ? { 'x-trace-id': o.traceId } : {}),
      ...(o.legacyKey ? { 'x-gateway-key': o.legacyKey } : {}),
      ...signed,
    },
    body,
  });
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Answer['body'],
  };
}

it('runs a signed call that both the peer rules and the local policy allow, under the sender trace id', async () => {
  const traceId = `fed-ok-${randomUUID().slice(0, 8)}`;
  const res = await forward({ traceId });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({
    success: true,
    allowed: true,
    gateway: 'gw-b',
    trace_id: traceId,
  });
  expect(res.body.result).toBeTruthy();
  const rows = await callRows(gw, traceId, 1);
  expect(rows[0]!.data).toMatchObject({
    channel: 'federation',
    agent_id: 'gw-a/gpt-4o',
    tool: 'calendar.list_events',
    outcome: 'allowed',
  });
  const all = await auditRows(gw, traceId, 2);
  expect(all.find((r) => r.subject === 'gw.evt.federation.received.v1')!.data).toMatchObject({
    peer: 'gw-a',
    agent_id: 'gpt-4o',
    via: ['gw-a'],
    original_decision: { allowed: true, policy_version: 'a1b2c3' },
  });
});

it("answers the local policy's explanation when it denies the peer's agent", async () => {
  const res = await forward({ body: forwardBody({ agent_id: 'claude' }) });
  expect(res.status).toBe(403);
  expect(res.body.error.code).toBe('POLICY.TOOL_NOT_ALLOWED');
  expect(res.body.decision.reason).toMatch(/gw-a\/claude/);
});

it.each<[string, Forward, number, string]>([
  ['an unknown peer', { from: 'gw-x' }, 401, 'FEDERATION.UNKNOWN_PEER'],
  ['no signature', { unsigned: true }, 401, 'AUTH.SIGNATURE_INVALID'],
  [
    'a forged signature',
    { key: 'not-the-shared-key-0000000000000' },
    401,
    'AUTH.SIGNATURE_INVALID',
  ],
  ["another peer's key", { keyId: 'gw-c:gw-b', key: C_KEY }, 401, 'AUTH.SIGNATURE_UNKNOWN_KEY'],
  [
    'an expired timestamp',
    { created: Math.floor(Date.now() / 1000) - 400 },
    401,
    'AUTH.SIGNATURE_EXPIRED',
  ],
  [
    'a loop',
    { body: forwardBody({ via: ['gw-b', 'gw-a'], hops: 2 }) },
    508,
    'FEDERATION.LOOP_DETECTED',
  ],
  [
    'too many hops',
    { body: forwardBody({ via: ['gw-x', 'gw-y', 'gw-a'], hops: 3 }) },
    508,
    'FEDERATION.LOOP_DETECTED',
  ],
  [
    'a tool the peer may not call',
    { body: forwardBody({ tool: 'email.send' }) },
    403,
    'FEDERATION.NOT_ALLOWED',
  ],
  [
    'a project the peer may not call',
    { body: forwardBody({ project: 'other' }) },
    403,
    'FEDERATION.NOT_ALLOWED',
  ],
])('refuses %s with its code, and audits it', async (_name, o, status, code) => {
  const traceId = `fed-no-${randomUUID().slice(0, 8)}`;
  const res = await forward({ ...o, traceId });
  expect(res.status).toBe(status);
  expect(res.body.error.code).toBe(code);
  const rows = await callRows(gw, traceId, 1);
  expect(rows[0]!.data).toMatchObject({ channel: 'federation', http_status: status, code });
  // A request that did not prove its peer names no agent (no first-seen agent for a forger).
  if (status === 401) expect(rows[0]!.data.agent_id).toBeNull();
});

it("accepts the seed's X-Gateway-Key only from a peer whose entry turns it on, and only its own key", async () => {
  const body = forwardBody({ via: ['gw-c'] });
  const ok = await forward({ from: 'gw-c', unsigned: true, legacyKey: C_KEY, body });
  expect([ok.status, ok.body.success]).toEqual([200, true]);
  const wrong = await forward({ from: 'gw-c', unsigned: true, legacyKey: A_KEY, body });
  expect([wrong.status, wrong.body.error.code]).toEqual([401, 'AUTH.SIGNATURE_INVALID']);
  // gw-a's entry leaves it off: its own key without a signature is refused.
  const off = await forward({ unsigned: true, legacyKey: A_KEY });
  expect([off.status, off.body.error.code]).toEqual([401, 'AUTH.SIGNATURE_INVALID']);
});

/** A signed GET on the federation port, as peer gw-a. */
async function signedGet(path: string, o: { unsigned?: boolean } = {}): Promise<Answer> {
  const url = new URL(path, forwardUrl).href;
  const signed = o.unsigned
    ? {}
    : await signRequest(
        { method: 'GET', url, body: '' },
        { keyId: 'gw-a:gw-b', alg: 'hmac-sha256', key: A_KEY },
        { nonce: randomUUID() },
      );
  const res = await fetch(url, { headers: { 'x-gateway-id': 'gw-a', ...signed } });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Answer['body'] };
}

it('answers a signed catalogue of the tools the peer may call here, with their schemas', async () => {
  const res = await signedGet('/federation/tools?project=default');
  expect(res.status).toBe(200);
  expect(res.body.gateway).toBe('gw-b');
  const names = (res.body.tools as Array<{ name: string }>).map((t) => t.name);
  // allow.tools of gw-a: calendar.* and db.*; nothing else of the registry, no upstream details.
  expect(names.length).toBeGreaterThan(0);
  expect(names.every((n) => n.startsWith('calendar.') || n.startsWith('db.'))).toBe(true);
  expect(names).toContain('calendar.list_events');
  expect(JSON.stringify(res.body)).not.toContain('upstream');
  expect(res.body.tools[0].input_schema).toMatchObject({ type: 'object' });
  expect((await signedGet('/federation/tools?project=other')).body.error.code).toBe(
    'FEDERATION.NOT_ALLOWED',
  );
  const unsigned = await signedGet('/federation/tools', { unsigned: true });
  expect([unsigned.status, unsigned.body.error.code]).toEqual([401, 'AUTH.SIGNATURE_INVALID']);
});

it('answers a signed ping with its own id', async () => {
  const res = await signedGet('/federation/ping');
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ gateway: 'gw-b', peer: 'gw-a' });
  expect((await signedGet('/federation/ping', { unsigned: true })).status).toBe(401);
});

it('refuses a replayed nonce', async () => {
  const nonce = randomUUID();
  expect((await forward({ nonce })).status).toBe(200);
  const again = await forward({ nonce });
  expect(again.status).toBe(401);
  expect(again.body.error.code).toBe('AUTH.NONCE_REPLAYED');
});

it('raises forged_peer_calls after a burst of refused peer calls', async () => {
  // With the 401s above, ten within the denial_spike window (120 s) cross the default threshold.
  for (let i = 0; i < 10; i++) await forward({ key: 'a-forger-guessing-the-key-000000' });
  const alert = await waitFor(
    async () => {
      const listed = await get(gw, '/api/alerts?type=forged_peer_calls', {
        'X-Admin-Key': ADMIN_KEY,
      });
      return listed.body.alerts?.[0] as Record<string, unknown> | undefined;
    },
    15_000,
    'the forged_peer_calls alert',
  );
  expect(alert).toMatchObject({ type: 'forged_peer_calls', severity: 'high', project: 'default' });
});

it('keeps the peers keys out of the logs and the database', async () => {
  const { readFileSync } = await import('node:fs');
  const dump = await gw.db.query<{ data: unknown }>('SELECT data FROM audit_events');
  // C_KEY crossed the wire itself (X-Gateway-Key) and still stands nowhere.
  for (const key of [A_KEY, C_KEY]) {
    expect(readFileSync(gw.logFile, 'utf8')).not.toContain(key);
    expect(JSON.stringify(dump.rows)).not.toContain(key);
  }
});
