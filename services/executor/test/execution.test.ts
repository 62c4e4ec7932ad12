import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { INestMicroservice } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  EXECUTE_SUBJECT,
  type EventEnvelope,
  type ExecuteRequest,
  GatewayError,
  TOOLCALL_EXECUTED,
  TOOLCALL_COMPLETED,
  type ToolCallCompleted,
  type ToolCallExecuted,
} from '@sg/contracts';
import { BusClient, BusServer, CONFIG_SYNC_OPTIONS, ConfigSync, NatsBus } from '@sg/messaging';
import { httpUpstreamSchema, loadGatewayFiles } from '@sg/config';
import { createLogger, ENV, HealthService, LOGGER, Metrics } from '@sg/runtime';
import {
  exampleConfigDir,
  freePort,
  isolate,
  startUpstream,
  TEST_SERVERS,
  waitFor,
  type ConfigDir,
  type TestUpstream,
} from '@sg/testing';
import { loadExecutorEnv } from '../src/config/env.js';
import { ExecutionController } from '../src/execution/execution.controller.js';
import { ExecutionService } from '../src/execution/execution.service.js';
import { callHttpUpstream, type HttpUpstream } from '../src/execution/http-upstream.js';
import { UpstreamResilience } from '../src/resilience/index.js';
import { EnvSecretProvider, SECRET_PROVIDER } from '@sg/runtime';

const iso = isolate('exe');
const logger = createLogger('executor', { level: 'silent', pretty: false });
/** The size limit of the executor built for the size tests. */
const SMALL_LIMIT = 4096;

let upstream: TestUpstream;
let custom: { url: string; close(): Promise<void> };
let config: ConfigDir;
let deadPort: number;
let service: ExecutionService;
let small: ExecutionService;

let n = 0;
const call = (tool: string, args: Record<string, unknown> = {}): ExecuteRequest => ({
  project: 'default',
  agent_id: 'gpt-4o',
  session_id: 'sess-1',
  request_id: `req-${++n}`,
  tool,
  arguments: args,
});

function tool(name: string, upstreamConfig: Partial<HttpUpstream> & { url: string }) {
  config.write(`tools/${name}.json`, { name, upstream: { type: 'http', ...upstreamConfig } });
}

/** Whatever `promise` rejected with (fails the test if it resolved). */
async function failure(promise: Promise<unknown>): Promise<GatewayError> {
  const outcome = await promise.then(
    (value) => ({ resolved: value }),
    (err: unknown) => ({ err }),
  );
  if (!('err' in outcome))
    throw new Error(`expected a failure, got ${JSON.stringify(outcome.resolved)}`);
  expect(outcome.err).toBeInstanceOf(GatewayError);
  return outcome.err as GatewayError;
}

/**
 * Answers bodies of exact sizes: /length/<n> with Content-Length, /chunked/<n> without it
 * (Transfer-Encoding: chunked), both a JSON string of exactly n bytes; /badjson a broken body.
 */
async function startCustomUpstream() {
  const server: Server = createServer((req, res) => {
    const sized = /^\/(length|chunked)\/(\d+)/.exec(req.url ?? '');
    if (sized) {
      const body = JSON.stringify('a'.repeat(Number(sized[2]) - 2));
      if (sized[1] === 'length') {
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        });
        res.end(body);
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        for (let i = 0; i < body.length; i += 1000) res.write(body.slice(i, i + 1000));
        res.end();
      }
      return;
    }
    if (req.url === '/badjson') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"half": ');
      return;
    }
    if (req.url === '/text') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('plain words');
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

