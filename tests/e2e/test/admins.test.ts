// Named admins with roles (admins.yaml, issue 13 §1) through the real processes: keys stored as
// sha256, OIDC tokens from a real JWKS server, a role checked on every admin endpoint, every
// admin request audited with its principal, approvals naming who resolved them, four-eyes, and
// the bootstrap ADMIN_API_KEY.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { waitFor } from '@sg/testing';
import {
  ADMIN_KEY,
  AGENT_KEY,
  envelope,
  get,
  post,
  startGateway,
  type Gateway,
} from './harness.js';

const KEYS = {
  root: 'root-admin-key-00000000000001',
  alice: 'alice-approver-key-000000002',
  bob: 'bob-approver-key-00000000003',
  ana: 'ana-analyst-key-0000000000004',
  pat: 'pat-policy-editor-key-000005',
  vic: 'vic-viewer-key-00000000000006',
};
const ROLES: Record<keyof typeof KEYS, string> = {
  root: 'admin',
  alice: 'approver',
  bob: 'approver',
  ana: 'analyst',
  pat: 'policy_editor',
  vic: 'viewer',
};
const ISSUER = 'https://idp.example.com';
const AUDIENCE = 'securegateway-admin';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

let gw: Gateway;
let jwks: Server;
let issuerKey: Awaited<ReturnType<typeof generateKeyPair>>;

