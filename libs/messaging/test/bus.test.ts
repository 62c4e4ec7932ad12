import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { DECIDE_SUBJECT, GatewayError, TOOLCALL_COMPLETED } from '@sg/contracts';
import { context, createLogger, startTracing, trace } from '@sg/runtime';
import { isolate, TEST_SERVERS, waitFor } from '@sg/testing';
import { NatsBus } from '../src/index.js';
import { allow, decideRequest } from './fixtures.js';

const iso = isolate('bus');
const logger = createLogger('policy', { level: 'silent', pretty: false });
const ctx = { traceId: 'trace-bus-0001', project: 'default' };
const completed = {
  channel: 'rest' as const,
  agent_id: 'a',
  session_id: null,
  request_id: null,
  tool: null,
  outcome: 'rejected' as const,
  http_status: 401,
  code: 'AUTH.INVALID_KEY' as const,
  risk_score: null,
  duration_ms: 1,
};

let server: NatsBus;
let client: NatsBus;

beforeAll(async () => {
  const opts = {
    url: TEST_SERVERS.natsUrl,
    prefix: iso.subjectPrefix,
    logger,
    requestTimeoutMs: 300,
  };
  server = await NatsBus.connect({ ...opts, service: 'policy' });
  client = await NatsBus.connect({ ...opts, service: 'ingress' });
});

afterAll(async () => {
  await client.close();
  await server.close();
  await iso.cleanup();
});

