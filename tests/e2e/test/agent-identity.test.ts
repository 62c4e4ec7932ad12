// Agent identity beyond static keys, through the real processes: signed calls (RFC 9421, HMAC
// and Ed25519, nonces in Redis) and OAuth 2.1 bearer tokens checked against a JWKS server the
// test runs, on the REST route and on /mcp.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { signRequest } from '@sg/runtime';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { freePort } from '@sg/testing';
import {
  auditRows,
  envelope,
  get,
  post,
  startExtraService,
  startGateway,
  type Gateway,
} from './harness.js';

const HMAC_SECRET = 'hmac-shared-secret-of-signer-bot';
const ed = generateKeyPairSync('ed25519');
const ED_PUBLIC = ed.publicKey
  .export({ format: 'der', type: 'spki' })
  .subarray(12)
  .toString('base64');

let gw: Gateway;
let jwks: Server;
let jwksUrl: string;
let issuerKey: Awaited<ReturnType<typeof generateKeyPair>>;
let publicJwk: JWK;
let echo: Server;
const seenByUpstream: IncomingHttpHeaders[] = [];
const AUDIENCE = 'https://gateway.example.test/mcp';
const ISSUER = 'https://issuer.example.test';

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

beforeAll(async () => {
  issuerKey = await generateKeyPair('ES256');
  publicJwk = { ...(await exportJWK(issuerKey.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  jwks = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [publicJwk] }));
  });
  jwksUrl = `${await listen(jwks)}/jwks.json`;
  // An upstream that records the headers it is sent: the agent's token must never reach it.
  echo = createServer((req, res) => {
    seenByUpstream.push(req.headers);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  const echoUrl = await listen(echo);
  gw = await startGateway({
    env: {
      SECRET_SIGNER_BOT_HMAC: HMAC_SECRET,
      OAUTH_ISSUER: ISSUER,
      OAUTH_JWKS_URL: jwksUrl,
      OAUTH_AUDIENCE: AUDIENCE,
    },
    configure: (c) => {
      c.write(
        'model_keys/default.yaml',
        [
          'models:',
          '  gpt-4o:',
          '    key: modelkey-abc123',
          '    oauth: { sub: "user-client-1" }',
          '  signer-bot:',
          '    key: signer-bot-key-01',
          '    require_signature: true',
          '    signing_keys:',
          '      - { key_id: signer-hmac, hmac_secret: "{{secret:SIGNER_BOT_HMAC}}" }',
          `      - { key_id: signer-ed, ed25519_public_key: "${ED_PUBLIC}" }`,
          '',
        ].join('\n'),
      );
      c.write(
        'policies/default.yaml',
        'rules:\n  - model: "*"\n    allow_tools: ["calendar.*", "echo.*"]\n',
      );
      c.write('tools/echo.headers.json', {
        name: 'echo.headers',
        description: 'records headers',
        input_schema: { type: 'object', properties: {} },
        upstream: { type: 'http', url: `${echoUrl}/x`, timeout_ms: 5000 },
      });
    },
  });
});

afterAll(async () => {
  await gw?.stop();
  jwks?.close();
  echo?.close();
});

/** A signed POST /api/tools/call; `tamper` changes the body after signing. */
async function signedCall(
  keyId: 'signer-hmac' | 'signer-ed',
  opts: { nonce?: string; created?: number; tamper?: boolean; traceId?: string } = {},
) {
  const body = JSON.stringify(envelope({ agent_id: 'signer-bot' }));
  const headers = await signRequest(
    { method: 'POST', url: `${gw.url}/api/tools/call`, body },
    keyId === 'signer-hmac'
      ? { keyId, alg: 'hmac-sha256', key: HMAC_SECRET }
      : { keyId, alg: 'ed25519', key: ed.privateKey },
    { nonce: opts.nonce ?? randomUUID(), ...(opts.created ? { created: opts.created } : {}) },
  );
  return post(gw, '/api/tools/call', opts.tamper ? body.replace('calendar', 'calendar ') : body, {
    ...headers,
    ...(opts.traceId ? { 'X-Trace-Id': opts.traceId } : {}),
  });
}

