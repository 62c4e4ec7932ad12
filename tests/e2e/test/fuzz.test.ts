// Fuzzing (issue 16 §5): fast-check requests over every route of the ingress's and the
// federation service's OpenAPI documents, JSON-RPC messages inside an MCP session, every NATS
// request subject and every event the services handle, the regression corpus
// (tests/e2e/fuzz-corpus), and slow clients (slowloris) against HTTP_REQUEST_TIMEOUT_MS.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import {
  AUDIT_FEED_DEMAND_SUBJECT,
  AUDIT_STORED_SUBJECT,
  eventEnvelopeSchema,
  EVENTS,
  EVENTS_STREAM,
  REQUESTS,
  TOOLCALL_COMPLETED,
} from '@sg/contracts';
import {
  consumersBehind,
  freePort,
  fuzzEvents,
  fuzzHttp,
  fuzzMcp,
  fuzzNats,
  judge,
  routesOf,
  sendFuzzInput,
  TEST_SERVERS,
  waitFor,
  type FuzzInput,
  type FuzzRoute,
  type JsonSchema,
  type OpenApiDoc,
} from '@sg/testing';
import {
  ADMIN_KEY,
  AGENT_KEY,
  callRows,
  envelope,
  post,
  startGateway,
  type Gateway,
} from './harness.js';

const SEED = 20261206;
const HTTP_RUNS = 2500;
const NATS_RUNS = 800;
const MCP_RUNS = 600;
const EVENT_RUNS = 400;
const REQUEST_TIMEOUT_MS = 2000;
const HEADERS_TIMEOUT_MS = 1000;
const CORPUS = join(import.meta.dirname, '../fuzz-corpus');

/**
 * One input that once found a bug. `open`: the bug is not fixed yet; the fuzz tests leave out
 * the findings that `match` describes (every field given must agree; `detail` is a substring),
 * and the replay below only checks that the gateway answers it and stays up.
 */
interface CorpusEntry {
  file: string;
  note: string;
  open?: boolean;
  match?: { kind?: string; status?: number; route?: string; subject?: string; detail?: string };
  input?: FuzzInput;
  nats?: { subject: string; payloadBase64: string };
}

const corpus: CorpusEntry[] = readdirSync(CORPUS)
  .filter((f) => f.endsWith('.json'))
  .map((file) => ({
    file,
    ...(JSON.parse(readFileSync(join(CORPUS, file), 'utf8')) as Omit<CorpusEntry, 'file'>),
  }));

/** The open corpus entry that describes this finding, if any. */
function knownBug(f: {
  kind: string;
  status?: number;
  route?: string;
  subject?: string;
  detail: string;
}): CorpusEntry | undefined {
  return corpus.find(
    ({ open, match: m }) =>
      open &&
      m &&
      (m.kind === undefined || m.kind === f.kind) &&
      (m.status === undefined || m.status === f.status) &&
      (m.route === undefined || m.route === f.route) &&
      (m.subject === undefined || m.subject === f.subject) &&
      (m.detail === undefined || f.detail.includes(m.detail)),
  );
}

let gw: Gateway;
let federationUrl: string;
let routes: FuzzRoute[];

/** Waits until every durable consumer of the gateway's event stream has handled everything. */
function consumersDrained(timeoutMs: number): Promise<boolean> {
  return waitFor(
    async () => {
      const stream = `${gw.iso.subjectPrefix}_${EVENTS_STREAM}`;
      const behind = await consumersBehind(TEST_SERVERS.natsUrl, stream);
      if (Object.keys(behind).length) throw new Error(`still behind: ${JSON.stringify(behind)}`);
      return true;
    },
    timeoutMs,
    'every consumer of the event stream to drain',
  );
}

async function healthy(url: string): Promise<boolean> {
  const res = await fetch(`${url}/healthz`).catch(() => undefined);
  return res?.status === 200;
}

beforeAll(async () => {
  const federationPort = await freePort();
  federationUrl = `http://127.0.0.1:${federationPort}`;
  gw = await startGateway({
    env: {
      FEDERATION_PORT: String(federationPort),
      HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
      AUDIT_STREAM_KEEPALIVE_MS: '1000',
    },
    // Above the example's 600 calls a minute: the fuzzing calls tools far more often.
    configure: (c) => {
      const file = join(c.dir, 'policies/default.yaml');
      const policy = readFileSync(file, 'utf8');
      if (!policy.includes('limit: 600,')) throw new Error(`${file}: its agent rate limit moved`);
      writeFileSync(file, policy.replace('limit: 600,', 'limit: 1000000,'));
    },
  });
  const docs = await Promise.all(
    [gw.url, federationUrl].map(async (u) => (await fetch(`${u}/openapi.json`)).json()),
  );
  routes = [
    ...routesOf(docs[0] as OpenApiDoc, 'ingress'),
    ...routesOf(docs[1] as OpenApiDoc, 'federation'),
  ];
}, 120_000);

