import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeGateway } from '../test/fake-gateway.js';
import type { Credential } from './config/env.js';
import { CliError, ExitCode } from './exit-codes.js';
import { Gateway, GatewayAnswerError, gatewayUrl, isCleartextRemote, segment } from './gateway.js';

const KEY: Credential = { kind: 'admin-key', header: 'x-admin-key', value: 'k-0123456789abcdef' };
const TOKEN: Credential = { kind: 'token', header: 'authorization', value: 'Bearer eyJ.a.b' };

let fake: FakeGateway;
beforeEach(async () => {
  fake = await new FakeGateway().start();
});
afterEach(() => fake.stop());

async function failure(p: Promise<unknown>): Promise<CliError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    return err as CliError;
  }
  throw new Error('it did not fail');
}

describe('Gateway', () => {
  it('sends the admin key or the token, JSON bodies, and the query without empty values', async () => {
    fake.answer('POST /api/policy/lint', 200, { ok: true, problems: [] });
    const gw = new Gateway(gatewayUrl(fake.url), KEY, 5000);
    const answer = await gw.json('POST', '/api/policy/lint', {
      body: { project: 'p' },
      query: { a: 'x y', b: undefined, c: 3 },
    });
    expect(answer).toEqual({ status: 200, body: { ok: true, problems: [] } });
    expect(fake.seen[0]).toMatchObject({
      url: '/api/policy/lint?a=x+y&c=3',
      body: { project: 'p' },
      headers: { 'x-admin-key': KEY.value, 'content-type': 'application/json' },
    });
    expect(fake.seen[0]!.headers.authorization).toBeUndefined();

    fake.answer('GET /api/approvals', 200, { approvals: [] });
    await new Gateway(gatewayUrl(fake.url), TOKEN, 5000).json('GET', '/api/approvals');
    expect(fake.seen[1]!.headers).toMatchObject({ authorization: 'Bearer eyJ.a.b' });
    expect(fake.seen[1]!.headers['x-admin-key']).toBeUndefined();
  });

  it('keeps a path prefix of the URL (a gateway behind a proxy)', async () => {
    fake.answer('GET /sg/api/trace/abc', 200, { trace_id: 'abc', events: [] });
    await new Gateway(gatewayUrl(`${fake.url}/sg`), KEY, 5000).json('GET', '/api/trace/abc');
    expect(fake.seen[0]!.url).toBe('/sg/api/trace/abc');
  });

  it.each([
    [401, 'AUTH.ADMIN_KEY_REQUIRED', ExitCode.Auth],
    [403, 'AUTH.ADMIN_ROLE_REQUIRED', ExitCode.Auth],
    [404, 'POLICY.VERSION_NOT_FOUND', ExitCode.NotFound],
    [400, 'AUDIT.INVALID_QUERY', ExitCode.Usage],
    [409, 'APPROVAL.NOT_PENDING', ExitCode.CheckFailed],
    [503, 'GATEWAY.SERVICE_UNAVAILABLE', ExitCode.Unavailable],
  ])('throws a %i answer as its code and message, exit %#', async (status, code, exit) => {
    fake.answer('GET /api/x', status, {
      success: false,
      error: { code, message: 'what went wrong' },
      trace_id: 't-0123456789',
    });
    const err = await failure(new Gateway(gatewayUrl(fake.url), KEY, 5000).json('GET', '/api/x'));
    expect(err).toBeInstanceOf(GatewayAnswerError);
    expect(err).toMatchObject({
      code,
      message: 'what went wrong',
      exitCode: exit,
      status,
      traceId: 't-0123456789',
    });
  });

  it('carries the problems of a 422 as lines of its own', async () => {
    fake.answer('POST /api/simulate', 422, {
      error: {
        code: 'ANALYTICS.CANDIDATE_INVALID',
        message: 'the candidate does not load',
        details: {
          problems: [{ file: 'policies/default.yaml', line: 1, column: 8, reason: 'bad' }],
        },
      },
    });
    const err = await failure(
      new Gateway(gatewayUrl(fake.url), KEY, 5000).json('POST', '/api/simulate', { body: {} }),
    );
    expect(err.more).toEqual(['  policies/default.yaml:1:8: bad']);
  });

  it('returns an outcome answer that is not 2xx when asked to', async () => {
    fake.answer('POST /approve', 403, { approval_id: 'a', status: 'denied' });
    const answer = await new Gateway(gatewayUrl(fake.url), KEY, 5000).json('POST', '/approve', {
      body: {},
      outcome: (_s, b) => typeof (b as { approval_id?: unknown }).approval_id === 'string',
    });
    expect(answer).toEqual({ status: 403, body: { approval_id: 'a', status: 'denied' } });
  });

  it('exits 5 for a 5xx that is not JSON (a proxy in front), and for a 200 that is not JSON', async () => {
    fake.on('GET /bad-gateway', (_r, res) => res.writeHead(502).end('<html>bad gateway</html>'));
    fake.on('GET /html', (_r, res) => res.writeHead(200).end('<html>hi</html>'));
    const gw = new Gateway(gatewayUrl(fake.url), KEY, 5000);
    expect(await failure(gw.json('GET', '/bad-gateway'))).toMatchObject({
      exitCode: ExitCode.Unavailable,
      message: expect.stringContaining('answered HTTP 502 with a body that is not JSON'),
    });
    expect((await failure(gw.json('GET', '/html'))).exitCode).toBe(ExitCode.Unavailable);
  });

  it('does not follow a redirect, so the key goes nowhere else', async () => {
    const other = await new FakeGateway().start();
    try {
      other.answer('GET /api/x', 200, {});
      fake.on('GET /api/x', (_r, res) =>
        res.writeHead(307, { location: `${other.url}/api/x` }).end(),
      );
      const err = await failure(new Gateway(gatewayUrl(fake.url), KEY, 5000).json('GET', '/api/x'));
      expect(err.exitCode).toBe(ExitCode.Usage);
      expect(err.message).toContain(`redirects to ${other.url}/api/x`);
      expect(other.seen).toEqual([]);
    } finally {
      await other.stop();
    }
  });

  it('exits 5 when nothing listens, and when the answer does not come in time', async () => {
    const closed = fake.url;
    await fake.stop();
    const refused = await failure(new Gateway(gatewayUrl(closed), KEY, 5000).json('GET', '/api/x'));
    expect(refused.exitCode).toBe(ExitCode.Unavailable);
    expect(refused.message).toMatch(
      /^cannot reach the gateway at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
    );

    const silent: Server = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as AddressInfo).port;
      const late = await failure(
        new Gateway(gatewayUrl(`http://127.0.0.1:${port}`), KEY, 200).json('GET', '/api/x'),
      );
      expect(late.exitCode).toBe(ExitCode.Unavailable);
      expect(late.message).toContain('did not answer within');
    } finally {
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
    fake = await new FakeGateway().start();
  });

  it('exits 3 before sending anything when there is no credential', async () => {
    const err = await failure(new Gateway(gatewayUrl(fake.url), null, 5000).json('GET', '/api/x'));
    expect(err.exitCode).toBe(ExitCode.Auth);
    expect(fake.seen).toEqual([]);
  });

  it('streams an answer, and throws an error answer before any of it', async () => {
    fake.on('GET /api/audit/export', (_r, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"audit_id":"1"}\n');
      res.end('{"audit_id":"2"}\n');
    });
    const gw = new Gateway(gatewayUrl(fake.url), KEY, 5000);
    const answer = await gw.stream('/api/audit/export', { project: 'p' });
    expect(await new Response(answer.body).text()).toBe('{"audit_id":"1"}\n{"audit_id":"2"}\n');
    answer.done();
    fake.answer('GET /api/audit/export', 400, {
      error: { code: 'AUDIT.INVALID_QUERY', message: 'bad' },
    });
    expect(await failure(gw.stream('/api/audit/export', {}))).toMatchObject({
      code: 'AUDIT.INVALID_QUERY',
      exitCode: ExitCode.Usage,
    });
  });
});

