// The dashboard's session (issue 15): an admin logs in once and the browser carries an
// HttpOnly, SameSite=Strict cookie; writes need the session's CSRF token; logout and expiry end it.
import { waitFor } from '@sg/testing';
import { ADMIN_KEY, adminsYaml, get, post, startGateway, type Gateway } from './harness.js';

const ANALYST = 'ann-analyst-key-00000000001';
const VIEWER = 'vic-viewer-key-000000000001';
let gw: Gateway;

beforeAll(async () => {
  gw = await startGateway({
    env: { DASH_SESSION_TTL_S: '3' },
    configure: (c) =>
      c.write(
        'admins.yaml',
        adminsYaml({
          ann: { key: ANALYST, roles: ['analyst'] },
          vic: { key: VIEWER, roles: ['viewer'] },
        }),
      ),
  });
});

afterAll(async () => {
  await gw?.stop();
});

async function login(key: string) {
  const res = await post(gw, '/dash/api/session', {}, { 'X-Admin-Key': key });
  const setCookie = res.headers.get('set-cookie') ?? '';
  return { res, setCookie, cookie: setCookie.split(';')[0]! };
}
const summary = '/api/analytics/summary?project=default';

it('logs an admin in with an HttpOnly, SameSite=Strict cookie that every admin endpoint takes', async () => {
  const { res, setCookie, cookie } = await login(ANALYST);
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({ name: 'ann', roles: ['analyst'], via: 'key' });
  expect(res.body.permissions).toContain('analytics.run');
  expect(res.body.permissions).not.toContain('approvals.resolve');
  expect(res.body.csrf_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(setCookie).toMatch(
    /^sg_dash=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=3; Secure$/,
  );
  // The cookie alone reads (and the audit names ann); the key is never stored as the cookie.
  expect(cookie).not.toContain(ANALYST);
  const read = await get(gw, summary, { cookie });
  expect(read.status).toBe(200);
  const me = await get(gw, '/dash/api/session', { cookie });
  expect(me.body).toMatchObject({ name: 'ann', csrf_token: res.body.csrf_token });
  const audit = await waitFor(async () => {
    const r = await gw.db.query<{ data: { principal: string; via: string } }>(
      "SELECT data FROM audit_events WHERE subject = 'gw.evt.admin.action.v1' AND data->>'path' = '/api/analytics/summary'",
    );
    return r.rows[0];
  }, 10_000);
  expect(audit.data).toMatchObject({ principal: 'ann', via: 'key' });
});

it('refuses a write with the cookie but without its CSRF token, and a role it lacks', async () => {
  const { res, cookie } = await login(ANALYST);
  const body = {
    model_id: 'gpt-4o',
    session_id: 's',
    tool_calls: [{ tool: 'calendar.list_events', input: {} }],
  };
  const bare = await post(gw, '/api/simulate', body, { cookie });
  expect([bare.status, bare.body.error.code]).toEqual([403, 'AUTH.CSRF_TOKEN_INVALID']);
  const forged = await post(gw, '/api/simulate', body, { cookie, 'X-CSRF-Token': 'x'.repeat(43) });
  expect(forged.status).toBe(403);
  const ok = await post(gw, '/api/simulate', body, {
    cookie,
    'X-CSRF-Token': res.body.csrf_token as string,
  });
  expect(ok.status).toBe(200);
  // A viewer's session may read what a viewer may, and no more.
  const viewer = await login(VIEWER);
  const refused = await get(gw, summary, { cookie: viewer.cookie });
  expect([refused.status, refused.body.error.code]).toEqual([403, 'AUTH.ADMIN_ROLE_REQUIRED']);
});

it('ends the session at logout and when it expires', async () => {
  const { res, cookie } = await login(ANALYST);
  const noCsrf = await fetch(`${gw.url}/dash/api/session`, {
    method: 'DELETE',
    headers: { cookie },
  });
  expect(noCsrf.status).toBe(403);
  const out = await fetch(`${gw.url}/dash/api/session`, {
    method: 'DELETE',
    headers: { cookie, 'X-CSRF-Token': res.body.csrf_token as string },
  });
  expect(out.status).toBe(204);
  expect(out.headers.get('set-cookie')).toMatch(
    /^sg_dash=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0/,
  );
  const after = await get(gw, summary, { cookie });
  expect([after.status, after.body.error.code]).toEqual([401, 'AUTH.SESSION_INVALID']);

  const other = await login(ANALYST);
  await new Promise((r) => setTimeout(r, 3500));
  const expired = await get(gw, summary, { cookie: other.cookie });
  expect([expired.status, expired.body.error.code]).toEqual([401, 'AUTH.SESSION_INVALID']);
  // A made-up cookie is refused the same way, and a bad key gets no session.
  const invented = await get(gw, summary, { cookie: 'sg_dash=abc' });
  expect(invented.status).toBe(401);
  const bad = await login('not-an-admin-key-000000');
  expect(bad.res.status).toBe(401);
  expect(bad.setCookie).toBe('');
  // The bootstrap key logs in too, as `bootstrap`.
  expect((await login(ADMIN_KEY)).res.body).toMatchObject({ name: 'bootstrap', via: 'bootstrap' });
});