beforeAll(async () => {
  issuerKey = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(issuerKey.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  jwks = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
  gw = await startGateway({
    env: {
      ADMIN_OIDC_ISSUER: ISSUER,
      ADMIN_OIDC_JWKS_URL: jwksUrl,
      ADMIN_OIDC_AUDIENCE: AUDIENCE,
    },
    configure: (c) => {
      c.write(
        'admins.yaml',
        [
          'admins:',
          ...Object.entries(KEYS).flatMap(([name, key]) => [
            `  ${name}:`,
            `    key_sha256: ${sha256(key)}`,
            `    roles: [${ROLES[name as keyof typeof KEYS]}]`,
          ]),
          'oidc:',
          '  name_claim: email',
          '  role_claim: groups',
          '  roles: { sg-approvers: approver, sg-viewers: viewer }',
          'four_eyes: true',
          '',
        ].join('\n'),
      );
      c.write(
        'policies/default.yaml',
        'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*", "db.*"]\n    requires_approval: ["db.write_*"]\n',
      );
      c.write('model_keys/default.yaml', `models:\n  gpt-4o:\n    key: ${AGENT_KEY}\n`);
    },
  });
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  jwks?.closeAllConnections();
  await new Promise<void>((resolve) => jwks?.close(() => resolve()));
});

const as = (name: keyof typeof KEYS) => ({ 'X-Admin-Key': KEYS[name] });

/** A call that waits for an approval, made for end user `user`. */
async function pending(user = 'someone') {
  const res = await post(
    gw,
    '/api/tools/call',
    envelope({ tool: 'db.write_sensitive', arguments: { table: 't', record: { user } } }),
    { 'X-API-Key': AGENT_KEY, 'X-User-Id': user },
  );
  expect(res.status).toBe(202);
  return res.body.approval_id as string;
}

const adminRows = (principal: string | null, path: string) =>
  waitFor(
    async () => {
      const res = await gw.db.query<{ data: Record<string, unknown> }>(
        `SELECT data FROM audit_events WHERE subject = 'gw.evt.admin.action.v1'
           AND data->>'path' = $2 AND ($1::text IS NULL AND data->>'principal' IS NULL OR data->>'principal' = $1)`,
        [principal, path],
      );
      return res.rows.length ? res.rows.map((r) => r.data) : undefined;
    },
    10_000,
    `the admin action of ${principal} on ${path}`,
  );

/** The approval's gw.evt.approval.resolved.v1 data, once the audit stored it. */
const resolvedEvent = (approval: string) =>
  waitFor(
    async () =>
      (
        await gw.db.query<{ data: Record<string, unknown> }>(
          "SELECT data FROM audit_events WHERE subject = 'gw.evt.approval.resolved.v1' AND data->>'approval_id' = $1",
          [approval],
        )
      ).rows[0]?.data,
    10_000,
    'approval.resolved',
  );

it('lets each role do what its permissions say, and refuses the rest with 403 AUTH.ADMIN_ROLE_REQUIRED', async () => {
  const approval = await pending();
  // [who, audit read, approvals read, federation read, approve]
  const expected: Array<[keyof typeof KEYS, number, number, number]> = [
    ['root', 200, 200, 200],
    ['alice', 200, 200, 200],
    ['ana', 200, 200, 200],
    ['pat', 403, 200, 200],
    ['vic', 403, 200, 200],
  ];
  for (const [who, audit, approvals, federation] of expected) {
    const got = [
      (await get(gw, '/api/audit/records?limit=1', as(who))).status,
      (await get(gw, `/api/approvals/${approval}`, as(who))).status,
      (await get(gw, '/api/federation/peers', as(who))).status,
    ];
    expect([who, ...got]).toEqual([who, audit, approvals, federation]);
  }
  for (const who of ['ana', 'pat', 'vic'] as const) {
    const res = await post(gw, '/approve', { approval_id: approval, approved: true }, as(who));
    expect([who, res.status, res.body.error.code]).toEqual([who, 403, 'AUTH.ADMIN_ROLE_REQUIRED']);
    expect(res.body.error.message).toContain(`${who} (${ROLES[who]})`);
  }
});

it('refuses a key that is no admin key, and no key at all, with 401', async () => {
  const wrong = await get(gw, '/api/audit/records', { 'X-Admin-Key': 'not-a-key-of-anyone-0000' });
  expect([wrong.status, wrong.body.error.code]).toEqual([401, 'AUTH.ADMIN_KEY_REQUIRED']);
  const none = await get(gw, '/api/audit/records');
  expect([none.status, none.body.error.code]).toEqual([401, 'AUTH.ADMIN_KEY_REQUIRED']);
  const [row] = await adminRows(null, '/api/audit/records');
  expect(row).toMatchObject({ http_status: 401, code: 'AUTH.ADMIN_KEY_REQUIRED', via: null });
});

it('records who approved a call, in the approval and in the audit', async () => {
  const approval = await pending();
  const res = await post(gw, '/approve', { approval_id: approval, approved: true }, as('alice'));
  expect(res.status).toBe(200);
  const view = await get(gw, `/api/approvals/${approval}`, as('root'));
  expect(view.body).toMatchObject({ status: 'executed', approver: 'alice' });
  const rows = await adminRows('alice', '/approve');
  expect(rows[0]).toMatchObject({
    roles: ['approver'],
    via: 'key',
    permission: 'approvals.resolve',
    method: 'POST',
    http_status: 200,
  });
  const resolved = await resolvedEvent(approval);
  expect(resolved).toMatchObject({ approver: 'alice' });
});

it('refuses, with four-eyes, an approval by the end user who asked for the call', async () => {
  const approval = await pending('bob');
  const self = await post(gw, '/approve', { approval_id: approval, approved: true }, as('bob'));
  expect([self.status, self.body.error.code]).toEqual([403, 'APPROVAL.FOUR_EYES']);
  expect((await get(gw, `/api/approvals/${approval}`, as('root'))).body.status).toBe('pending');
  const other = await post(gw, '/approve', { approval_id: approval, approved: false }, as('alice'));
  expect(other.status).toBe(200);
  expect(other.body.status).toBe('rejected');
});

it('takes OIDC tokens for admins, named and given roles by their claims', async () => {
  const token = (claims: Record<string, unknown>, aud = AUDIENCE) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(aud)
      .setSubject('u-1')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(issuerKey.privateKey);
  const bearer = async (claims: Record<string, unknown>, aud?: string) => ({
    Authorization: `Bearer ${await token(claims, aud)}`,
  });
  const carol = await bearer({ email: 'carol@example.com', groups: ['sg-approvers', 'other'] });
  expect((await get(gw, '/api/audit/records?limit=1', carol)).status).toBe(200);
  const approval = await pending();
  const res = await post(gw, '/approve', { approval_id: approval, approved: false }, carol);
  expect(res.status).toBe(200);
  const view = await get(gw, `/api/approvals/${approval}`, carol);
  expect(view.body.approver).toBe('carol@example.com');
  // Who acted stays readable in the trail, though it is an email address (masked elsewhere).
  expect((await adminRows('carol@example.com', '/approve'))[0]).toMatchObject({ via: 'oidc' });
  const resolved = await resolvedEvent(approval);
  expect(resolved).toMatchObject({ approver: 'carol@example.com' });
  // A viewer's group: read-only.
  const dan = await bearer({ email: 'dan@example.com', groups: 'sg-viewers' });
  expect((await get(gw, '/api/audit/records', dan)).status).toBe(403);
  // No mapped group, or a token for another audience: refused.
  const eve = await bearer({ email: 'eve@example.com', groups: ['staff'] });
  const noRole = await get(gw, '/api/federation/peers', eve);
  expect([noRole.status, noRole.body.error.code]).toEqual([403, 'AUTH.ADMIN_ROLE_REQUIRED']);
  const other = await get(
    gw,
    '/api/federation/peers',
    await bearer({ email: 'carol@example.com', groups: ['sg-approvers'] }, 'another-api'),
  );
  expect([other.status, other.body.error.code]).toEqual([401, 'AUTH.TOKEN_INVALID']);
});

it('keeps the bootstrap ADMIN_API_KEY as an admin named "bootstrap", and warns when it is used', async () => {
  const res = await get(gw, '/api/federation/peers', { 'X-Admin-Key': ADMIN_KEY });
  expect(res.status).toBe(200);
  expect((await adminRows('bootstrap', '/api/federation/peers'))[0]).toMatchObject({
    roles: ['admin'],
    via: 'bootstrap',
  });
  const log = readFileSync(gw.logFile, 'utf8');
  expect(log).toContain('the bootstrap ADMIN_API_KEY was used');
  // Without a policy signing key, the files' versions are unsigned: that is no tampering.
  expect(log).not.toMatch(/does not verify|policy_tampered/);
  // No admin key stands in the log or the audit.
  const dump = JSON.stringify(
    (await gw.db.query('SELECT data FROM audit_events WHERE subject LIKE $1', ['%admin%'])).rows,
  );
  for (const key of [...Object.values(KEYS), ADMIN_KEY]) {
    expect(log).not.toContain(key);
    expect(dump).not.toContain(key);
  }
});