afterAll(async () => {
  await gw?.stop();
});

test('every HTTP route answers generated and hostile requests without a 5xx, a hang or a bare error', async () => {
  expect(routes.length).toBeGreaterThan(20);
  const report = await fuzzHttp({
    targets: { ingress: gw.url, federation: federationUrl },
    routes,
    credentials: [
      { 'x-admin-key': ADMIN_KEY },
      { 'x-api-key': AGENT_KEY },
      { authorization: `Bearer ${AGENT_KEY}` },
    ],
    seed: SEED,
    runs: HTTP_RUNS,
    deadlineMs: 10_000,
  });
  console.log(
    `fuzz http: ${report.inputs} inputs over ${Object.keys(report.perRoute).length} routes in ${Math.round(report.ms)} ms (${Math.round((report.inputs * 1000) / report.ms)}/s), ${report.findings.length} findings`,
  );
  const known = report.findings.filter((f) => knownBug(f));
  console.log(
    `fuzz http: ${known.length} findings of known open bugs (tests/e2e/fuzz-corpus): ${[
      ...new Set(known.map((f) => knownBug(f)!.file)),
    ].join(', ')}`,
  );
  const unknown = report.findings.filter((f) => !knownBug(f));
  // A new finding: its input (with seed and index) is printed; add it to the corpus once fixed.
  expect(unknown.map((f) => ({ ...f, input: { ...f.input, bodyBase64: '…' } }))).toEqual([]);
  expect(Object.keys(report.perRoute).length).toBe(routes.length);
  expect(await healthy(gw.url)).toBe(true);
  expect(await healthy(federationUrl)).toBe(true);
}, 180_000);

test('every NATS request handler answers random JSON and garbage with a reply, and stays up', async () => {
  const subjects = Object.keys(REQUESTS);
  const schemas: Record<string, JsonSchema> = {};
  for (const s of subjects) {
    try {
      schemas[s] = z.toJSONSchema(REQUESTS[s as keyof typeof REQUESTS].request, {
        unrepresentable: 'any',
        io: 'input',
      }) as JsonSchema;
    } catch {
      // Left to random JSON.
    }
  }
  const report = await fuzzNats({
    natsUrl: TEST_SERVERS.natsUrl,
    prefix: gw.iso.subjectPrefix,
    subjects,
    schemas,
    seed: SEED,
    runs: NATS_RUNS,
  });
  console.log(
    `fuzz nats: ${report.inputs} inputs over ${Object.keys(report.perSubject).length} subjects in ${Math.round(report.ms)} ms, ${report.findings.length} findings`,
  );
  expect(report.findings.filter((f) => !knownBug({ ...f, kind: 'nats' }))).toEqual([]);
  expect(await healthy(gw.url)).toBe(true);
}, 180_000);

test('JSON-RPC messages inside an MCP session are answered as JSON-RPC, never a 5xx or an internal error, and the session lives on', async () => {
  const report = await fuzzMcp({
    url: gw.url,
    credentials: { 'x-api-key': AGENT_KEY },
    tools: ['calendar.list_events', 'db.write_sensitive'],
    seed: SEED,
    runs: MCP_RUNS,
  });
  console.log(
    `fuzz mcp: ${report.inputs} messages in one session in ${Math.round(report.ms)} ms, statuses ${JSON.stringify(Object.values(report.perRoute)[0]?.statuses)}, ${report.findings.length} findings`,
  );
  expect(report.findings.map((f) => ({ ...f, input: { ...f.input, bodyBase64: '…' } }))).toEqual(
    [],
  );
  expect(await healthy(gw.url)).toBe(true);
}, 180_000);

