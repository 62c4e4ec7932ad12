import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import {
  bodyArbitrary,
  fuzzHttp,
  fuzzInputAt,
  judge,
  requestArbitrary,
  routesOf,
  type FuzzRoute,
} from './fuzz.js';

const route: FuzzRoute = {
  target: 'local',
  method: 'post',
  path: '/things/{id}',
  pathParams: ['id'],
  queryParams: ['limit'],
  bodySchema: {
    type: 'object',
    properties: { name: { type: 'string' }, n: { type: 'integer' } },
    required: ['name'],
  },
  json: true,
};

describe('fuzz inputs', () => {
  it('draws the same input again from a seed and an index', () => {
    const arb = requestArbitrary([route], [{ 'x-api-key': 'k' }]);
    expect(fuzzInputAt(arb, 42, 7)).toEqual(fuzzInputAt(arb, 42, 7));
    expect(fuzzInputAt(arb, 42, 7)).not.toEqual(fuzzInputAt(arb, 42, 8));
  });

  it('makes every kind of hostile body, with invalid UTF-8 that really is invalid', () => {
    const bodies = fc.sample(bodyArbitrary(route.bodySchema), { seed: 1, numRuns: 600 });
    const kinds = new Set(bodies.map(([kind]) => kind));
    for (const kind of [
      'valid-ish',
      'hostile-value',
      'deep-nesting',
      'duplicate-keys',
      'invalid-utf8',
      'truncated-json',
      'long-string',
    ])
      expect(kinds).toContain(kind);
    const fatal = new TextDecoder('utf-8', { fatal: true });
    for (const [kind, bytes] of bodies)
      if (kind === 'invalid-utf8') expect(() => fatal.decode(bytes)).toThrow();
  });

  it('reads routes, path and query parameters and body schemas from an OpenAPI document', () => {
    const routes = routesOf(
      {
        paths: {
          '/a/{id}': {
            get: {
              parameters: [
                { name: 'id', in: 'path' },
                { name: 'q', in: 'query' },
              ],
              responses: { '200': { content: { 'application/json': {} } } },
            },
            parameters: {},
          },
        },
      },
      'svc',
    );
    expect(routes).toEqual([
      {
        target: 'svc',
        method: 'get',
        path: '/a/{id}',
        pathParams: ['id'],
        queryParams: ['q'],
        json: true,
      },
    ]);
  });
});

describe('judge', () => {
  const ok = { body: '', streaming: false, ms: 1 };
  it('reports a 5xx, a hang and a JSON 4xx without error.code', () => {
    expect(judge(route, { ...ok, status: 502, body: '{}' })?.kind).toBe('5xx');
    expect(judge(route, { ...ok, error: 'no answer within 10 ms' })?.kind).toBe('hang');
    expect(judge(route, { ...ok, status: 400, body: '{"message":"bad"}' })?.kind).toBe(
      'error-shape',
    );
  });

  it('accepts an error.code, a JSON-RPC error and a socket the server refused', () => {
    expect(judge(route, { ...ok, status: 400, body: '{"error":{"code":"X.Y"}}' })).toBeUndefined();
    expect(
      judge(route, { ...ok, status: 406, body: '{"jsonrpc":"2.0","error":{"code":-32000}}' }),
    ).toBeUndefined();
    expect(judge(route, { ...ok, error: 'read ECONNRESET' })).toBeUndefined();
  });

  it('accepts a degraded health report from a health route only', () => {
    const report = { ...ok, status: 503, body: '{"status":"degraded","services":[]}' };
    expect(judge({ ...route, path: '/health' }, report)).toBeUndefined();
    expect(judge({ ...route, path: '/healthz' }, report)).toBeUndefined();
    expect(judge(route, report)?.kind).toBe('5xx');
    expect(judge({ ...route, path: '/health' }, { ...report, body: '{}' })?.kind).toBe('5xx');
  });
});

describe('fuzzHttp', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    // Fails on a body with "n", hangs on an id of "x", answers 400 with a code otherwise.
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('latin1')));
      req.on('end', () => {
        if (req.url?.startsWith('/things/x?')) return;
        res.writeHead(body.includes('"n"') ? 500 : 400, { 'content-type': 'application/json' });
        res.end('{"error":{"code":"BAD"}}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('finds the 5xx with its input, and counts per route', async () => {
    const report = await fuzzHttp({
      targets: { local: url },
      routes: [route],
      credentials: [],
      seed: 3,
      runs: 150,
      deadlineMs: 300,
    });
    expect(report.inputs).toBe(150);
    expect(report.perRoute['local POST /things/{id}']?.inputs).toBe(150);
    const fiveXx = report.findings.filter((f) => f.kind === '5xx');
    expect(fiveXx.length).toBeGreaterThan(0);
    for (const f of fiveXx) {
      expect(Buffer.from(f.input.bodyBase64!, 'base64').toString('latin1')).toContain('"n"');
      expect(fuzzInputAt(requestArbitrary([route], []), 3, f.index)).toEqual(f.input);
    }
  }, 30_000);
});