beforeAll(async () => {
  upstream = await startUpstream();
  custom = await startCustomUpstream();
  deadPort = await freePort();
  config = exampleConfigDir(upstream.url);
  tool('echo.post', {
    url: `${upstream.url}/tools/echo.post`,
    method: 'POST',
    headers: { 'x-upstream-key': 'registry-secret-123', 'x-tenant': 'acme' },
  });
  tool('search.get', {
    url: `${upstream.url}/tools/search.get?api_version=2`,
    method: 'GET',
    arguments_in: 'query',
  });
  tool('slow.tool', { url: `${upstream.url}/slow/700`, timeout_ms: 150 });
  tool('broken.tool', { url: `${upstream.url}/status/500` });
  tool('notfound.tool', { url: `${upstream.url}/status/404` });
  tool('gone.tool', { url: `http://127.0.0.1:${deadPort}/tools/gone.tool` });
  tool('size.length_at_limit', { url: `${custom.url}/length/${SMALL_LIMIT}` });
  tool('size.length_over', { url: `${custom.url}/length/${SMALL_LIMIT + 1}` });
  tool('size.chunked_at_limit', { url: `${custom.url}/chunked/${SMALL_LIMIT}` });
  tool('size.chunked_over', { url: `${custom.url}/chunked/${SMALL_LIMIT + 1}` });
  tool('size.two_mib', { url: `${custom.url}/length/${2 * 1024 * 1024}` });
  tool('bad.json', { url: `${custom.url}/badjson` });
  tool('plain.text', { url: `${custom.url}/text` });
  // The registry as ConfigSync serves it (its reloading is tested in libs/messaging).
  const registry = { files: loadGatewayFiles(config.dir) } as ConfigSync;
  const noSecrets = new EnvSecretProvider({});
  service = new ExecutionService(
    loadExecutorEnv({ ...iso.env, CONFIG_DIR: config.dir }),
    registry,
    noSecrets,
    new UpstreamResilience(),
  );
  small = new ExecutionService(
    loadExecutorEnv({
      ...iso.env,
      CONFIG_DIR: config.dir,
      MAX_RESPONSE_BYTES: String(SMALL_LIMIT),
    }),
    registry,
    noSecrets,
    new UpstreamResilience(),
  );
});

afterAll(async () => {
  await upstream?.close();
  await custom?.close();
  config?.remove();
  await iso.cleanup();
});

beforeEach(() => {
  upstream.calls.length = 0;
});

