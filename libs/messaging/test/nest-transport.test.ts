import {
  type CallHandler,
  type ExecutionContext,
  type INestMicroservice,
  Injectable,
  type NestInterceptor,
  UseInterceptors,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  AUDIT_TRACE_SUBJECT,
  DECIDE_SUBJECT,
  type DecideRequest,
  type Decision,
  GatewayError,
  type RequestOf,
} from '@sg/contracts';
import { LOGGER, Metrics } from '@sg/runtime';
import { isolate, TEST_SERVERS } from '@sg/testing';
import { pino } from 'pino';
import { map } from 'rxjs';
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
import { allow, decideRequest } from './fixtures.js';

const iso = isolate('nest');
const lines: Array<Record<string, unknown>> = [];
const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
const ctx = { traceId: 'trace-nest-0001', project: 'default' };

/** Counts what passed through it and tags the answer's reason: proves Nest's pipeline runs. */
@Injectable()
class TaggingInterceptor implements NestInterceptor {
  static seen: string[] = [];
  intercept(context: ExecutionContext, next: CallHandler) {
    TaggingInterceptor.seen.push(context.switchToRpc().getContext<BusContext>().subject);
    return next.handle().pipe(map((d: Decision) => ({ ...d, reason: `${d.reason} (tagged)` })));
  }
}

@BusController()
class TestController {
  static calls: Array<{ tool: string; traceId: string; project: string; subject: string }> = [];

  @MessagePattern(DECIDE_SUBJECT)
  @UseInterceptors(TaggingInterceptor)
  decide(@Payload() req: DecideRequest, @Ctx() bus: BusContext): Decision {
    TestController.calls.push({
      tool: req.tool,
      traceId: bus.traceId,
      project: bus.project,
      subject: bus.subject,
    });
    if (req.tool === 'refused.tool')
      throw new GatewayError('POLICY.TOOL_NOT_ALLOWED', 'not for you');
    if (req.tool === 'broken.tool') throw new TypeError('db password is hunter2');
    return allow;
  }

  @MessagePattern(AUDIT_TRACE_SUBJECT)
  async trace({ trace_id }: RequestOf<typeof AUDIT_TRACE_SUBJECT>) {
    return { trace_id, events: [] };
  }
}

// What the typed decorator refuses at compile time (checked by the typecheck target).
export class Refused {
  // @ts-expect-error a subject that is not in the contracts does not compile
  @MessagePattern('gw.nothing.here.v1')
  unknown(req: DecideRequest) {
    return req;
  }

  // @ts-expect-error the method must take the subject's request
  @MessagePattern(DECIDE_SUBJECT)
  wrongPayload(req: { trace_id: number }): Decision {
    return { ...allow, reason: String(req.trace_id) };
  }

  // @ts-expect-error the method must return the subject's response
  @MessagePattern(DECIDE_SUBJECT)
  wrongAnswer(req: DecideRequest) {
    return { allowed: req.tool };
  }
}

let serverBus: NatsBus;
let clientBus: NatsBus;
let app: INestMicroservice;
let client: BusClient;

beforeAll(async () => {
  const opts = { url: TEST_SERVERS.natsUrl, prefix: iso.subjectPrefix, logger };
  serverBus = await NatsBus.connect({ ...opts, service: 'policy', requestTimeoutMs: 1000 });
  clientBus = await NatsBus.connect({ ...opts, service: 'ingress', requestTimeoutMs: 1000 });
  const moduleRef = await Test.createTestingModule({
    controllers: [TestController],
    providers: [{ provide: LOGGER, useValue: logger }, Metrics, TaggingInterceptor],
  }).compile();
  app = moduleRef.createNestMicroservice({ strategy: new BusServer(serverBus) });
  await app.listen();
  await serverBus.nc.flush();
  client = new BusClient(clientBus);
});

afterAll(async () => {
  await app.close();
  await clientBus.close();
  await serverBus.close();
});

beforeEach(() => {
  TestController.calls = [];
  TaggingInterceptor.seen = [];
  lines.length = 0;
});

async function failure(p: Promise<unknown>): Promise<GatewayError> {
  try {
    await p;
  } catch (err) {
    return err as GatewayError;
  }
  throw new Error('expected a failure');
}