describe('request/handle', () => {
  it('delivers a valid request with its trace headers and returns the validated answer', async () => {
    let seen: unknown;
    server.handle(DECIDE_SUBJECT, async (req, c) => {
      seen = { tool: req.tool, traceId: c.traceId, project: c.project };
      return allow;
    });
    await server.nc.flush();
    await expect(client.request(DECIDE_SUBJECT, decideRequest, ctx)).resolves.toEqual(allow);
    expect(seen).toEqual({
      tool: 'calendar.list_events',
      traceId: 'trace-bus-0001',
      project: 'default',
    });
  });

  it('has a request that breaks its schema refused where it is received, with MESSAGE.INVALID', async () => {
    let handled = 0;
    server.handle('gw.policy.approval_get.v1', async () => {
      handled++;
      throw new GatewayError('APPROVAL.NOT_FOUND', 'none');
    });
    await server.nc.flush();
    await expect(
      client.request('gw.policy.approval_get.v1', { approval_id: '../etc' }, ctx),
    ).rejects.toMatchObject({ code: 'MESSAGE.INVALID' });
    expect(handled).toBe(0);
  });

  it('answers a malformed message with MESSAGE.INVALID instead of crashing', async () => {
    const raw = await client.nc.request(
      client.subject(DECIDE_SUBJECT),
      new TextEncoder().encode('{"tool": 42'),
      { timeout: 1000 },
    );
    expect(raw.json()).toMatchObject({ ok: false, error: { code: 'MESSAGE.INVALID' } });
    const wrongShape = await client.nc.request(
      client.subject(DECIDE_SUBJECT),
      new TextEncoder().encode('{"tool": 42}'),
      { timeout: 1000 },
    );
    expect(wrongShape.json()).toMatchObject({ ok: false, error: { code: 'MESSAGE.INVALID' } });
    // The handler is still answering.
    await expect(client.request(DECIDE_SUBJECT, decideRequest, ctx)).resolves.toEqual(allow);
  });

  it('turns a thrown GatewayError into the same error on the caller side', async () => {
    const subject = `gw.executor.execute.v1` as const;
    server.handle(subject, async () => {
      throw new GatewayError('EXECUTOR.UPSTREAM_TIMEOUT', 'too slow');
    });
    await server.nc.flush();
    const req = {
      project: 'default',
      agent_id: 'a',
      session_id: 's',
      request_id: 'r',
      tool: 't',
      arguments: {},
    };
    await expect(client.request(subject, req, ctx)).rejects.toMatchObject({
      code: 'EXECUTOR.UPSTREAM_TIMEOUT',
      message: 'too slow',
    });
  });

  it('hides an unexpected handler failure behind GATEWAY.INTERNAL', async () => {
    const subject = `gw.audit.trace.v1` as const;
    server.handle(subject, async () => {
      throw new Error('secret detail: password=hunter2');
    });
    await server.nc.flush();
    const err = (await client
      .request(subject, { trace_id: 'abcdefgh' }, ctx)
      .catch((e) => e)) as GatewayError;
    expect(err.code).toBe('GATEWAY.INTERNAL');
    expect(err.message).not.toContain('hunter2');
  });

  it('answers SERVICE_UNAVAILABLE at once when no one serves the subject', async () => {
    const started = Date.now();
    const err = (await client
      .request('gw.analytics.health.v1', {}, ctx, 5000)
      .catch((e) => e)) as GatewayError;
    expect(err.code).toBe('GATEWAY.SERVICE_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('answers SERVICE_TIMEOUT when the service does not reply in time', async () => {
    server.handle('gw.federation.health.v1', () => new Promise(() => undefined));
    await server.nc.flush();
    const err = (await client
      .request('gw.federation.health.v1', {}, ctx, 200)
      .catch((e) => e)) as GatewayError;
    expect(err.code).toBe('GATEWAY.SERVICE_TIMEOUT');
  });
});

describe('publish', () => {
  it('stores an event once in its stream even when published twice with the same id', async () => {
    await client.ensureStream();
    // Tracing off (the default): a context given to the message does not travel.
    startTracing('ingress', { OTEL_TRACES_EXPORTER: 'none' });
    const span = { traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), traceFlags: 1 };
    const traced = { ...ctx, otel: trace.setSpanContext(context.active(), span) };
    const id = client.publish(TOOLCALL_COMPLETED, completed, traced);
    client.publish(TOOLCALL_COMPLETED, completed, traced, id);
    const jsm = await jetstreamManager(client.nc);
    const info = await waitFor(async () => {
      const i = await jsm.streams.info(client.streamName);
      return i.state.messages >= 1 ? i : undefined;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect((await jsm.streams.info(client.streamName)).state.messages).toBe(1);
    expect(info.config.duplicate_window).toBeGreaterThanOrEqual(10 * 60 * 1e9);
    const msg = await jsm.streams.getMessage(client.streamName, { seq: 1 });
    expect(msg?.header.get('Nats-Msg-Id')).toBe(id);
    expect(msg?.header.get('x-trace-id')).toBe('trace-bus-0001');
    expect(msg?.header.has('traceparent')).toBe(false);
    expect(msg?.json()).toMatchObject({
      event_id: id,
      trace_id: 'trace-bus-0001',
      source: 'ingress',
      data: { code: 'AUTH.INVALID_KEY' },
    });
  });
});

describe('publishConfirmed', () => {
  it('resolves once the event is in the stream, and stores an id published again once', async () => {
    await client.ensureStream();
    const jsm = await client.jsm();
    const id = randomUUID();
    await client.publishConfirmed(TOOLCALL_COMPLETED, completed, ctx, id);
    // No waiting: resolved means stored.
    const stored = await jsm.streams.getMessage(client.streamName, {
      last_by_subj: client.subject(TOOLCALL_COMPLETED),
    });
    expect(stored?.header.get('Nats-Msg-Id')).toBe(id);
    expect(stored?.header.get('x-trace-id')).toBe('trace-bus-0001');
    expect(stored?.json()).toMatchObject({
      event_id: id,
      trace_id: 'trace-bus-0001',
      project: 'default',
      source: 'ingress',
      data: completed,
    });
    const count = (await jsm.streams.info(client.streamName)).state.messages;
    await client.publishConfirmed(TOOLCALL_COMPLETED, completed, ctx, id);
    expect((await jsm.streams.info(client.streamName)).state.messages).toBe(count);
  });

  it('rejects when no stream acknowledges the event', async () => {
    // Its own prefix has no stream, so nothing stores what it publishes.
    const orphan = await NatsBus.connect({
      url: TEST_SERVERS.natsUrl,
      prefix: `${iso.subjectPrefix}none`,
      logger,
      requestTimeoutMs: 300,
      service: 'audit',
    });
    try {
      await expect(
        orphan.publishConfirmed(TOOLCALL_COMPLETED, completed, ctx, randomUUID()),
      ).rejects.toMatchObject({ code: 'GATEWAY.SERVICE_UNAVAILABLE' });
    } finally {
      await orphan.close();
    }
  });

  it('rejects an event larger than a message may be without storing it', async () => {
    const jsm = await client.jsm();
    const count = (await jsm.streams.info(client.streamName)).state.messages;
    const huge = { ...completed, agent_id: 'x'.repeat(client.maxPayload) };
    await expect(
      client.publishConfirmed(TOOLCALL_COMPLETED, huge, ctx, randomUUID()),
    ).rejects.toMatchObject({ code: 'MESSAGE.TOO_LARGE' });
    expect((await jsm.streams.info(client.streamName)).state.messages).toBe(count);
  });
});