describe('ExecutionService against a real HTTP upstream', () => {
  it('POSTs exactly the arguments as a JSON body and returns the upstream JSON with its status', async () => {
    const args = {
      title: 'Standup',
      attendees: ['ana', 'bo'],
      nested: { n: 1, ok: true },
      empty: null,
    };
    const out = await service.execute(call('echo.post', args));
    expect(out.upstream_status).toBe(200);
    expect(out.result).toEqual({ tool: 'echo.post', echo: args });
    expect(out.duration_ms).toBeGreaterThanOrEqual(0);
    expect(upstream.calls).toHaveLength(1);
    const [received] = upstream.calls;
    expect(received).toMatchObject({ method: 'POST', url: '/tools/echo.post', body: args });
    expect(received!.headers['content-type']).toBe('application/json');
    expect(received!.headers.accept).toBe('application/json');
  });

  it('sends the headers of the registry entry to the upstream', async () => {
    await service.execute(call('echo.post', {}));
    expect(upstream.calls[0]!.headers).toMatchObject({
      'x-upstream-key': 'registry-secret-123',
      'x-tenant': 'acme',
    });
  });

  it('sends a GET tool its arguments as query string, keeping the query of the registry URL, and no body', async () => {
    const out = await service.execute(
      call('search.get', { q: 'hello world', limit: 5, filter: { kind: 'doc' } }),
    );
    expect(out.upstream_status).toBe(200);
    expect(upstream.calls).toHaveLength(1);
    const [received] = upstream.calls;
    expect(received!.method).toBe('GET');
    expect(received!.body).toBeNull();
    const url = new URL(received!.url, upstream.url);
    expect(url.pathname).toBe('/tools/search.get');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      api_version: '2',
      q: 'hello world',
      limit: '5',
      filter: '{"kind":"doc"}',
    });
  });

  it('never lets an argument replace a query parameter the registry fixes', async () => {
    await service.execute(call('search.get', { api_version: '999', q: 'x' }));
    const url = new URL(upstream.calls[0]!.url, upstream.url);
    expect(url.searchParams.getAll('api_version')).toEqual(['2']);
    expect(url.searchParams.get('q')).toBe('x');
  });

  it('returns a non-JSON answer as text', async () => {
    await expect(service.execute(call('plain.text'))).resolves.toMatchObject({
      result: 'plain words',
      upstream_status: 200,
    });
  });

  it('gives up on an upstream slower than the tool timeout with UPSTREAM_TIMEOUT, in bounded time', async () => {
    const started = Date.now();
    const err = await failure(service.execute(call('slow.tool')));
    const elapsed = Date.now() - started;
    expect(err.code).toBe('EXECUTOR.UPSTREAM_TIMEOUT');
    expect(err.message).toContain('150 ms');
    expect(elapsed).toBeGreaterThanOrEqual(140);
    // The upstream answers after 700 ms: the executor must not wait for it.
    expect(elapsed).toBeLessThan(600);
  });

  it.each([
    [
      'an upstream answering 500',
      'broken.tool',
      'EXECUTOR.UPSTREAM_ERROR',
      { upstream_status: 500 },
    ],
    [
      'an upstream answering 404',
      'notfound.tool',
      'EXECUTOR.UPSTREAM_ERROR',
      { upstream_status: 404 },
    ],
    ['an upstream sending broken JSON', 'bad.json', 'EXECUTOR.UPSTREAM_ERROR', undefined],
    ['an upstream nobody listens on', 'gone.tool', 'EXECUTOR.UPSTREAM_UNREACHABLE', undefined],
    [
      'a tool missing from the executor registry',
      'not.registered',
      'EXECUTOR.TOOL_UNAVAILABLE',
      undefined,
    ],
  ])('fails %s with %s', async (_label, toolName, code, details) => {
    const err = await failure(service.execute(call(toolName)));
    expect(err.code).toBe(code);
    expect(err.message).toContain(toolName);
    expect(err.details).toEqual(details);
  });

  it('never calls an upstream for a tool missing from the registry', async () => {
    await failure(service.execute(call('not.registered')));
    expect(upstream.calls).toHaveLength(0);
  });

  it.each([
    ['with Content-Length', 'size.length_at_limit'],
    ['chunked, without Content-Length', 'size.chunked_at_limit'],
  ])('accepts a response of exactly MAX_RESPONSE_BYTES (%s)', async (_label, toolName) => {
    const out = await small.execute(call(toolName));
    expect(out.upstream_status).toBe(200);
    expect(JSON.stringify(out.result)).toHaveLength(SMALL_LIMIT);
  });

  it('refuses a chunked response one byte over MAX_RESPONSE_BYTES with UPSTREAM_ERROR', async () => {
    const err = await failure(small.execute(call('size.chunked_over')));
    expect(err.code).toBe('EXECUTOR.UPSTREAM_ERROR');
    expect(err.message).toContain(String(SMALL_LIMIT));
  });

  // Once crashed the executor: destroying the body emitted an unhandled RequestAbortedError.
  it('refuses a response whose Content-Length is over MAX_RESPONSE_BYTES, without an unhandled error', async () => {
    const err = await failure(small.execute(call('size.length_over')));
    expect(err.code).toBe('EXECUTOR.UPSTREAM_ERROR');
    expect(err.message).toContain(String(SMALL_LIMIT));
    // The stream error is emitted on a later tick: give it the chance to surface in this test.
    await new Promise((r) => setTimeout(r, 100));
  });

  it('lets callHttpUpstream be used directly with its own limit', async () => {
    const spec: HttpUpstream = httpUpstreamSchema.parse({
      type: 'http',
      url: `${upstream.url}/tools/direct`,
      method: 'PUT',
      timeout_ms: 2000,
    });
    await expect(callHttpUpstream('direct', spec, { a: 1 }, 1024)).resolves.toEqual({
      status: 200,
      body: { tool: 'direct', echo: { a: 1 } },
    });
    expect(upstream.calls[0]).toMatchObject({ method: 'PUT', body: { a: 1 } });
    const err = await failure(callHttpUpstream('direct', spec, { a: 'x'.repeat(100) }, 50));
    expect(err.code).toBe('EXECUTOR.UPSTREAM_ERROR');
  });
});

