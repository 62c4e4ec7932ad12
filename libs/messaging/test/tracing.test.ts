import type { INestMicroservice } from '@nestjs/common';
import { jetstreamManager } from '@nats-io/jetstream';
import { Test } from '@nestjs/testing';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { AUDIT_TRACE_SUBJECT, type RequestOf, TOOLCALL_EXECUTED } from '@sg/contracts';
import {
  context,
  createLogger,
  inSpan,
  LOGGER,
  Metrics,
  SpanKind,
  startRequestSpan,
  startTracing,
  trace,
} from '@sg/runtime';
import { isolate, TEST_SERVERS, waitFor } from '@sg/testing';
import {
  BusClient,
  type BusContext,
  BusController,
  BusServer,
  Ctx,
  MessagePattern,
  NatsBus,
  Payload,
} from '../src/index.js';

const iso = isolate('otel');
const logger = createLogger('executor', { level: 'silent', pretty: false });
const spans = new InMemorySpanExporter();
const tracing = startTracing(
  'test',
  { OTEL_TRACES_EXPORTER: 'none', OTEL_TRACES_SAMPLER: 'always_on' },
  [new SimpleSpanProcessor({ exporter: spans })],
);

/** Stands in for the executor: an upstream call inside its handler, and an event it publishes. */
@BusController()
class Handler {
  constructor(private readonly bus: NatsBus) {}

  @MessagePattern(AUDIT_TRACE_SUBJECT)
  async trace(@Payload() req: RequestOf<typeof AUDIT_TRACE_SUBJECT>, @Ctx() ctx: BusContext) {
    await inSpan('upstream echo', SpanKind.CLIENT, {}, async () => undefined);
    this.bus.publish(
      TOOLCALL_EXECUTED,
      {
        agent_id: 'a',
        request_id: 'r-1',
        tool: 'echo',
        arguments: {},
        status: 'ok',
        duration_ms: 1,
        upstream_status: 200,
        error_code: null,
      },
      ctx,
    );
    return { trace_id: req.trace_id, events: [] };
  }
}

let serverBus: NatsBus;
let clientBus: NatsBus;
let app: INestMicroservice;

beforeAll(async () => {
  const opts = {
    url: TEST_SERVERS.natsUrl,
    prefix: iso.subjectPrefix,
    logger,
    requestTimeoutMs: 2000,
  };
  serverBus = await NatsBus.connect({ ...opts, service: 'executor' });
  await serverBus.ensureStream();
  clientBus = await NatsBus.connect({ ...opts, service: 'ingress' });
  const moduleRef = await Test.createTestingModule({
    controllers: [Handler],
    providers: [
      { provide: LOGGER, useValue: logger },
      { provide: NatsBus, useValue: serverBus },
      Metrics,
    ],
  }).compile();
  app = moduleRef.createNestMicroservice({ strategy: new BusServer(serverBus) });
  await app.listen();
  await serverBus.nc.flush();
});

afterAll(async () => {
  await app.close();
  await clientBus.close();
  await serverBus.close();
  await tracing.shutdown();
});

describe('OpenTelemetry across the bus (in-memory span exporter)', () => {
  it('one request gives one trace whose id is the gateway trace id, with parents and children right', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const root = startRequestSpan('POST /api/tools/call', traceId, context.active(), {});
    const rootCtx = trace.setSpan(context.active(), root);
    await new BusClient(clientBus).request(
      AUDIT_TRACE_SUBJECT,
      { trace_id: traceId },
      { traceId, project: 'default', otel: rootCtx },
    );
    root.end();

    const finished = await waitFor(async () => {
      const all = spans.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
      return all.length >= 4 ? all : undefined;
    });
    const byName = (name: string) => finished.find((s) => s.name === name)!;
    const request = byName('POST /api/tools/call');
    const server = finished.find(
      (s) => s.name === AUDIT_TRACE_SUBJECT && s.kind === SpanKind.SERVER,
    )!;
    const upstream = byName('upstream echo');
    expect(finished.map((s) => s.spanContext().traceId)).toEqual(finished.map(() => traceId));
    const clientSpan = finished.find(
      (s) => s.name === AUDIT_TRACE_SUBJECT && s.kind === SpanKind.CLIENT,
    )!;
    expect(request.parentSpanContext).toBeUndefined();
    expect(clientSpan.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(server.parentSpanContext?.spanId).toBe(clientSpan.spanContext().spanId);
    expect(server.parentSpanContext?.isRemote).toBe(true);
    expect(upstream.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(server.attributes['messaging.destination.name']).toBe(AUDIT_TRACE_SUBJECT);

    // The event the handler published carries the handler's span as its parent.
    const jsm = await jetstreamManager(clientBus.nc);
    const msg = await waitFor(
      async () =>
        (await jsm.streams.getMessage(clientBus.streamName, { seq: 1 }).catch(() => null)) ??
        undefined,
    );
    expect(msg.header.get('traceparent')).toBe(`00-${traceId}-${server.spanContext().spanId}-01`);
  });
});