describe('gatewayUrl', () => {
  it('takes http and https URLs, and refuses others, credentials and queries in them', () => {
    expect(gatewayUrl('https://gw.example.com/sg').href).toBe('https://gw.example.com/sg/');
    for (const [raw, why] of [
      ['gw.example.com', 'is not a URL'],
      ['ftp://gw', 'must be http:// or https://'],
      ['https://admin:secret@gw', 'must not hold a user or password'],
      ['https://gw/?x=1', 'takes no query string'],
    ] as const) {
      let message = '';
      try {
        gatewayUrl(raw);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toContain(why);
      expect(message).not.toContain('secret');
    }
  });

  it('tells a plain-http remote gateway from a local one', () => {
    expect(isCleartextRemote(gatewayUrl('http://gw.example.com'))).toBe(true);
    expect(isCleartextRemote(gatewayUrl('http://127.0.0.1:8080'))).toBe(false);
    expect(isCleartextRemote(gatewayUrl('http://localhost:8080'))).toBe(false);
    expect(isCleartextRemote(gatewayUrl('https://gw.example.com'))).toBe(false);
  });
});

describe('segment', () => {
  it('encodes one path segment, and refuses the dots that would climb out of it', () => {
    expect(segment('a/b?c#d')).toBe('a%2Fb%3Fc%23d');
    expect(() => segment('..')).toThrow('is not an id');
    expect(() => segment('.')).toThrow('is not an id');
  });
});