describe('gw.executor.execute.v1 over NATS', () => {
  const traceId = 'trace-exec-0001';
  let app: INestMicroservice;
  let serverBus: NatsBus;
  let client: NatsBus;
  /** Request ids sent over NATS in this block, in order. */
  const sent: string[] = [];
  const send = (req: ExecuteRequest) => {
    sent.push(req.request_id);
    return new BusClient(client).request(EXECUTE_SUBJECT, req, { traceId, project: 'default' });
  };

  /** Every event of `subject` in the isolated stream, in stream order. */
  async function eventsOf<T>(subject: string): Promise<EventEnvelope<T>[]> {
    const jsm = await client.jsm();
    const { state } = await jsm.streams.info(client.streamName);
    const out: EventEnvelope<T>[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(client.streamName, { seq });
      if (m?.subject === client.subject(subject)) out.push(m.json<EventEnvelope<T>>());
    }
    return out;
  }
  const executedEvents = () => eventsOf<ToolCallExecuted>(TOOLCALL_EXECUTED);

  const eventFor = (requestId: string) =>
    waitFor(
      async () => (await executedEvents()).find((e) => e.data.request_id === requestId),
      5000,
      `the executed event of ${requestId}`,
    );

  beforeAll(async () => {
    const opts = {
      url: TEST_SERVERS.natsUrl,
      prefix: iso.subjectPrefix,
      logger,
      requestTimeoutMs: 5000,
    };
    serverBus = await NatsBus.connect({ ...opts, service: 'executor' });
    await serverBus.ensureStream();
    client = await NatsBus.connect({ ...opts, service: 'ingress' });
    const moduleRef = await Test.createTestingModule({
      controllers: [ExecutionController],
      providers: [
        { provide: ENV, useValue: loadExecutorEnv({ ...iso.env, CONFIG_DIR: config.dir }) },
        { provide: LOGGER, useValue: logger },
        { provide: NatsBus, useValue: serverBus },
        HealthService,
        Metrics,
        { provide: CONFIG_SYNC_OPTIONS, useValue: { announce: false } },
        ConfigSync,
        { provide: SECRET_PROVIDER, useValue: new EnvSecretProvider({}) },
        UpstreamResilience,
        ExecutionService,
      ],
    }).compile();
    // Nest runs the controller on the bus transport, as in the service.
    app = moduleRef.createNestMicroservice({ strategy: new BusServer(serverBus) });
    await app.listen();
    await serverBus.nc.flush();
  });

  afterAll(async () => {
    await app?.close();
    await client?.close();
    await serverBus?.close();
  });

  it('answers with the upstream result and records an ok event with the trace', async () => {
    const req = call('echo.post', { city: 'Lisbon' });
    const out = await send(req);
    expect(out).toMatchObject({
      upstream_status: 200,
      result: { tool: 'echo.post', echo: { city: 'Lisbon' } },
    });
    expect(upstream.calls.map((c) => c.body)).toEqual([{ city: 'Lisbon' }]);

    const event = await eventFor(req.request_id);
    expect(event).toMatchObject({
      trace_id: traceId,
      project: 'default',
      source: 'executor',
      data: {
        agent_id: 'gpt-4o',
        request_id: req.request_id,
        tool: 'echo.post',
        status: 'ok',
        upstream_status: 200,
        error_code: null,
        result: { tool: 'echo.post', echo: { city: 'Lisbon' } },
      },
    });
  });

  it.each([
    ['an upstream error', 'broken.tool', 'EXECUTOR.UPSTREAM_ERROR', 500],
    ['an upstream timeout', 'slow.tool', 'EXECUTOR.UPSTREAM_TIMEOUT', null],
    ['an unreachable upstream', 'gone.tool', 'EXECUTOR.UPSTREAM_UNREACHABLE', null],
    ['an unregistered tool', 'not.registered', 'EXECUTOR.TOOL_UNAVAILABLE', null],
  ])(
    'answers %s with its code and records an error event',
    async (_label, toolName, code, upstreamStatus) => {
      const req = call(toolName);
      expect(await send(req)).toMatchObject({
        ok: false,
        error: { code },
        upstream_status: upstreamStatus,
      });

      const event = await eventFor(req.request_id);
      expect(event.trace_id).toBe(traceId);
      expect(event.data).toMatchObject({
        tool: toolName,
        status: 'error',
        error_code: code,
        upstream_status: upstreamStatus,
      });
      expect(event.data).not.toHaveProperty('result');
    },
  );

  // A result must fit in one NATS message: once it waited for the timeout and lost the event.
  it('answers an upstream result too large for NATS with an error code at once, and records it', async () => {
    const req = call('size.two_mib');
    const started = Date.now();
    expect(await send(req)).toMatchObject({
      ok: false,
      error: { code: 'EXECUTOR.UPSTREAM_ERROR' },
    });
    expect(Date.now() - started).toBeLessThan(2000);
    expect((await eventFor(req.request_id)).data).toMatchObject({
      status: 'error',
      error_code: 'EXECUTOR.UPSTREAM_ERROR',
    });
  });

  it("records a call sent with its call record as the call's one toolcall.completed, under the record's audit_id", async () => {
    const decision = {
      allowed: true,
      code: null,
      reason: 'allowed by test',
      rule_trace: [],
      reasoning: [],
      suggestions: [],
      risk_score: 0.25,
      requires_approval: false,
      policy_version: 'v-test',
    };
    const ok = {
      ...call('echo.post', { city: 'Porto' }),
      record: {
        audit_id: randomUUID(),
        channel: 'mcp' as const,
        agent_version: null,
        user_id: 'alice',
        decision,
        elapsed_ms: 2,
      },
    };
    const failed = { ...call('broken.tool'), record: { ...ok.record, audit_id: randomUUID() } };
    expect(
      await client.request(EXECUTE_SUBJECT, ok, { traceId, project: 'default' }),
    ).toMatchObject({ ok: true, upstream_status: 200 });
    expect(
      await client.request(EXECUTE_SUBJECT, failed, { traceId, project: 'default' }),
    ).toMatchObject({ ok: false, error: { code: 'EXECUTOR.UPSTREAM_ERROR' } });
    const completed = () => eventsOf<ToolCallCompleted>(TOOLCALL_COMPLETED);
    const events = await waitFor(
      async () => {
        const all = await completed();
        return all.length === 2 ? all : undefined;
      },
      5000,
      'two completed events',
    );
    expect(events[0]).toMatchObject({
      event_id: ok.record.audit_id,
      trace_id: traceId,
      source: 'executor',
      data: {
        channel: 'mcp',
        agent_id: 'gpt-4o',
        request_id: ok.request_id,
        tool: 'echo.post',
        outcome: 'allowed',
        http_status: 200,
        code: null,
        risk_score: 0.25,
        user_id: 'alice',
        arguments: { city: 'Porto' },
        decision,
        execution: {
          status: 'ok',
          upstream_status: 200,
          error_code: null,
          result: { tool: 'echo.post', echo: { city: 'Porto' } },
        },
      },
    });
    expect(events[0]!.data.duration_ms).toBeGreaterThanOrEqual(2);
    expect(events[1]).toMatchObject({
      event_id: failed.record.audit_id,
      data: {
        outcome: 'error',
        http_status: 502,
        code: 'EXECUTOR.UPSTREAM_ERROR',
        execution: { status: 'error', error_code: 'EXECUTOR.UPSTREAM_ERROR' },
      },
    });
    // Not a toolcall.executed as well: one record per call.
    expect((await executedEvents()).map((e) => e.data.request_id)).not.toContain(ok.request_id);
  });

  it('records exactly one event per call, in the order of the calls', async () => {
    expect(sent.length).toBeGreaterThan(0);
    await eventFor(sent[sent.length - 1]!);
    await new Promise((r) => setTimeout(r, 200));
    expect((await executedEvents()).map((e) => e.data.request_id)).toEqual(sent);
  });
});