describe('signed calls', () => {
  it.each(['signer-hmac', 'signer-ed'] as const)('runs a call signed with %s', async (keyId) => {
    const res = await signedCall(keyId);
    expect(res.status).toBe(200);
    expect(res.body.success).toBe(true);
  });

  it('refuses a replayed nonce, a changed body and an old signature, each audited', async () => {
    const nonce = randomUUID();
    expect((await signedCall('signer-hmac', { nonce })).status).toBe(200);
    const replay = await signedCall('signer-hmac', { nonce, traceId: 'sig-replay-0001' });
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('AUTH.NONCE_REPLAYED');
    const tampered = await signedCall('signer-ed', { tamper: true });
    expect(tampered.body.error.code).toBe('AUTH.SIGNATURE_INVALID');
    const old = await signedCall('signer-ed', { created: Math.floor(Date.now() / 1000) - 600 });
    expect(old.body.error.code).toBe('AUTH.SIGNATURE_EXPIRED');
    expect(old.headers.get('www-authenticate')).toMatch(/^Bearer /);
    const rows = await auditRows(gw, 'sig-replay-0001', 1);
    expect(rows[0]!.data).toMatchObject({ http_status: 401, code: 'AUTH.NONCE_REPLAYED' });
  });

  it('refuses an agent that must sign when it sends only its key', async () => {
    const res = await post(gw, '/api/tools/call', envelope({ agent_id: 'signer-bot' }), {
      'X-API-Key': 'signer-bot-key-01',
    });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('AUTH.SIGNATURE_REQUIRED');
  });
});

describe('OAuth bearer tokens', () => {
  const token = (claims: Record<string, unknown> = {}, over: { aud?: string; exp?: string } = {}) =>
    new SignJWT({ scope: 'tools', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(over.aud ?? AUDIENCE)
      .setSubject('user-client-1')
      .setIssuedAt()
      .setExpirationTime(over.exp ?? '5m')
      .sign(issuerKey.privateKey);

  it('serves the protected-resource metadata (RFC 9728)', async () => {
    for (const path of [
      '/.well-known/oauth-protected-resource',
      '/.well-known/oauth-protected-resource/mcp',
    ]) {
      const res = await get(gw, path);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ resource: AUDIENCE, authorization_servers: [ISSUER] });
    }
  });

  it('runs a REST call for the agent the token names, and never passes the token on', async () => {
    const jwt = await token();
    const res = await post(gw, '/api/tools/call', envelope({ tool: 'echo.headers' }), {
      Authorization: `Bearer ${jwt}`,
    });
    expect(res.status).toBe(200);
    expect(seenByUpstream.length).toBeGreaterThan(0);
    for (const h of seenByUpstream) expect(JSON.stringify(h)).not.toContain(jwt.slice(0, 40));
    expect(seenByUpstream.every((h) => h.authorization === undefined)).toBe(true);
  });

  it('lists and calls tools over /mcp with a token', async () => {
    const client = new Client({ name: 'oauth-client', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), {
        requestInit: { headers: { Authorization: `Bearer ${await token()}` } },
      }),
    );
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('calendar.list_events');
    const res = await client.callTool({ name: 'calendar.list_events', arguments: {} });
    expect(res.isError).toBeFalsy();
    await client.close();
  });

  it('refuses a token for another audience, an expired one and a stranger, saying where to get one', async () => {
    const cases = [
      await token({}, { aud: 'https://other.example.test' }),
      await token({}, { exp: '-10m' }),
      await token({ sub: 'nobody' }).then(() =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setSubject('nobody')
          .setExpirationTime('5m')
          .sign(issuerKey.privateKey),
      ),
    ];
    for (const jwt of cases) {
      const res = await post(gw, '/api/tools/call', envelope(), { Authorization: `Bearer ${jwt}` });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('AUTH.TOKEN_INVALID');
      expect(res.headers.get('www-authenticate')).toBe(
        'Bearer realm="securegateway", resource_metadata="https://gateway.example.test/.well-known/oauth-protected-resource/mcp", error="invalid_token"',
      );
    }
    const bare = await fetch(`${gw.url}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    });
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toContain('resource_metadata=');
  });

  it('keeps accepting tokens of cached keys while the issuer is down, and fails closed on a fresh instance', async () => {
    await new Promise<void>((resolve) => jwks.close(() => resolve()));
    jwks.closeAllConnections();
    const jwt = await token();
    expect(
      (await post(gw, '/api/tools/call', envelope(), { Authorization: `Bearer ${jwt}` })).status,
    ).toBe(200);
    // A second ingress has never fetched the keys: it cannot check the token, so it refuses it.
    const port = await freePort();
    const fresh = await startExtraService(gw, 'ingress', {
      PORT: String(port),
      OAUTH_ISSUER: ISSUER,
      OAUTH_JWKS_URL: jwksUrl,
      OAUTH_AUDIENCE: AUDIENCE,
    });
    try {
      const res = await post(
        { ...gw, url: `http://127.0.0.1:${port}` },
        '/api/tools/call',
        envelope(),
        {
          Authorization: `Bearer ${jwt}`,
        },
      );
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('AUTH.TOKEN_ISSUER_UNAVAILABLE');
    } finally {
      await fresh.stop();
    }
  });
});