test('random events where the handlers read them (JetStream and the core subjects) are dealt with: no service stops, every consumer drains, real events are still handled', async () => {
  const subjects = Object.keys(EVENTS);
  const schemas: Record<string, JsonSchema> = {};
  for (const s of subjects)
    schemas[s] = z.toJSONSchema(eventEnvelopeSchema(EVENTS[s as keyof typeof EVENTS]), {
      unrepresentable: 'any',
      io: 'input',
    }) as JsonSchema;
  const report = await fuzzEvents({
    natsUrl: TEST_SERVERS.natsUrl,
    prefix: gw.iso.subjectPrefix,
    subjects,
    schemas,
    coreSubjects: [AUDIT_STORED_SUBJECT, AUDIT_FEED_DEMAND_SUBJECT],
    seed: SEED,
    runs: EVENT_RUNS,
  });
  console.log(
    `fuzz events: ${report.inputs} events over ${Object.keys(report.perSubject).length} subjects (${report.stored} in JetStream) in ${Math.round(report.ms)} ms`,
  );
  expect(Object.keys(report.perSubject).length).toBe(subjects.length + 2);
  // Every durable consumer (audit ingest, anomalies, analytics) gets through all of them.
  await consumersDrained(60_000);
  expect(gw.stack.exits).toEqual([]);
  // A real call afterwards is still recorded.
  const call = await post(gw, '/api/tools/call', envelope(), { 'X-API-Key': AGENT_KEY });
  expect(call.status).toBe(200);
  expect(await callRows(gw, call.headers.get('x-trace-id')!, 1)).toHaveLength(1);
  const health = await fetch(`${gw.url}/health`);
  expect(health.status).toBe(200);
}, 180_000);

test('an event PostgreSQL cannot count (a date before 4713 BC) is skipped, and the events beside it are counted', async () => {
  // Found by the event fuzzing: one such event held every batch it was redelivered in, forever.
  const tool = `poison.check_${Date.now()}`;
  const event = (occurredAt: string) => ({
    event_id: randomUUID(),
    occurred_at: occurredAt,
    trace_id: randomUUID(),
    project: 'default',
    source: 'ingress',
    data: {
      channel: 'rest',
      agent_id: 'gpt-4o',
      session_id: 's-poison',
      request_id: null,
      tool,
      outcome: 'allowed',
      http_status: 200,
      code: null,
      risk_score: 0,
      duration_ms: 1,
    },
  });
  const nc = await natsConnect({ servers: TEST_SERVERS.natsUrl });
  try {
    const js = jetstream(nc);
    for (const e of [event('-010000-01-01T00:00:00.000Z'), event(new Date().toISOString())])
      await js.publish(`${gw.iso.subjectPrefix}.${TOOLCALL_COMPLETED}`, JSON.stringify(e), {
        msgID: e.event_id,
      });
  } finally {
    await nc.close();
  }
  const from = new Date(Date.now() - 3600_000).toISOString();
  const to = new Date(Date.now() + 3600_000).toISOString();
  const counted = await waitFor(
    async () => {
      const res = await fetch(
        `${gw.url}/api/analytics/summary?project=default&from=${from}&to=${to}`,
        { headers: { 'x-admin-key': ADMIN_KEY } },
      );
      const body = (await res.json()) as { by_tool?: { tool: string; calls: number }[] };
      return body.by_tool?.find((t) => t.tool === tool);
    },
    30_000,
    'the valid event beside the poison to be counted',
  );
  expect(counted.calls).toBe(1);
  await consumersDrained(30_000);
});

test('every input of the regression corpus is answered: below 500 once fixed, and the gateway stays up', async () => {
  expect(corpus.length).toBeGreaterThan(0);
  for (const entry of corpus) {
    if (entry.nats) {
      const report = await fuzzNatsReplay(entry.nats);
      if (!entry.open)
        expect({ file: entry.file, detail: report }).toEqual({
          file: entry.file,
          detail: undefined,
        });
      continue;
    }
    const input = entry.input!;
    const base = input.target === 'federation' ? federationUrl : gw.url;
    const route = routes.find(
      (r) =>
        r.target === input.target &&
        r.path === input.route &&
        r.method.toUpperCase() === input.method,
    );
    const answer = await sendFuzzInput(base, input, 10_000);
    const finding = judge(route, answer);
    if (entry.open) {
      // Not fixed yet: it must still be answered, and by the bug the entry describes.
      expect({ file: entry.file, status: answer.status !== undefined }).toEqual({
        file: entry.file,
        status: true,
      });
      if (
        finding &&
        !knownBug({
          ...finding,
          route: `${input.target} ${input.method} ${input.route}`,
          ...(answer.status !== undefined ? { status: answer.status } : {}),
        })
      )
        throw new Error(`${entry.file}: a finding other than the one it notes: ${finding.detail}`);
      if (!finding) console.log(`${entry.file}: fixed now; set "open": false`);
    } else {
      expect({ file: entry.file, finding }).toEqual({ file: entry.file, finding: undefined });
    }
  }
  expect(await healthy(gw.url)).toBe(true);
  expect(await healthy(federationUrl)).toBe(true);
});

