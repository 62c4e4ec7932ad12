import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitFor } from '@sg/testing';
import { ROOT } from '../../../scripts/stack.mjs';
import { AGENT_KEY, envelope, post, startGateway, type Gateway } from './harness.js';

/** One sample of Prometheus' text format: the metric's name, its labels and its value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

async function scrape(url: string): Promise<{ text: string; samples: Sample[] }> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, samples: parse(text) };
}

/** The value of the one sample with this name and these labels (0 when absent). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return found.reduce((sum, s) => sum + s.value, 0);
}

let gw: Gateway;
const ports: Record<string, number> = {};
const auth = { 'X-API-Key': AGENT_KEY };

beforeAll(async () => {
  for (const service of ['policy', 'executor', 'audit']) ports[service] = await freePort();
  gw = await startGateway({
    serviceEnv: Object.fromEntries(
      Object.entries(ports).map(([s, port]) => [s, { HEALTH_PORT: String(port) }]),
    ),
  });
  for (let i = 0; i < 3; i++)
    expect((await post(gw, '/api/tools/call', envelope(), auth)).status).toBe(200);
  const denied = await post(
    gw,
    '/api/tools/call',
    envelope({ tool: 'db.write_sensitive', arguments: { table: 't', record: {} } }),
    auth,
  );
  expect(denied.status).toBe(403);
}, 120_000);

afterAll(() => gw?.stop());

describe('GET /metrics on every service', () => {
  it('the ingress counts answers by route and status, and decisions by outcome and code', async () => {
    const { text, samples } = await scrape(gw.url);
    const route = { route: '/api/tools/call', method: 'POST' };
    expect(value(samples, 'sg_http_requests_total', { ...route, status: '200' })).toBe(3);
    expect(value(samples, 'sg_http_requests_total', { ...route, status: '403' })).toBe(1);
    expect(value(samples, 'sg_http_request_duration_seconds_count', route)).toBe(4);
    expect(value(samples, 'sg_decisions_total', { outcome: 'allowed', code: 'none' })).toBe(3);
    expect(
      value(samples, 'sg_decisions_total', { outcome: 'denied', code: 'POLICY.TOOL_NOT_ALLOWED' }),
    ).toBe(1);
    expect(value(samples, 'sg_dependency_up', { dependency: 'redis' })).toBe(1);
    expect(value(samples, 'sg_dependency_up', { dependency: 'nats' })).toBe(1);
    expect(value(samples, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    // No label takes a value per call: no trace ids, request ids or agent keys.
    expect(text).not.toMatch(/="[0-9a-f]{32}"/);
    expect(text).not.toContain(AGENT_KEY);
  });

  it('an unknown path is counted as unmatched, not by its URL', async () => {
    await fetch(`${gw.url}/no/such/path/${Date.now()}`);
    const { text, samples } = await scrape(gw.url);
    expect(
      value(samples, 'sg_http_requests_total', { route: 'unmatched', status: '404' }),
    ).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain('/no/such/path');
  });

  it('the executor counts its bus requests and times each upstream by tool, with the breaker state', async () => {
    const { samples } = await scrape(`http://127.0.0.1:${ports.executor}`);
    expect(
      value(samples, 'sg_bus_requests_total', { subject: 'gw.executor.execute.v1', code: 'ok' }),
    ).toBe(3);
    expect(
      value(samples, 'sg_upstream_request_duration_seconds_count', {
        tool: 'calendar.list_events',
        outcome: 'ok',
      }),
    ).toBe(3);
    const breaker = samples.find(
      (s) => s.name === 'sg_upstream_breaker_state' && s.labels.tool === 'calendar.list_events',
    );
    expect(breaker?.value).toBe(0);
  });

  it('the audit reports its consumers, batches and inserts, and PostgreSQL health', async () => {
    const url = `http://127.0.0.1:${ports.audit}`;
    // The four answers are stored within a moment; the consumer then has nothing pending.
    const { samples } = await waitFor(
      async () => {
        const s = await scrape(url);
        return value(s.samples, 'sg_audit_batch_events_sum') >= 4 ? s : undefined;
      },
      15_000,
      'the four answers stored',
    );
    expect(value(samples, 'sg_audit_insert_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    const consumers = samples
      .filter((s) => s.name === 'sg_jetstream_consumer_pending_messages')
      .map((s) => s.labels.consumer);
    expect(consumers.length).toBeGreaterThanOrEqual(2);
    expect(value(samples, 'sg_dependency_up', { dependency: 'postgres' })).toBe(1);
  });

  it('the policy service serves its metrics and health too', async () => {
    const { samples } = await scrape(`http://127.0.0.1:${ports.policy}`);
    expect(value(samples, 'sg_dependency_up', { dependency: 'redis' })).toBe(1);
    expect(value(samples, 'nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('the Grafana dashboard uses only metrics the services serve', async () => {
    const served = new Set<string>();
    // Every metric a service registered has a TYPE line, also while it has no sample yet (the
    // SIEM gauges without a configured sink).
    for (const url of [gw.url, ...Object.values(ports).map((p) => `http://127.0.0.1:${p}`)])
      for (const [, name] of (await scrape(url)).text.matchAll(/^# TYPE (\S+) /gm))
        served.add(name!);
    const dashboard = readFileSync(
      join(ROOT, 'deploy/grafana/securegateway-dashboard.json'),
      'utf8',
    );
    const used = new Set(
      [...dashboard.matchAll(/\b((?:sg|process|nodejs)_\w+)/g)].map((m) =>
        m[1]!.replace(/_(bucket|count|sum)$/, ''),
      ),
    );
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((name) => !served.has(name))).toEqual([]);
  });
});
