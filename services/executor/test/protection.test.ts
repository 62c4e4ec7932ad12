import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Decision,
  type ExecuteRequest,
  GatewayError,
  TOOLCALL_COMPLETED,
  TOOLCALL_EXECUTED,
} from '@sg/contracts';
import { loadGatewayFiles } from '@sg/config';
import type { ConfigSync, MessageContext, NatsBus } from '@sg/messaging';
import {
  createLogger,
  createSecretProvider,
  DirectorySecretProvider,
  EnvSecretProvider,
  type SecretProvider,
} from '@sg/runtime';
import { exampleConfigDir, type ConfigDir } from '@sg/testing';
import { loadSecretEnv } from '@sg/config';
import { type ExecutorEnv, loadExecutorEnv } from '../src/config/env.js';
import { ExecutionController } from '../src/execution/execution.controller.js';
import { ExecutionService } from '../src/execution/execution.service.js';
import type { HttpUpstream } from '../src/execution/http-upstream.js';
import { findSsrfRefusal, guardedLookup, isBlockedAddress } from '../src/execution/ssrf-guard.js';
import { UpstreamResilience } from '../src/resilience/index.js';

/** Secret values with characters that URL-encoding and base64 change. */
const SECRETS = {
  API_KEY: 'sk-live/4f9+Zq=secret',
  HEADER_TOKEN: 'hdr-tok-8c1d77e2a9',
  ARG_SECRET: 'arg-secret-c0ffee-42',
};
const ALL_FORMS = Object.values(SECRETS).flatMap((v) => [
  v,
  encodeURIComponent(v),
  Buffer.from(v).toString('base64'),
  Buffer.from(v).toString('base64url'),
]);

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/**
 * A tool server: /echo answers {url, headers, body} (echoing every secret it got back);
 * /slow/<ms>; /status/<code>; /switch answers 500 while `failing`, else 200.
 */