/** Sends one NATS payload of the corpus; the reason it is wrong, or undefined. */
async function fuzzNatsReplay(n: {
  subject: string;
  payloadBase64: string;
}): Promise<string | undefined> {
  const nc = await natsConnect({ servers: TEST_SERVERS.natsUrl });
  try {
    const msg = await nc.request(
      `${gw.iso.subjectPrefix}.${n.subject}`,
      Buffer.from(n.payloadBase64, 'base64'),
      { timeout: 10_000 },
    );
    const reply = JSON.parse(msg.string()) as { ok?: boolean; error?: { code?: string } };
    return reply.ok === true || (reply.error?.code && reply.error.code !== 'GATEWAY.INTERNAL')
      ? undefined
      : msg.string();
  } finally {
    await nc.close();
  }
}

/** Opens a raw socket and sends `head`; resolves how long the server took to close it. */
function slowClient(head: string, drip: string): { closed: Promise<number>; socket: Socket } {
  const started = Date.now();
  const socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
  let timer: NodeJS.Timeout | undefined;
  let i = 0;
  socket.on('connect', () => {
    socket.write(head);
    // One byte a second, as a slowloris client sends its body.
    timer = setInterval(() => {
      if (!socket.destroyed) socket.write(drip[i++ % drip.length]!);
    }, 1000);
  });
  socket.on('error', () => undefined);
  socket.resume();
  const closed = new Promise<number>((resolve) =>
    socket.on('close', () => {
      clearInterval(timer);
      resolve(Date.now() - started);
    }),
  );
  return { closed, socket };
}

test('a slow body (slowloris) is cut after HTTP_REQUEST_TIMEOUT_MS while others are answered', async () => {
  const body = slowClient(
    [
      'POST /api/tools/call HTTP/1.1',
      'Host: 127.0.0.1',
      'Content-Type: application/json',
      `X-API-Key: ${AGENT_KEY}`,
      'Content-Length: 1000',
      '',
      '',
    ].join('\r\n'),
    '{"a":"xxxxxxxxxxxxxxxxxxxxxxx',
  );
  const headers = slowClient('GET /healthz HTTP/1.1\r\n', 'X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa');
  // Meanwhile the gateway answers everyone else.
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 400));
    expect(await healthy(gw.url)).toBe(true);
  }
  const [bodyMs, headersMs] = await Promise.all([body.closed, headers.closed]);
  // Node checks its deadlines every connectionsCheckingInterval (a quarter of the headers deadline).
  expect(bodyMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
  expect(bodyMs).toBeLessThan(REQUEST_TIMEOUT_MS + 2000);
  expect(headersMs).toBeLessThan(HEADERS_TIMEOUT_MS + 2000);
  expect(await healthy(gw.url)).toBe(true);
}, 30_000);

test('an SSE stream outlives HTTP_REQUEST_TIMEOUT_MS: the deadline covers the request, not the answer', async () => {
  const abort = new AbortController();
  const res = await fetch(`${gw.url}/api/audit/stream`, {
    headers: { accept: 'text/event-stream', 'x-admin-key': ADMIN_KEY },
    signal: abort.signal,
  });
  expect(res.status).toBe(200);
  let received = 0;
  let lastAt = 0;
  let ended = false;
  const reading = (async () => {
    try {
      for await (const chunk of res.body!) {
        received += (chunk as Uint8Array).length;
        lastAt = Date.now();
      }
      ended = true;
    } catch {
      /* aborted below */
    }
  })();
  const opened = Date.now();
  await new Promise((r) => setTimeout(r, REQUEST_TIMEOUT_MS * 2 + 1000));
  expect(ended).toBe(false);
  expect(received).toBeGreaterThan(0);
  // Keep-alives still arrive after the request deadline has passed.
  expect(lastAt - opened).toBeGreaterThan(REQUEST_TIMEOUT_MS + 500);
  abort.abort();
  await reading;
}, 30_000);
