import { createServer, type Server } from 'node:http';
import { connect as tcpConnect, type AddressInfo } from 'node:net';
import {
  AUDIT_FEED_DEMAND_INTERVAL_MS,
  AUDIT_FEED_DEMAND_SUBJECT,
  AUDIT_STORED_SUBJECT,
  type AuditRecord,
  type AuditStreamFilter,
  GatewayError,
} from '@sg/contracts';
import { NatsBus } from '@sg/messaging';
import { createLogger, Metrics } from '@sg/runtime';
import { isolate, TEST_SERVERS, waitFor } from '@sg/testing';
import { AuditFeed } from '../src/admin/audit-feed.js';
import type { IngressEnv } from '../src/config/env.js';

// AuditFeed on real NATS and real sockets: the fan-out, the limit, the re-check, slow clients.
const logger = createLogger('ingress', { level: 'silent', pretty: false });
const iso = isolate('asf');
const MAX = 3;
let bus: NatsBus;
let feed: AuditFeed;
let metrics: Metrics;
let server: Server;
let base: string;
/** What the stream's re-check says; a test sets it to end streams. */
let credential: GatewayError | null = null;

beforeAll(async () => {
  bus = await NatsBus.connect({
    url: TEST_SERVERS.natsUrl,
    prefix: iso.subjectPrefix,
    service: 'ingress',
    logger,
    requestTimeoutMs: 3000,
  });
  metrics = new Metrics();
  const env = { AUDIT_STREAM_MAX_CLIENTS: MAX, AUDIT_STREAM_KEEPALIVE_MS: 1000 } as IngressEnv;
  feed = new AuditFeed(bus, env, logger, metrics);
  // What AuditStreamController does once the admin and the filters are checked.
  server = createServer((req, res) => {
    const filter = Object.fromEntries(
      new URL(req.url!, 'http://x').searchParams,
    ) as AuditStreamFilter;
    let ticket;
    try {
      ticket = feed.reserve();
    } catch (err) {
      res.writeHead(503).end((err as GatewayError).code);
      return;
    }
    void ticket.ready.then(() => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': open\n\n');
      feed.attach(ticket, res, {
        filter,
        principal: 'test',
        recheck: async () => {
          if (credential) throw credential;
        },
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  feed?.beforeApplicationShutdown();
  await new Promise((r) => server?.close(r));
  await bus?.close();
  await iso.cleanup();
});

let n = 0;
function record(over: Partial<AuditRecord> = {}): AuditRecord {
  return {
    audit_id: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
    trace_id: `trace-feed-${n}`,
    project: 'acme',
    timestamp: new Date().toISOString(),
    channel: 'rest',
    agent_id: 'gpt-4o',
    session_id: 's1',
    request_id: `r${n}`,
    user_id: null,
    tenant_id: 'acme',
    tool_name: 'crm.lookup',
    arguments: {},
    result: null,
    validation: null,
    execution_time_ms: 1,
    error: null,
    status: 'success',
    http_status: 200,
    ...over,
  };
}

const announce = (payload: unknown) =>
  bus.nc.publish(
    bus.subject(AUDIT_STORED_SUBJECT),
    new TextEncoder().encode(typeof payload === 'string' ? payload : JSON.stringify(payload)),
  );

interface Stream {
  status: number;
  text(): string;
  /** The `call` events' audit ids so far. */
  ids(): string[];
  ended: Promise<void>;
  close(): void;
}

async function open(query = ''): Promise<Stream> {
  const abort = new AbortController();
  const res = await fetch(`${base}/?${query}`, { signal: abort.signal });
  let text = '';
  const ended = (async () => {
    if (!res.body) return;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body) text += decoder.decode(chunk, { stream: true });
    } catch {
      /* aborted */
    }
  })();
  return {
    status: res.status,
    text: () => text,
    ids: () => [...text.matchAll(/^id: (.+)$/gm)].map((m) => m[1]!),
    ended,
    close: () => abort.abort(),
  };
}

const dropped = async (reason: string) =>
  (await metrics.registry.getSingleMetric('sg_audit_stream_dropped_total')!.get()).values.find(
    (v) => v.labels.reason === reason,
  )?.value ?? 0;

it('sends each client the records its filters let through, once, and ignores what is not a record', async () => {
  const all = await open();
  const denied = await open('status=denied&project=acme');
  const ok = record();
  const no = record({
    status: 'denied',
    error: { code: 'POLICY.TOOL_NOT_ALLOWED', http_status: 403 },
  });
  const elsewhere = record({ status: 'denied', project: 'other' });
  announce('not json');
  announce({ audit_id: 'x' });
  for (const r of [ok, no, elsewhere]) announce(r);
  await waitFor(async () => (all.ids().length === 3 ? true : undefined), 5000, 'three records');
  expect(all.ids()).toEqual([ok.audit_id, no.audit_id, elsewhere.audit_id]);
  await waitFor(async () => (denied.ids().length >= 1 ? true : undefined), 5000, 'one record');
  expect(denied.ids()).toEqual([no.audit_id]);
  const frame = all
    .text()
    .split('\n\n')
    .find((f) => f.startsWith(`id: ${ok.audit_id}`))!;
  expect(frame).toBe(`id: ${ok.audit_id}\nevent: call\ndata: ${JSON.stringify(ok)}`);
  all.close();
  denied.close();
  await waitFor(async () => (feed.size === 0 ? true : undefined), 5000, 'both streams to close');
});

it('asks the audit for the feed while a stream is open, and stops when the last one closes', async () => {
  let asked = 0;
  const demand = bus.nc.subscribe(bus.subject(AUDIT_FEED_DEMAND_SUBJECT), {
    callback: () => {
      asked++;
    },
  });
  await bus.nc.flush();
  try {
    const first = await open();
    await waitFor(async () => (asked >= 1 ? true : undefined), 5000, 'the first demand');
    const second = await open();
    // Again every interval while streams are open; once for both streams.
    await waitFor(
      async () => (asked >= 2 ? true : undefined),
      3 * AUDIT_FEED_DEMAND_INTERVAL_MS,
      'a repeated demand',
    );
    first.close();
    second.close();
    await waitFor(async () => (feed.size === 0 ? true : undefined), 5000, 'both streams to close');
    const after = asked;
    await new Promise((r) => setTimeout(r, AUDIT_FEED_DEMAND_INTERVAL_MS + 500));
    expect(asked).toBe(after);
  } finally {
    demand.unsubscribe();
  }
});

it(`serves at most ${MAX} streams and frees a place when one closes`, async () => {
  const streams = [];
  for (let i = 0; i < MAX; i++) streams.push(await open());
  expect(streams.map((s) => s.status)).toEqual(Array(MAX).fill(200));
  const refused = await fetch(base);
  expect([refused.status, await refused.text()]).toEqual([503, 'AUDIT.STREAM_LIMIT']);
  streams.pop()!.close();
  await waitFor(async () => (feed.size === MAX - 1 ? true : undefined), 5000, 'a place');
  const again = await open();
  expect(again.status).toBe(200);
  for (const s of [...streams, again]) s.close();
  await waitFor(async () => (feed.size === 0 ? true : undefined), 5000, 'every stream to close');
});

it('ends a stream whose credential no longer holds, at the next keep-alive', async () => {
  const s = await open();
  await waitFor(
    async () => (s.text().includes(': keep-alive') ? true : undefined),
    3000,
    'a keep-alive',
  );
  credential = new GatewayError('AUTH.SESSION_INVALID', 'the dashboard session expired');
  try {
    await s.ended;
    expect(s.text()).toContain(
      `event: end\ndata: ${JSON.stringify({ code: 'AUTH.SESSION_INVALID', message: 'the dashboard session expired; the stream was closed' })}\n\n`,
    );
    expect(feed.size).toBe(0);
  } finally {
    credential = null;
  }
});

it('closes a client that does not read instead of buffering for it', async () => {
  const before = (await dropped('buffer_full')) + (await dropped('not_draining'));
  // A client that sends its request and never reads a byte.
  const socket = tcpConnect((server.address() as AddressInfo).port, '127.0.0.1');
  socket.pause();
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(async () => (feed.size === 1 ? true : undefined), 5000, 'the stream to open');
  const big = 'x'.repeat(400_000);
  for (let i = 0; i < 60 && feed.size > 0; i++) {
    announce(record({ arguments: { big } }));
    await new Promise((r) => setTimeout(r, 20));
  }
  await waitFor(
    async () => (feed.size === 0 ? true : undefined),
    15_000,
    'the slow client to be closed',
  );
  expect((await dropped('buffer_full')) + (await dropped('not_draining'))).toBe(before + 1);
  socket.destroy();
});

it('ends every stream with an end event when the process shuts down', async () => {
  const s = await open();
  feed.beforeApplicationShutdown();
  await s.ended;
  expect(s.text()).toMatch(/event: end\ndata: \{"code":"GATEWAY.SERVICE_UNAVAILABLE"/);
  expect(feed.size).toBe(0);
});
