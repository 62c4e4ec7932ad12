import { createServer, type Server } from 'node:http';
import { freePort, waitFor } from '@sg/testing';
import { AGENT_KEY, envelope, post, startGateway, type Gateway } from './harness.js';

/** One span as an OTLP/HTTP JSON export carries it, with the service that made it. */
interface ExportedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
}

const SERVER = 2;
const CLIENT = 3;
const CONSUMER = 5;

/** A real OTLP receiver (http/json on /v1/traces), as a collector would be. */
function startCollector(port: number): Promise<{ spans: ExportedSpan[]; server: Server }> {
  const spans: ExportedSpan[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const payload = JSON.parse(body) as {
          resourceSpans: Array<{
            resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
            scopeSpans: Array<{ spans: Array<Omit<ExportedSpan, 'service'>> }>;
          }>;
        };
        for (const rs of payload.resourceSpans) {
          const service =
            rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
          for (const ss of rs.scopeSpans)
            for (const s of ss.spans)
              spans.push({ ...s, parentSpanId: s.parentSpanId ?? '', service });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () => resolve({ spans, server })),
  );
}

let gw: Gateway;
let collector: { spans: ExportedSpan[]; server: Server };
const auth = { 'X-API-Key': AGENT_KEY };

beforeAll(async () => {
  const port = await freePort();
  collector = await startCollector(port);
  gw = await startGateway({
    env: {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_TRACES_SAMPLER: 'always_on',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    },
    configure: (c) => {
      c.write(
        'policies/default.yaml',
        'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*", "db.*"]\n    requires_approval: ["db.write_*"]\n',
      );
      c.write('model_keys/default.yaml', 'models:\n  gpt-4o:\n    key: modelkey-abc123\n');
    },
  });
}, 120_000);

afterAll(async () => {
  await gw?.stop();
  collector?.server.close();
});

function spansOf(traceId: string, count: number) {
  return waitFor(
    async () => {
      const found = collector.spans.filter((s) => s.traceId === traceId);
      return found.length >= count ? found : undefined;
    },
    15_000,
    `${count} spans of trace ${traceId}`,
  );
}

describe('OpenTelemetry: one call, one trace across the services', () => {
  it('an allowed call: ingress, its decision, the executor, the upstream and the audit ingest, parents right', async () => {
    const res = await post(gw, '/api/tools/call', envelope(), auth);
    expect(res.status).toBe(200);
    const traceId = res.body.trace_id as string;
    const spans = await spansOf(traceId, 6);
    const one = (name: string, kind?: number) => {
      const found = spans.filter((s) => s.name === name && (kind === undefined || s.kind === kind));
      expect(found).toHaveLength(1);
      return found[0]!;
    };
    const root = one('POST /api/tools/call', SERVER);
    const decide = one('policy.decide');
    const send = one('gw.executor.execute.v1', CLIENT);
    const execute = one('gw.executor.execute.v1', SERVER);
    const upstream = one('upstream calendar.list_events', CLIENT);
    const audit = one('audit ingest gw.evt.toolcall.completed.v1', CONSUMER);

    // The gateway's trace_id is the trace's id, and the call's first span has no parent.
    expect(root.traceId).toBe(traceId);
    expect(root.parentSpanId).toBe('');
    expect([root.service, decide.service, send.service]).toEqual(Array(3).fill('sg-ingress'));
    expect([execute.service, upstream.service]).toEqual(['sg-executor', 'sg-executor']);
    expect(audit.service).toBe('sg-audit');
    expect(decide.parentSpanId).toBe(root.spanId);
    expect(send.parentSpanId).toBe(root.spanId);
    expect(execute.parentSpanId).toBe(send.spanId);
    expect(upstream.parentSpanId).toBe(execute.spanId);
    // The executor recorded the call: its event continues the executor's span into the audit.
    expect(audit.parentSpanId).toBe(execute.spanId);
  });

  it("a caller's traceparent is followed: the call's spans join the caller's trace", async () => {
    const callerTrace = '0af7651916cd43dd8448eb211c80319c';
    const callerSpan = 'b7ad6b7169203331';
    const res = await post(gw, '/api/tools/call', envelope(), {
      ...auth,
      traceparent: `00-${callerTrace}-${callerSpan}-01`,
    });
    expect(res.body.trace_id).toBe(callerTrace);
    const spans = await spansOf(callerTrace, 6);
    const root = spans.find((s) => s.name === 'POST /api/tools/call')!;
    expect(root.parentSpanId).toBe(callerSpan);
  });

  it('a call that needs approval: the policy service stores it, in the same trace', async () => {
    const res = await post(
      gw,
      '/api/tools/call',
      envelope({ tool: 'db.write_sensitive', arguments: { table: 't', record: {} } }),
      auth,
    );
    expect(res.status).toBe(202);
    const traceId = res.body.trace_id as string;
    const spans = await spansOf(traceId, 4);
    const root = spans.find((s) => s.name === 'POST /api/tools/call')!;
    const ask = spans.find((s) => s.name === 'gw.policy.approval_create.v1' && s.kind === CLIENT)!;
    const store = spans.find(
      (s) => s.name === 'gw.policy.approval_create.v1' && s.kind === SERVER,
    )!;
    expect(ask.parentSpanId).toBe(root.spanId);
    expect(store.service).toBe('sg-policy');
    expect(store.parentSpanId).toBe(ask.spanId);
  });
});
