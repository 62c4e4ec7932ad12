// What the Nest layer costs on the bus (issue 10): requests through a @MessagePattern controller
// on BusServer, asked with BusClient (Nest's interceptors, filter and RxJS on both ends, tracing
// off, metrics on), against the same requests through NatsBus.handle and NatsBus.request, in one
// process, alternately, so both see the same machine. Needs NATS (NATS_URL) and `npm run build`.
//
//   npx node bench/bus.mjs            (BENCH_BUS_REQUESTS=20000 per round, 5 rounds each, 20 in flight)
//
// BENCH_BUS_SAMPLER=always_on (or any OTEL_TRACES_SAMPLER value, or `default`) turns tracing on
// for both: each request then makes a client and a server span, batched to an exporter that drops
// them, so the figures include making, sampling and batching spans.
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { Module } from '@nestjs/common';
import { AUDIT_TRACE_SUBJECT } from '@sg/contracts';
import {
  BusClient,
  BusController,
  BusServer,
  Ctx,
  MessagePattern,
  NatsBus,
  Payload,
} from '@sg/messaging';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace';
import { createLogger, LOGGER, Metrics, startTracing } from '@sg/runtime';

const REQUESTS = Number(process.env.BENCH_BUS_REQUESTS ?? 20_000);
const ROUNDS = 5;
const IN_FLIGHT = 20;
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const logger = createLogger('bench', { level: 'silent', pretty: false });
const SAMPLER = process.env.BENCH_BUS_SAMPLER;
const dropSpans = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => undefined };
startTracing(
  'bench',
  {
    OTEL_TRACES_EXPORTER: 'none',
    ...(SAMPLER && SAMPLER !== 'default' ? { OTEL_TRACES_SAMPLER: SAMPLER } : {}),
  },
  SAMPLER ? [new BatchSpanProcessor({ exporter: dropSpans })] : undefined,
);

class Handler {
  trace(req) {
    return { trace_id: req.trace_id, events: [] };
  }
}
// The decorators a TypeScript controller would carry, applied by hand in plain JavaScript.
const method = Object.getOwnPropertyDescriptor(Handler.prototype, 'trace');
MessagePattern(AUDIT_TRACE_SUBJECT)(Handler.prototype, 'trace', method);
Payload()(Handler.prototype, 'trace', 0);
Ctx()(Handler.prototype, 'trace', 1);
BusController()(Handler);

class BenchModule {}
Module({
  controllers: [Handler],
  providers: [{ provide: LOGGER, useValue: logger }, Metrics],
})(BenchModule);

const connect = (prefix, service) =>
  NatsBus.connect({ url: NATS_URL, prefix, service, logger, requestTimeoutMs: 5000 });

async function setUp(kind) {
  const prefix = `benchbus${kind}${process.pid}`;
  const server = await connect(prefix, 'audit');
  const client = await connect(prefix, 'ingress');
  let app = null;
  if (kind === 'nest') {
    app = await NestFactory.createMicroservice(BenchModule, {
      strategy: new BusServer(server),
      logger: false,
    });
    await app.listen();
  } else {
    server.handle(AUDIT_TRACE_SUBJECT, async (req) => ({ trace_id: req.trace_id, events: [] }));
  }
  await server.nc.flush();
  const proxy = new BusClient(client);
  const ask =
    kind === 'nest'
      ? (ctx) => proxy.request(AUDIT_TRACE_SUBJECT, { trace_id: ctx.traceId }, ctx)
      : (ctx) => client.request(AUDIT_TRACE_SUBJECT, { trace_id: ctx.traceId }, ctx);
  return {
    ask,
    async close() {
      await app?.close();
      await client.close();
      await server.close();
    },
  };
}

/** REQUESTS requests, IN_FLIGHT at a time: wall time and this process's CPU per request. */
async function round(setup) {
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < REQUESTS) {
        next++;
        await setup.ask({ traceId: `trace-${next}`, project: 'default' });
      }
    }),
  );
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { per_s: (REQUESTS / wall) * 1000, cpu_us: (cpu.user + cpu.system) / REQUESTS };
}

const setups = { bus: await setUp('bus'), nest: await setUp('nest') };
for (const s of Object.values(setups)) await round(s); // warm-up
const results = { bus: [], nest: [] };
for (let r = 0; r < ROUNDS; r++) {
  for (const kind of ['bus', 'nest']) results[kind].push(await round(setups[kind]));
}
for (const s of Object.values(setups)) await s.close();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const line = (kind) => {
  const rs = results[kind];
  return `${kind.padEnd(5)} ${median(rs.map((r) => r.per_s))
    .toFixed(0)
    .padStart(7)} req/s  ${median(rs.map((r) => r.cpu_us))
    .toFixed(1)
    .padStart(6)} µs CPU/request (this process: client and server)`;
};
console.log(
  `\n${ROUNDS} rounds of ${REQUESTS} requests each, ${IN_FLIGHT} in flight, tracing ${SAMPLER || 'off'}, medians:`,
);
console.log(line('bus'));
console.log(line('nest'));
const ratio = median(results.nest.map((r) => r.cpu_us)) / median(results.bus.map((r) => r.cpu_us));
const extra = median(results.nest.map((r) => r.cpu_us)) - median(results.bus.map((r) => r.cpu_us));
console.log(`Nest layer: ${extra.toFixed(1)} µs more CPU per request (${ratio.toFixed(2)}×)`);
process.exit(0);
