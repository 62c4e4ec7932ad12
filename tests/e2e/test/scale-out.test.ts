// Two copies of every service under load; kill -9 one copy of each (issue 16 §4). The calls
// that fail must be ones in flight at a kill, and every call keeps exactly one audit record.
//
// The test plays the load balancer in front of the two HTTP services (ingress, federation): it
// stops sending to a copy when it kills it, as a Service stops routing to a dead pod; calls it
// had already sent there are in flight. The bus services need no balancer: NATS queue groups
// route to the copy that is left once the dead one's connection closes.
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { signRequest } from '@sg/runtime';
import { freePort, waitFor } from '@sg/testing';
import {
  ADMIN_KEY,
  AGENT_KEY,
  envelope,
  startExtraService,
  startGateway,
  type ExtraService,
  type Gateway,
} from './harness.js';

const PEER_KEY = 'shared-key-of-gw-a-and-gw-b-0001';
const SERVICES = ['policy', 'executor', 'audit', 'analytics', 'federation', 'ingress'] as const;
type Service = (typeof SERVICES)[number];

let gw: Gateway;
const extras: ExtraService[] = [];
const ingressUrls: string[] = [];
const forwardUrls: string[] = [];

beforeAll(async () => {
  const federationPort = await freePort();
  const shared = { SECRET_PEER_A: PEER_KEY, REQUEST_TIMEOUT_MS: '3000' };
  gw = await startGateway({
    env: { ...shared, FEDERATION_PORT: String(federationPort) },
    configure: (c) => {
      c.write(
        'trusted_peers.yaml',
        [
          'self: gw-b',
          'peers:',
          '  gw-a:',
          '    url: http://127.0.0.1:9/forward',
          '    key_id: gw-a:gw-b',
          '    key: "{{secret:PEER_A}}"',
          '    allow: { tools: ["calendar.*"], rate_limit: { limit: 100000, window_s: 60 } }',
          '',
        ].join('\n'),
      );
      c.write(
        'policies/default.yaml',
        [
          'rules:',
          '  - model: gpt-4o',
          '    allow_tools: ["calendar.*", "db.*"]',
          '    requires_approval: ["db.write_*"]',
          '  - model: gw-a/gpt-4o',
          '    allow_tools: ["calendar.*"]',
          'rate_limits:',
          '  agent: { limit: 100000, window_s: 60 }',
          '',
        ].join('\n'),
      );
      c.write(
        'model_keys/default.yaml',
        `models:\n  gpt-4o:\n    key: ${AGENT_KEY}\n    tools: ['calendar.*', 'db.*']\n`,
      );
    },
  });
  ingressUrls.push(gw.url);
  forwardUrls.push(`http://127.0.0.1:${federationPort}/forward`);
  // The second copy of each service, in the same prefix, schema and config.
  for (const name of SERVICES) {
    const port = await freePort();
    const env: Record<string, string> = { ...shared };
    if (name === 'ingress') env.PORT = String(port);
    if (name === 'federation') env.FEDERATION_PORT = String(port);
    extras.push(await startExtraService(gw, name, env));
    if (name === 'ingress') ingressUrls.push(`http://127.0.0.1:${port}`);
    if (name === 'federation') forwardUrls.push(`http://127.0.0.1:${port}/forward`);
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(extras.map((e) => e.stop()));
  await gw?.stop();
});

type Kind = 'allowed' | 'denied' | 'approval' | 'forwarded';

interface Call {
  kind: Kind;
  traceId: string;
  start: number;
  end: number;
  status: number | 'no answer';
  code?: string;
}

/** One call of the given kind through copy `i` of the HTTP service it needs. */
async function send(kind: Kind, i: number): Promise<Call> {
  const traceId = randomUUID();
  const start = performance.now();
  let status: Call['status'] = 'no answer';
  let code: string | undefined;
  try {
    const res =
      kind === 'forwarded'
        ? await forward(forwardUrls[i]!, traceId)
        : await rest(kind, ingressUrls[i]!, traceId);
    status = res.status;
    code = ((await res.json()) as { error?: { code?: string } }).error?.code;
  } catch {
    // Reset or refused: no answer.
  }
  return { kind, traceId, start, end: performance.now(), status, ...(code ? { code } : {}) };
}

function rest(kind: Kind, base: string, traceId: string): Promise<Response> {
  const tool = {
    allowed: 'calendar.list_events',
    denied: 'mail.send',
    approval: 'db.write_sensitive',
  }[kind as 'allowed'];
  return fetch(`${base}/api/tools/call`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': AGENT_KEY, 'x-trace-id': traceId },
    body: JSON.stringify(
      envelope({
        tool,
        request_id: traceId,
        arguments: kind === 'approval' ? { table: 't', record: { n: 1 } } : {},
      }),
    ),
    signal: AbortSignal.timeout(12_000),
  });
}

/** A call peer gw-a forwards to this gateway, signed (RFC 9421) as a peer gateway signs it. */
async function forward(url: string, traceId: string): Promise<Response> {
  const body = JSON.stringify({
    project: 'default',
    agent_id: 'gpt-4o',
    session_id: 's-1',
    request_id: traceId,
    tool: 'calendar.list_events',
    arguments: {},
    original_decision: { allowed: true, reason: 'allowed at gw-a', policy_version: 'a1b2c3' },
    via: ['gw-a'],
    hops: 1,
  });
  const signed = await signRequest(
    { method: 'POST', url, body },
    { keyId: 'gw-a:gw-b', alg: 'hmac-sha256', key: PEER_KEY },
    { nonce: randomUUID() },
  );
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-gateway-id': 'gw-a',
      'x-trace-id': traceId,
      ...signed,
    },
    body,
    signal: AbortSignal.timeout(12_000),
  });
}