describe('the bus transport and client (Nest microservices)', () => {
  it('runs a @MessagePattern method with its interceptor and answers through the ClientProxy', async () => {
    const decision = await client.request(DECIDE_SUBJECT, decideRequest, ctx);
    expect(decision).toEqual({ ...allow, reason: 'ok (tagged)' });
    expect(TestController.calls).toEqual([
      {
        tool: 'calendar.list_events',
        traceId: 'trace-nest-0001',
        project: 'default',
        subject: DECIDE_SUBJECT,
      },
    ]);
    expect(TaggingInterceptor.seen).toEqual([DECIDE_SUBJECT]);
    expect(await client.request(AUDIT_TRACE_SUBJECT, { trace_id: 't-1' }, ctx)).toEqual({
      trace_id: 't-1',
      events: [],
    });
  });

  it('refuses a request that breaks its contract before the method runs', async () => {
    const err = await failure(
      clientBus.request(DECIDE_SUBJECT, { ...decideRequest, tool: 42 } as never, ctx),
    );
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.code).toBe('MESSAGE.INVALID');
    expect(err.message).toMatch(/^tool: /);
    expect(TestController.calls).toEqual([]);
  });

  it('sends a thrown GatewayError back with its code, through send() as an Observable too', async () => {
    const err = await failure(
      client.request(DECIDE_SUBJECT, { ...decideRequest, tool: 'refused.tool' }, ctx),
    );
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.code).toBe('POLICY.TOOL_NOT_ALLOWED');
    expect(err.message).toBe('not for you');
    const viaSend = await new Promise<unknown>((resolve) =>
      client
        .send(DECIDE_SUBJECT, { payload: { ...decideRequest, tool: 'refused.tool' }, ctx })
        .subscribe({ error: resolve }),
    );
    expect(viaSend).toMatchObject({ code: 'POLICY.TOOL_NOT_ALLOWED' });
    expect(lines).toEqual([]);
  });

  it('answers any other exception as GATEWAY.INTERNAL and logs it with the trace id, subject, class and stack', async () => {
    const err = await failure(
      client.request(DECIDE_SUBJECT, { ...decideRequest, tool: 'broken.tool' }, ctx),
    );
    expect(err.code).toBe('GATEWAY.INTERNAL');
    expect(err.message).not.toContain('hunter2');
    expect(lines).toEqual([
      expect.objectContaining({
        level: 50,
        trace_id: 'trace-nest-0001',
        subject: DECIDE_SUBJECT,
        err_class: 'TypeError',
        stack: expect.stringContaining('TypeError: db password is hunter2'),
      }),
    ]);
  });

  it('counts every answer by subject and code, and times it (sg_bus_requests_total)', async () => {
    await client.request(DECIDE_SUBJECT, decideRequest, ctx);
    await failure(client.request(DECIDE_SUBJECT, { ...decideRequest, tool: 'refused.tool' }, ctx));
    await failure(client.request(DECIDE_SUBJECT, { ...decideRequest, tool: 'broken.tool' }, ctx));
    const metrics = app.get(Metrics).registry;
    const counts = (await metrics.getSingleMetric('sg_bus_requests_total')!.get()).values;
    const count = (code: string) =>
      counts.find((v) => v.labels.subject === DECIDE_SUBJECT && v.labels.code === code)?.value;
    // The earlier tests' answers count too: at least one of each here, and the same totals below.
    expect(count('ok')).toBeGreaterThanOrEqual(1);
    expect(count('POLICY.TOOL_NOT_ALLOWED')).toBeGreaterThanOrEqual(1);
    expect(count('GATEWAY.INTERNAL')).toBeGreaterThanOrEqual(1);
    const text = await metrics.metrics();
    const total = ['ok', 'POLICY.TOOL_NOT_ALLOWED', 'GATEWAY.INTERNAL']
      .map((c) => count(c)!)
      .reduce((a, b) => a + b);
    expect(text).toContain(
      `sg_bus_request_duration_seconds_count{subject="${DECIDE_SUBJECT}"} ${total}`,
    );
  });

  it('tells a caller that no service answers the subject', async () => {
    const err = await failure(
      client.request(
        'gw.executor.execute.v1',
        {
          ...decideRequest,
          user_id: null,
          arguments: {},
          idempotency_key: null,
        } as never,
        ctx,
      ),
    );
    expect(err.code).toBe('GATEWAY.SERVICE_UNAVAILABLE');
  });
});