async function startServer() {
  const calls: Seen[] = [];
  let inFlight = 0;
  const state = { failing: true, peak: 0 };
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      let body: unknown = raw;
      try {
        body = raw ? JSON.parse(raw) : null;
      } catch {
        /* text */
      }
      calls.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      inFlight++;
      state.peak = Math.max(state.peak, inFlight);
      const send = (status: number, payload: unknown) => {
        inFlight--;
        if (res.destroyed) return;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      const url = req.url ?? '';
      const slow = /^\/slow\/(\d+)/.exec(url);
      if (slow) return void setTimeout(() => send(200, { slow: true }), Number(slow[1]));
      const status = /^\/status\/(\d{3})/.exec(url);
      if (status) return send(Number(status[1]), { error: 'as asked' });
      if (url.startsWith('/switch'))
        return send(state.failing ? 500 : 200, { failing: state.failing });
      if (url.startsWith('/echo'))
        return send(200, { url, headers: req.headers, body, text: `you sent ${raw}` });
      send(404, { error: 'no route' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let up: Awaited<ReturnType<typeof startServer>>;
let config: ConfigDir;
let secretDir: string;
let env: ExecutorEnv;
let registry: ConfigSync;
const allowedDecision: Decision = {
  allowed: true,
  code: null,
  reason: 'allowed',
  rule_trace: [],
  reasoning: [],
  suggestions: [],
  risk_score: 0,
  requires_approval: false,
  policy_version: 'test',
};

const envProvider = new EnvSecretProvider(
  loadSecretEnv(
    'SECRET_',
    Object.fromEntries(Object.entries(SECRETS).map(([k, v]) => [`SECRET_${k}`, v])),
  ),
);

let n = 0;
const call = (tool: string, args: Record<string, unknown> = {}): ExecuteRequest => ({
  project: 'default',
  agent_id: 'gpt-4o',
  session_id: 'sess-1',
  request_id: `req-p-${++n}`,
  tool,
  arguments: args,
});

function tool(
  name: string,
  upstream: Partial<HttpUpstream> & { url: string },
  extra: Record<string, unknown> = {},
) {
  config.write(`tools/${name}.json`, { name, ...extra, upstream: { type: 'http', ...upstream } });
}

function newService(provider: SecretProvider = envProvider) {
  return new ExecutionService(
    env,
    registry,
    provider,
    new UpstreamResilience({ backoffBaseMs: 5 }),
  );
}

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

function expectNoSecret(value: unknown) {
  const text = JSON.stringify(value);
  for (const form of ALL_FORMS) expect(text).not.toContain(form);
}

const breaker = { failure_threshold: 100, reset_after_ms: 60_000 };

beforeAll(async () => {
  up = await startServer();
  config = exampleConfigDir(up.url);
  secretDir = mkdtempSync(join(tmpdir(), 'sg-secrets-'));
  writeFileSync(join(secretDir, 'DIR_KEY'), 'from-a-file\n');
  tool('secret.echo', {
    url: `${up.url}/echo?key={{secret:API_KEY}}`,
    headers: { authorization: 'Bearer {{secret:HEADER_TOKEN}}', 'x-api-key': '{{secret:API_KEY}}' },
    arguments: { auth: { token: '{{secret:ARG_SECRET}}' }, fixed: 'registry' },
  });
  tool('secret.missing', { url: `${up.url}/echo`, headers: { 'x-key': '{{secret:NOT_THERE}}' } });
  tool('dir.echo', { url: `${up.url}/echo`, headers: { 'x-key': '{{secret:DIR_KEY}}' } });
  tool('breaker.switch', {
    url: `${up.url}/switch`,
    circuit_breaker: { failure_threshold: 3, reset_after_ms: 300 },
  });
  tool('breaker.notfound', {
    url: `${up.url}/status/404`,
    circuit_breaker: { failure_threshold: 1, reset_after_ms: 60_000 },
  });
  tool('queue.slow', { url: `${up.url}/slow/300`, max_concurrency: 1, timeout_ms: 1000 });
  tool(
    'retry.idem',
    { url: `${up.url}/status/503`, retries: 2, circuit_breaker: breaker },
    { idempotent: true },
  );
  tool('retry.plain', { url: `${up.url}/status/503`, retries: 2, circuit_breaker: breaker });
  tool(
    'retry.idem404',
    { url: `${up.url}/status/404`, retries: 2, circuit_breaker: breaker },
    { idempotent: true },
  );
  tool('ssrf.metadata', {
    url: 'http://169.254.169.254/latest/meta-data/',
    circuit_breaker: { failure_threshold: 1, reset_after_ms: 60_000 },
  });
  tool('ssrf.linklocal', { url: 'http://169.254.1.1/x' });
  tool('ssrf.v6', { url: 'http://[fe80::1]/x' });
  tool('ssrf.mapped', { url: 'http://[::ffff:169.254.169.254]/x' });
  tool('ssrf.unspecified', { url: 'http://0.0.0.0:1/x' });
  tool('ssrf.gcp', { url: 'http://metadata.google.internal/computeMetadata/v1/' });
  tool('ssrf.allowed', { url: 'http://169.254.1.1/x', allow_link_local: true, timeout_ms: 300 });
  tool('plain.echo', { url: `${up.url}/echo` });
  tool('plain.localhost', { url: `${up.url.replace('127.0.0.1', 'localhost')}/echo` });
  registry = { files: loadGatewayFiles(config.dir) } as ConfigSync;
  env = loadExecutorEnv({ CONFIG_DIR: config.dir, LOG_LEVEL: 'silent' });
});

afterAll(async () => {
  await up?.close();
  config?.remove();
  rmSync(secretDir, { recursive: true, force: true });
});

beforeEach(() => {
  up.calls.length = 0;
  up.state.peak = 0;
});

describe('secrets', () => {
  it('injects registry secrets into url, headers and registry arguments, and scrubs them from the answer', async () => {
    const out = await newService().execute(call('secret.echo', { city: 'Lisbon' }));
    expect(up.calls).toHaveLength(1);
    const seen = up.calls[0]!;
    expect(new URL(seen.url, up.url).searchParams.get('key')).toBe(SECRETS.API_KEY);
    expect(seen.headers.authorization).toBe(`Bearer ${SECRETS.HEADER_TOKEN}`);
    expect(seen.headers['x-api-key']).toBe(SECRETS.API_KEY);
    expect(seen.body).toEqual({
      city: 'Lisbon',
      auth: { token: SECRETS.ARG_SECRET },
      fixed: 'registry',
    });
    // The upstream echoed all of them back: none survive in the result.
    expectNoSecret(out);
    const result = out.result as {
      headers: Record<string, string>;
      body: { auth: { token: string } };
      url: string;
    };
    expect(result.headers.authorization).toBe('Bearer [redacted:secret]');
    expect(result.body.auth.token).toBe('[redacted:secret]');
    expect(result.url).toContain('key=[redacted:secret]');
  });

  it('lets the registry arguments win over the agent arguments of the same name', async () => {
    await newService().execute(call('secret.echo', { fixed: 'agent', auth: 'agent' }));
    expect(up.calls[0]!.body).toMatchObject({
      fixed: 'registry',
      auth: { token: SECRETS.ARG_SECRET },
    });
  });

  it('never resolves {{secret:...}} written by the agent in its arguments', async () => {
    const args = { q: '{{secret:API_KEY}}', nested: { x: ['{{secret:HEADER_TOKEN}}'] } };
    const out = await newService().execute(call('plain.echo', args));
    expect(up.calls[0]!.body).toEqual(args);
    expect((out.result as { body: unknown }).body).toEqual(args);
    expectNoSecret(out);
  });

  it('keeps secrets out of the recorded events and the answers (controller, with a recording bus)', async () => {
    const events: Array<{ subject: string; data: unknown }> = [];
    const bus = {
      maxPayload: 1024 * 1024,
      publish: (subject: string, data: unknown) => events.push({ subject, data }),
    } as unknown as NatsBus;
    const controller = new ExecutionController(
      bus,
      newService(),
      env,
      createLogger('executor', { level: 'silent', pretty: false }),
    );
    controller.onModuleInit();
    const handler = (req: ExecuteRequest, ctx: MessageContext) => controller.execute(req, ctx);
    const ctx = { traceId: 'trace-secret-1', project: 'default' } as MessageContext;
    const answer = await handler(call('secret.echo', { echo: 'me' }), ctx);
    expect(answer.ok).toBe(true);
    expectNoSecret(answer);
    const failed = await handler(call('secret.missing'), ctx);
    expect(failed).toMatchObject({ ok: false, error: { code: 'EXECUTOR.SECRET_MISSING' } });
    expectNoSecret(failed);
    // With the caller's call record, the run is recorded inside the call's toolcall.completed.
    const record = {
      audit_id: '6f1c2b4e-9a51-4d6b-8e3f-0c2a7d9b1e55',
      channel: 'rest' as const,
      agent_version: '1.0',
      user_id: null,
      decision: allowedDecision,
      elapsed_ms: 1.5,
    };
    await handler({ ...call('secret.echo', { echo: 'me' }), record }, ctx);
    expect(events.map((e) => e.subject)).toEqual([
      TOOLCALL_EXECUTED,
      TOOLCALL_EXECUTED,
      TOOLCALL_COMPLETED,
    ]);
    expectNoSecret(events);
    expect(events[0]!.data).toMatchObject({
      status: 'ok',
      result: { headers: { authorization: 'Bearer [redacted:secret]' } },
    });
    expect(events[1]!.data).toMatchObject({
      status: 'error',
      error_code: 'EXECUTOR.SECRET_MISSING',
    });
    expect(events[2]!.data).toMatchObject({
      outcome: 'allowed',
      http_status: 200,
      execution: {
        status: 'ok',
        result: { headers: { authorization: 'Bearer [redacted:secret]' } },
      },
    });
  });

  it('fails with SECRET_MISSING naming the secret, without calling the upstream', async () => {
    const err = await failure(newService().execute(call('secret.missing')));
    expect(err.code).toBe('EXECUTOR.SECRET_MISSING');
    expect(err.httpStatus).toBe(503);
    expect(err.message).toContain('NOT_THERE');
    expect(up.calls).toHaveLength(0);
  });

  it('reads secrets from a directory of files (Kubernetes style), trimming the newline and following rotation', async () => {
    const provider = createSecretProvider(
      { SECRETS_PROVIDER: 'dir', SECRETS_ENV_PREFIX: 'SECRET_', SECRETS_DIR: secretDir },
      {},
    );
    expect(provider).toBeInstanceOf(DirectorySecretProvider);
    const service = newService(provider);
    const out = await service.execute(call('dir.echo'));
    expect(up.calls[0]!.headers['x-key']).toBe('from-a-file');
    expect(JSON.stringify(out)).not.toContain('from-a-file');
    writeFileSync(join(secretDir, 'DIR_KEY'), 'rotated-value-2\n');
    await service.execute(call('dir.echo'));
    expect(up.calls[1]!.headers['x-key']).toBe('rotated-value-2');
    await expect(provider.get('../etc/passwd')).resolves.toBeUndefined();
    await expect(provider.get('NOPE')).resolves.toBeUndefined();
  });

  it('reads env secrets only under the prefix, and needs SECRETS_DIR for the dir provider', () => {
    expect(
      loadSecretEnv('SECRET_', {
        SECRET_A: '1',
        OTHER: '2',
        'SECRET_bad-name': '3',
        MY_SECRET_B: '4',
      }),
    ).toEqual({ A: '1' });
    expect(() => loadExecutorEnv({ SECRETS_PROVIDER: 'dir' })).toThrow(/SECRETS_DIR/);
    expect(loadExecutorEnv({ SECRETS_PROVIDER: 'dir', SECRETS_DIR: '/run/secrets' })).toMatchObject(
      { SECRETS_PROVIDER: 'dir', SECRETS_ENV_PREFIX: 'SECRET_' },
    );
  });
});

describe('circuit breaker, concurrency and retries against a real upstream', () => {
  it('opens after failure_threshold failures, answers CIRCUIT_OPEN without calling, and half-opens after reset_after_ms', async () => {
    const service = newService();
    up.state.failing = true;
    for (let i = 0; i < 3; i++)
      expect((await failure(service.execute(call('breaker.switch')))).code).toBe(
        'EXECUTOR.UPSTREAM_ERROR',
      );
    const open = await failure(service.execute(call('breaker.switch')));
    expect(open.code).toBe('EXECUTOR.CIRCUIT_OPEN');
    expect(open.httpStatus).toBe(503);
    expect(up.calls).toHaveLength(3);
    // Half-open: one trial; it fails, so the breaker opens again at once.
    await new Promise((r) => setTimeout(r, 350));
    expect((await failure(service.execute(call('breaker.switch')))).code).toBe(
      'EXECUTOR.UPSTREAM_ERROR',
    );
    expect((await failure(service.execute(call('breaker.switch')))).code).toBe(
      'EXECUTOR.CIRCUIT_OPEN',
    );
    expect(up.calls).toHaveLength(4);
    // The upstream recovers: the next trial closes the breaker.
    up.state.failing = false;
    await new Promise((r) => setTimeout(r, 350));
    await expect(service.execute(call('breaker.switch'))).resolves.toMatchObject({
      upstream_status: 200,
    });
    await expect(service.execute(call('breaker.switch'))).resolves.toMatchObject({
      upstream_status: 200,
    });
    expect(up.calls).toHaveLength(6);
  });

  it('does not count 4xx answers as failures', async () => {
    const service = newService();
    for (let i = 0; i < 3; i++)
      expect((await failure(service.execute(call('breaker.notfound')))).code).toBe(
        'EXECUTOR.UPSTREAM_ERROR',
      );
    expect(up.calls).toHaveLength(3);
  });

  it('keeps max_concurrency calls in flight: later calls wait, and one that waits past the timeout fails with UPSTREAM_TIMEOUT', async () => {
    const service = newService();
    const started = performance.now();
    const timed = (p: Promise<unknown>) =>
      p.then(
        () => ({ ok: true, ms: performance.now() - started }),
        (err: GatewayError) => ({ ok: false, code: err.code, ms: performance.now() - started }),
      );
    // 300 ms each, one at a time, 1000 ms budget each: three fit, the fourth cannot.
    const results = await Promise.all(
      [1, 2, 3, 4].map(() => timed(service.execute(call('queue.slow')))),
    );
    expect(up.state.peak).toBe(1);
    expect(results.slice(0, 3).map((r) => r.ok)).toEqual([true, true, true]);
    expect(results[1]!.ms).toBeGreaterThanOrEqual(550);
    expect(results[2]!.ms).toBeGreaterThanOrEqual(850);
    expect(results[3]).toMatchObject({ ok: false, code: 'EXECUTOR.UPSTREAM_TIMEOUT' });
    expect(results[3]!.ms).toBeLessThan(1400);
  });

  it('retries only tools marked idempotent, and only retryable failures', async () => {
    const service = newService();
    expect((await failure(service.execute(call('retry.idem')))).details).toEqual({
      upstream_status: 503,
    });
    expect(up.calls).toHaveLength(3);
    up.calls.length = 0;
    await failure(service.execute(call('retry.plain')));
    expect(up.calls).toHaveLength(1);
    up.calls.length = 0;
    await failure(service.execute(call('retry.idem404')));
    expect(up.calls).toHaveLength(1);
  });
});

describe('SSRF guard', () => {
  it.each([
    ['the cloud metadata address', 'ssrf.metadata', '169.254.169.254'],
    ['a link-local IPv4 address', 'ssrf.linklocal', '169.254.1.1'],
    ['a link-local IPv6 address', 'ssrf.v6', 'fe80::1'],
    ['an IPv4-mapped metadata address', 'ssrf.mapped', '::ffff:a9fe:a9fe'],
    ['the unspecified address', 'ssrf.unspecified', '0.0.0.0'],
    ['a metadata host name', 'ssrf.gcp', 'metadata.google.internal'],
  ])(
    'refuses %s before connecting, with SSRF_REFUSED naming the host',
    async (_label, toolName, host) => {
      const started = performance.now();
      const err = await failure(newService().execute(call(toolName)));
      expect(err.code).toBe('EXECUTOR.SSRF_REFUSED');
      expect(err.httpStatus).toBe(403);
      expect(err.message).toContain(host);
      expect(err.message).toContain(toolName);
      // Refused up front (the code says why); the bound only catches a refusal that waited on the network.
      expect(performance.now() - started).toBeLessThan(1000);
    },
  );

  it('does not count refusals toward the breaker', async () => {
    const service = newService();
    for (let i = 0; i < 3; i++)
      expect((await failure(service.execute(call('ssrf.metadata')))).code).toBe(
        'EXECUTOR.SSRF_REFUSED',
      );
  });

  it('lets a registry entry with allow_link_local: true through the guard (it may then fail to connect)', async () => {
    const err = await failure(newService().execute(call('ssrf.allowed')));
    expect(err.code).not.toBe('EXECUTOR.SSRF_REFUSED');
    // Whatever happens at that address (nothing, or some host answering), the guard let it through.
    expect(err.code).toMatch(/^EXECUTOR\.UPSTREAM_/);
  });

  it('never lets an agent argument change where the call goes', async () => {
    const args = {
      url: 'http://169.254.169.254/latest/meta-data/',
      host: '169.254.169.254',
      headers: { host: 'metadata.google.internal' },
    };
    const out = await newService().execute(call('plain.echo', args));
    expect(out.upstream_status).toBe(200);
    expect(up.calls).toHaveLength(1);
    expect(up.calls[0]!.url).toBe('/echo');
    expect(up.calls[0]!.headers.host).toBe(new URL(up.url).host);
    expect(up.calls[0]!.body).toEqual(args);
  });

  it('connects to a host name through the checking lookup (loopback is allowed)', async () => {
    await expect(newService().execute(call('plain.localhost'))).resolves.toMatchObject({
      upstream_status: 200,
    });
    const refused = await new Promise<unknown>((resolve) =>
      guardedLookup('metadata.google.internal', {}, (err) => resolve(err)),
    );
    expect(findSsrfRefusal(refused)).toBeDefined();
    const all = await new Promise<unknown>((resolve) =>
      guardedLookup('localhost', { all: true }, (_err, addresses) => resolve(addresses)),
    );
    expect(Array.isArray(all)).toBe(true);
  });

  it('classifies addresses: link-local, metadata and unspecified refused; loopback and RFC 1918 allowed', () => {
    for (const a of [
      '169.254.169.254',
      '169.254.0.1',
      'fe80::1',
      'febf::1',
      'fd00:ec2::254',
      '0.0.0.0',
      '::',
      '::ffff:169.254.169.254',
    ])
      expect([a, isBlockedAddress(a)]).toEqual([a, true]);
    for (const a of [
      '127.0.0.1',
      '10.0.0.1',
      '172.16.0.1',
      '192.168.1.1',
      '::1',
      '8.8.8.8',
      'fc00::1',
      '2001:db8::1',
    ])
      expect([a, isBlockedAddress(a)]).toEqual([a, false]);
  });
});