/** What each answer must be when nothing fails. */
const EXPECTED: Record<Kind, number> = { allowed: 200, denied: 403, approval: 202, forwarded: 200 };
const MIX: Kind[] = [
  'allowed',
  'allowed',
  'allowed',
  'allowed',
  'allowed',
  'allowed',
  'denied',
  'approval',
  'forwarded',
  'forwarded',
];

it('kill -9 of one copy of each service under load fails only the calls in flight, and loses or doubles no audit record', async () => {
  // Copies the balancer may send to, per HTTP service.
  const live = { ingress: [0, 1], federation: [0, 1] };
  const calls: Call[] = [];
  /** Each kill: the process died between the signal (`from`) and the exit Node reported (`to`). */
  const kills: { service: Service; from: number; to: number; inFlight: number }[] = [];
  let running = true;
  const inFlight = new Set<number>();
  let seq = 0;

  const worker = async (w: number) => {
    for (let n = w; running; n++) {
      const kind = MIX[n % MIX.length]!;
      const copies = kind === 'forwarded' ? live.federation : live.ingress;
      const id = ++seq;
      inFlight.add(id);
      calls.push(await send(kind, copies[n % copies.length]!));
      inFlight.delete(id);
    }
  };
  const loadStart = performance.now();
  const workers = Array.from({ length: 8 }, (_, w) => worker(w));

  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await pause(3000);
  // The first copy of each service is the stack's process: kill -9 it, 2 s apart.
  for (const service of SERVICES) {
    if (service === 'ingress' || service === 'federation') live[service] = [1];
    const child = gw.stack.children.get(service) as ChildProcess;
    const inFlightAtSignal = inFlight.size;
    const from = performance.now();
    await new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGKILL');
    });
    kills.push({ service, from, to: performance.now(), inFlight: inFlightAtSignal });
    await pause(2000);
  }
  await pause(2000);
  running = false;
  await Promise.all(workers);

  // A failed call must have been in flight at a kill: started before the process was gone and
  // answered after it was signalled. The kill it is put down to is the first such one.
  const wrong = (c: Call) => c.status !== EXPECTED[c.kind];
  const killOf = (c: Call) => kills.find((k) => c.start < k.to && c.end > k.from);
  const failed = calls.filter(wrong);
  const report = {
    calls: calls.length,
    perSecond: Math.round(calls.length / ((performance.now() - loadStart) / 1000)),
    perKind: Object.fromEntries(
      (['allowed', 'denied', 'approval', 'forwarded'] as const).map((k) => [
        k,
        calls.filter((c) => c.kind === k).length,
      ]),
    ),
    kills: kills.map((k) => ({
      service: k.service,
      // ms after the load started: the signal, and the exit Node reported.
      at: [Math.round(k.from - loadStart), Math.round(k.to - loadStart)],
      inFlight: k.inFlight,
      failed: failed
        .filter((c) => killOf(c) === k)
        .map((c) => `${c.kind} ${c.status} ${c.code ?? ''}`.trim()),
    })),
    notInFlight: failed
      .filter((c) => !killOf(c))
      .map((c) => ({ ...c, start: c.start - loadStart, end: c.end - loadStart })),
  };
  console.log(`scale-out: ${JSON.stringify(report, null, 2)}`);
  expect(failed.filter((c) => !killOf(c))).toEqual([]);
  expect(failed.length).toBeLessThanOrEqual(kills.reduce((sum, k) => sum + k.inFlight, 0));
  // Every copy of every service was killed once: the load went on after each kill.
  for (const k of kills) expect(calls.some((c) => c.start > k.to && !wrong(c))).toBe(true);

  // The audit: one record per answered call, at most one for a failed one. An event the killed
  // audit copy had taken but not acknowledged comes back after its ack_wait (30 s).
  const answered = calls.filter((c) => !wrong(c)).map((c) => c.traceId);
  const counts = await waitFor(
    async () => {
      const res = await gw.db.query<{ trace_id: string; n: string }>(
        `SELECT trace_id, count(*) AS n FROM audit_events
          WHERE subject LIKE 'gw.evt.toolcall.%' AND trace_id = ANY($1) GROUP BY trace_id`,
        [calls.map((c) => c.traceId)],
      );
      const byTrace = new Map(res.rows.map((r) => [r.trace_id, Number(r.n)]));
      return answered.every((t) => byTrace.has(t)) ? byTrace : undefined;
    },
    60_000,
    `an audit record for each of the ${answered.length} answered calls`,
  );
  expect([...counts.values()].filter((n) => n !== 1)).toEqual([]);
  expect(answered.filter((t) => counts.get(t) !== 1)).toEqual([]);

  // The gateway is whole again with one copy of each: the surviving ingress reports it healthy.
  const health = await fetch(`${ingressUrls[1]}/health`, { headers: { 'x-admin-key': ADMIN_KEY } });
  expect(health.status).toBe(200);
}, 180_000);
