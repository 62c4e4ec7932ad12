// The dashboard (issue 15) in a real browser against the real stack: every role logs in and
// sees only what it may do; a policy is edited through a lint error, saved and rolled back; a
// pending call is approved and its result shown; a call appears in the live feed; a proposal
// is reviewed. Every page is screenshot, checked for console errors and by axe-core.
import { gzipSync } from 'node:zlib';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@sg/testing';
import type { Browser, Page } from 'playwright-core';
import {
  AGENT_KEY,
  ADMIN_KEY,
  adminsYaml,
  envelope,
  get,
  post,
  startGateway,
  type Gateway,
  SIGNING_SEED,
} from './harness.js';
import {
  ARTIFACTS,
  axeViolations,
  launch,
  openPage,
  screenshot,
  type WatchedPage,
} from './browser.js';

const KEYS = {
  admin: ADMIN_KEY,
  policy_editor: 'pat-editor-key-0000000000001',
  approver: 'alice-approver-key-000000001',
  analyst: 'ann-analyst-key-000000000001',
  viewer: 'vic-viewer-key-0000000000001',
} as const;
type Role = keyof typeof KEYS;

const POLICY = [
  'rules:',
  '  - model: gpt-4o',
  '    allow_tools: ["calendar.*", "db.*"]',
  '    requires_approval: ["db.write_*"]',
  'forbidden_fields: [password, api_key, secret, token, private_key]',
  '',
].join('\n');

let gw: Gateway;
let browser: Browser;
const agent = { 'X-API-Key': AGENT_KEY };
const report: Record<string, unknown> = {};

beforeAll(async () => {
  [gw, browser] = await Promise.all([
    startGateway({
      // Approved proposals become signed versions: the policy service needs its signing key.
      env: { DASH_COOKIE_SECURE: 'false', SECRET_POLICY_SIGNING_KEY: SIGNING_SEED },
      configure: (c) => {
        c.write(
          'admins.yaml',
          adminsYaml({
            pat: { key: KEYS.policy_editor, roles: ['policy_editor'] },
            alice: { key: KEYS.approver, roles: ['approver'] },
            ann: { key: KEYS.analyst, roles: ['analyst'] },
            vic: { key: KEYS.viewer, roles: ['viewer'] },
          }),
        );
        c.write('policies/default.yaml', POLICY);
        // Three denials in two minutes raise a denial spike here.
        c.write(
          'policies/spiky.yaml',
          'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"]\nanomalies:\n  denial_spike: { count: 3, window_s: 120 }\n',
        );
        c.write('model_keys/default.yaml', `models:\n  gpt-4o:\n    key: ${AGENT_KEY}\n`);
      },
    }),
    launch(),
  ]);
});

afterAll(async () => {
  writeFileSync(join(ARTIFACTS, 'report.json'), JSON.stringify(report, null, 2));
  await browser?.close();
  await gw?.stop();
});

const opened: WatchedPage[] = [];
afterEach(async () => {
  // The last state of each page, kept with the test output (a failed test's tells why).
  const name = (expect.getState().currentTestName ?? 'test')
    .replace(/[^a-z0-9]+/gi, '-')
    .slice(0, 60);
  for (const [i, p] of opened.splice(0).entries()) {
    await screenshot(p.page, `last-${name}-${i}`).catch(() => undefined);
    await p.context.close();
  }
});

async function open(viewport?: { width: number; height: number }): Promise<WatchedPage> {
  const p = await openPage(browser, viewport);
  opened.push(p);
  return p;
}

async function login(page: Page, role: Role) {
  await page.goto(`${gw.url}/dash/`);
  await page.getByLabel('Admin key').fill(KEYS[role]);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('navigation', { name: 'Dashboard' }).waitFor();
  await page.getByRole('heading', { level: 1 }).waitFor();
  await page.waitForFunction(() => !document.querySelector('.loading'), null, { timeout: 30_000 });
}

/** Opens a page by its navigation link, waits for its heading, and checks it as a user would. */
async function visit(w: WatchedPage, link: string, heading: string, shot: string) {
  await w.page
    .getByRole('navigation', { name: 'Dashboard' })
    .getByRole('link', { name: link })
    .click();
  await w.page.getByRole('heading', { level: 1, name: heading }).waitFor();
  await w.page.waitForFunction(() => !document.querySelector('.loading'), null, {
    timeout: 20_000,
  });
  await check(w, shot);
}

async function check(w: WatchedPage, shot: string) {
  await screenshot(w.page, shot);
  expect(await axeViolations(w.page)).toEqual([]);
  expect(w.problems).toEqual([]);
}

const call = (tool: string, args: Record<string, unknown> = {}) =>
  post(gw, '/api/tools/call', envelope({ tool, arguments: args }), agent);

it('serves the app with a strict CSP, no inline script, and bundled assets only', async () => {
  const res = await fetch(`${gw.url}/dash/`);
  expect(res.status).toBe(200);
  const csp = res.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("default-src 'none'");
  expect(csp).not.toContain('unsafe-inline');
  expect(csp).not.toContain('unsafe-eval');
  expect(res.headers.get('x-frame-options')).toBe('DENY');
  const html = await res.text();
  // Scripts only by src, from this origin; nothing from a CDN.
  expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  expect(html).not.toMatch(/https?:\/\//);
  // A page of the app is the same shell; an unknown API or asset is a JSON 404.
  expect((await fetch(`${gw.url}/dash/policy`)).headers.get('content-type')).toContain('text/html');
  const missing = await get(gw, '/dash/assets/nope.js');
  expect(missing.status).toBe(404);
  expect(missing.body.error.code).toBe('REQUEST.NOT_FOUND');

  // The bundled JavaScript the first page loads, gzipped, is under the budget.
  const dist = join(import.meta.dirname, '../../../apps/dash/dist/assets');
  const js = readdirSync(dist).filter((f) => f.endsWith('.js'));
  const gz = js.reduce((n, f) => n + gzipSync(readFileSync(join(dist, f))).length, 0);
  report.js_gzipped_bytes = gz;
  expect(gz).toBeLessThan(300 * 1024);

  // First load on localhost: the login page, and the overview after logging in.
  const w = await open();
  await w.page.goto(`${gw.url}/dash/`);
  await w.page.getByLabel('Admin key').waitFor();
  report.first_load_ms = await w.page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    return Math.round(nav.loadEventEnd - nav.startTime);
  });
  await check(w, 'login');
  await w.page.getByLabel('Admin key').fill(KEYS.admin);
  const started = Date.now();
  await w.page.getByRole('button', { name: 'Log in' }).click();
  await w.page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  await w.page.waitForFunction(() => !document.querySelector('.loading'));
  report.login_to_overview_ms = Date.now() - started;
  console.log(
    `dashboard: ${(gz / 1024).toFixed(1)} KB of JS gzipped; first load ${String(report.first_load_ms)} ms; login to overview ${String(report.login_to_overview_ms)} ms`,
  );
});

it.each<[Role, string[], string[]]>([
  [
    'admin',
    [
      'Overview',
      'Live audit',
      'Sessions',
      'Policy',
      'Approvals',
      'Proposals',
      'Suggestions',
      'Alerts',
      'Shadow',
      'Peers',
    ],
    [],
  ],
  [
    'policy_editor',
    ['Overview', 'Policy', 'Approvals', 'Proposals', 'Suggestions', 'Shadow', 'Peers'],
    ['Live audit', 'Alerts', 'Sessions'],
  ],
  [
    'approver',
    ['Live audit', 'Sessions', 'Policy', 'Approvals', 'Proposals', 'Alerts', 'Peers'],
    ['Overview', 'Suggestions', 'Shadow'],
  ],
  [
    'analyst',
    [
      'Overview',
      'Live audit',
      'Sessions',
      'Policy',
      'Approvals',
      'Proposals',
      'Suggestions',
      'Alerts',
      'Shadow',
      'Peers',
    ],
    [],
  ],
  [
    'viewer',
    ['Policy', 'Approvals', 'Proposals', 'Peers'],
    ['Overview', 'Live audit', 'Sessions', 'Alerts', 'Suggestions'],
  ],
])('logs in as %s and shows only the pages the role may see', async (role, shown, hidden) => {
  const w = await open();
  await login(w.page, role);
  const nav = w.page.getByRole('navigation', { name: 'Dashboard' });
  expect(await nav.getByRole('link').allInnerTexts()).toEqual(shown);
  for (const name of hidden)
    expect(await nav.getByRole('link', { name, exact: true }).count()).toBe(0);
  await w.page.getByRole('heading', { level: 1 }).waitFor();
  await w.page.waitForFunction(() => !document.querySelector('.loading'), null, {
    timeout: 20_000,
  });
  await check(w, `home-${role}`);
  // Log out: the cookie is gone, the API refuses it, and the login form is back.
  await w.page.getByRole('button', { name: 'Log out' }).click();
  await w.page.getByText('You are logged out.').waitFor();
  const after = await w.page.evaluate(async () => (await fetch('/dash/api/session')).status);
  expect(after).toBe(401);
});

it('a viewer sees a pending call without an approve button, and the API refuses it anyway', async () => {
  const pending = await call('db.write_sensitive', { table: 'payroll', record: { n: 1 } });
  expect(pending.status).toBe(202);
  const w = await open();
  await login(w.page, 'viewer');
  await visit(w, 'Approvals', 'Approvals', 'approvals-viewer');
  await w.page.getByText('db.write_sensitive').first().waitFor();
  expect(await w.page.getByRole('button', { name: /Approve/ }).count()).toBe(0);
  const refused = await w.page.evaluate(async (id: string) => {
    const s = (await (await fetch('/dash/api/session')).json()) as { csrf_token: string };
    const res = await fetch('/approve', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': s.csrf_token },
      body: JSON.stringify({ approval_id: id, approved: true }),
    });
    return {
      status: res.status,
      code: ((await res.json()) as { error: { code: string } }).error.code,
    };
  }, pending.body.approval_id as string);
  expect(refused).toEqual({ status: 403, code: 'AUTH.ADMIN_ROLE_REQUIRED' });
  expect(w.problems).toEqual([expect.stringMatching(/status of 403.*\/approve\)$/)]);
});

it('an approver approves a pending call with a comment and sees its result', async () => {
  const pending = await call('db.write_sensitive', { table: 'payroll', record: { n: 2 } });
  expect(pending.status).toBe(202);
  const w = await open();
  await login(w.page, 'approver');
  await visit(w, 'Approvals', 'Approvals', 'approvals');
  const card = w.page
    .locator('li.approval')
    .filter({ hasText: pending.body.approval_id.slice(0, 0) })
    .filter({ hasText: '"n": 2' });
  await card.getByLabel('Comment (kept with the decision)').fill('checked with payroll');
  await card.getByRole('button', { name: 'Approve and run' }).click();
  await w.page.getByText('Approved; the call ran.').waitFor();
  await w.page.getByText(/Result after it ran \(HTTP 200\)/).waitFor();
  await check(w, 'approvals-approved');
  const view = await get(gw, `/api/approvals/${pending.body.approval_id}`, {
    'X-Admin-Key': ADMIN_KEY,
  });
  expect(view.body).toMatchObject({
    status: 'executed',
    approver: 'alice',
    comment: 'checked with payroll',
  });
});

it('shows a call in the live feed as it happens, and opens its trace', async () => {
  const w = await open();
  await login(w.page, 'admin');
  await visit(w, 'Live audit', 'Live audit', 'feed');
  await w.page.getByText(/^Live:/).waitFor();
  const made = await call('calendar.list_events', { calendar_id: 'bob@example.com' });
  expect(made.status).toBe(200);
  const link = w.page.locator(`a[href="/dash/trace/${made.body.trace_id}"]`);
  await link.waitFor({ timeout: 20_000 });
  await w.page.getByText(/^Live: .*\(1 since/).waitFor();
  await screenshot(w.page, 'feed-live');
  await link.click();
  await w.page.getByRole('heading', { level: 1, name: /^Trace / }).waitFor();
  await w.page.getByRole('table', { name: /rule_trace/ }).waitFor();
  // The arguments as the audit keeps them: the email masked.
  const args = await w.page.getByLabel('arguments, masked').innerText();
  expect(args).not.toContain('bob@example.com');
  await check(w, 'trace');
});

it('edits a policy through a lint error, saves it with a reason, and rolls it back', async () => {
  const w = await open();
  await login(w.page, 'policy_editor');
  await visit(w, 'Policy', 'Policy', 'policy');
  const editor = w.page.getByRole('textbox', { name: 'policies/default.yaml' });
  await editor.click();
  await w.page.keyboard.press('Control+End');
  await w.page.keyboard.type('\nrate_limits: 12');
  // The server's problem, where it is: in the status line, and marked in the text with its
  // message on hover.
  await w.page.getByText(/^Lint: 1 problem: line 7:14: rate_limits/).waitFor({ timeout: 20_000 });
  const marked = w.page.locator('.cm-lintRange-error').first();
  expect(await marked.innerText()).toBe('12');
  await marked.hover();
  await w.page
    .locator('.cm-tooltip-lint')
    .getByText(/rate_limits/)
    .waitFor();
  await w.page.getByLabel('Reason for this change').fill('tighten calendar');
  expect(await w.page.getByRole('button', { name: 'Save as a new version' }).isDisabled()).toBe(
    true,
  );
  await screenshot(w.page, 'policy-lint-error');
  // Discard puts the active text back.
  await w.page.getByRole('button', { name: 'Discard changes' }).click();
  await w.page.getByText('Your changes against the active version').waitFor({ state: 'detached' });
  expect(await editor.innerText()).not.toContain('rate_limits');
  // Fix it: allow only the calendar.
  await editor.click();
  await w.page.keyboard.press('Control+a');
  await w.page.keyboard.press('Delete');
  const fixed = POLICY.replace('["calendar.*", "db.*"]', '["calendar.*"]');
  await editor.fill(fixed);
  await w.page.getByText('Lint: no problems.').waitFor({ timeout: 20_000 });
  await w.page.getByText('Your changes against the active version').waitFor();
  await w.page.getByRole('button', { name: 'Save as a new version' }).click();
  await w.page.getByText(/^Saved as version/).waitFor();
  await check(w, 'policy-saved');
  // The editor now holds the saved version.
  await waitFor(
    async () => (!(await editor.innerText()).includes('db.*') ? true : undefined),
    10_000,
  );
  // The gateway runs the new version: db.* is not allowed any more.
  await waitFor(
    async () =>
      (await call('db.write_sensitive', { table: 't', record: { n: 9 } })).status === 403
        ? true
        : undefined,
    10_000,
  );

  // Roll back to the version before, with a reason.
  const history = w.page.locator('ol.versions > li');
  await waitFor(async () => ((await history.count()) >= 2 ? true : undefined), 10_000);
  const previous = history.nth(1);
  await previous.getByRole('button', { name: 'Show diff' }).click();
  await previous.locator('pre.diff-text').waitFor();
  await previous.getByLabel(/Reason for rolling back/).fill('db reads are needed');
  await previous.getByRole('button', { name: 'Roll back to this version' }).click();
  await waitFor(async () => ((await history.count()) >= 3 ? true : undefined), 10_000);
  await w.page.locator('ol.versions > li').first().getByText('rollback').waitFor();
  await check(w, 'policy-rolled-back');
  await waitFor(
    async () => ((await editor.innerText()).includes('db.*') ? true : undefined),
    10_000,
  );
  await waitFor(
    async () =>
      (await call('db.write_sensitive', { table: 't', record: { n: 9 } })).status === 202
        ? true
        : undefined,
    10_000,
  );
});

it('reviews a proposal: diff, justification, guardrails, simulated impact, approve', async () => {
  const proposed = await post(
    gw,
    '/api/propose_policy',
    {
      model_id: 'gpt-4o',
      yaml: [
        'rules:',
        '  - model: gpt-4o',
        '    allow_tools: ["calendar.*", "db.*"]',
        '    requires_approval: ["db.write_*"]',
        '    deny_tools: ["db.drop_*"]',
        '',
      ].join('\n'),
      justification: 'dropping tables must never run',
    },
    { 'X-Admin-Key': ADMIN_KEY },
  );
  expect(proposed.status).toBe(202);
  const w = await open();
  await login(w.page, 'approver');
  await visit(w, 'Proposals', 'Proposals', 'proposals');
  await w.page.getByRole('button', { name: 'Review' }).first().click();
  // The review simulates the last 7 days against the merged policy before it shows.
  await w.page.getByText('dropping tables must never run').waitFor({ timeout: 60_000 });
  await w.page.getByRole('heading', { name: 'Guardrails' }).waitFor();
  await w.page.getByLabel("the proposal's diff").waitFor();
  await w.page.getByText(/calls replayed/).waitFor();
  await check(w, 'proposal-review');
  await w.page.getByLabel('Review comment').fill('fine');
  await w.page.getByRole('button', { name: 'Approve', exact: true }).click();
  await w.page.getByText(/^Approved: active as version/).waitFor();
  const after = await get(gw, `/api/proposals/${proposed.body.proposal_id}`, {
    'X-Admin-Key': ADMIN_KEY,
  });
  expect(after.body).toMatchObject({ status: 'approved', reviewer: 'alice', comment: 'fine' });
});

it('an analyst simulates a session, proposes and dismisses a suggestion, and acknowledges an alert', async () => {
  // Seven denials of one tool in one session of the project "spiky": a denial spike alert, and
  // a suggestion to deny that tool explicitly.
  const sid = `dash-session-${Date.now()}`;
  const spiky = { ...agent, 'X-Project-ID': 'spiky', 'X-Session-ID': sid };
  for (let i = 0; i < 7; i++) {
    const r = await post(
      gw,
      '/api/tools/call',
      envelope({ tool: 'db.write_sensitive', arguments: { table: 't', record: { n: i } } }),
      spiky,
    );
    expect(r.status).toBe(403);
  }
  const admin = { 'X-Admin-Key': ADMIN_KEY };
  await waitFor(async () => {
    const r = await get(gw, '/api/alerts?project=spiky', admin);
    return r.body.alerts?.length ? true : undefined;
  }, 20_000);
  await waitFor(async () => {
    const r = await get(gw, '/api/policy/suggest?project=spiky', admin);
    return r.body.suggestions?.some((s: { kind: string }) => s.kind === 'repeated_denials')
      ? true
      : undefined;
  }, 20_000);

  const w = await open();
  await login(w.page, 'analyst');
  // Sessions: find the session, see its calls, replay it against the live policy.
  await visit(w, 'Sessions', 'Sessions', 'sessions');
  await w.page.getByLabel('Project').selectOption('spiky');
  await w.page.getByLabel('Session id').fill(sid);
  await w.page.getByRole('button', { name: 'Find' }).click();
  await w.page.getByRole('heading', { name: `Session ${sid}` }).waitFor();
  await w.page.getByText(/^7 calls by gpt-4o/).waitFor();
  await w.page.getByRole('button', { name: 'Simulate' }).click();
  await w.page.getByText(/^7 calls replayed, 0 changed/).waitFor({ timeout: 30_000 });
  await check(w, 'session-simulated');

  // Alerts: acknowledge the spike with a note; it leaves the list of open alerts.
  await visit(w, 'Alerts', 'Alerts', 'alerts');
  const alert = w.page.locator('ul.cards > li').filter({ hasText: /denial spike/i });
  await alert.getByLabel('Note').fill('expected: a test');
  await alert.getByRole('button', { name: 'Acknowledge' }).click();
  await alert.waitFor({ state: 'detached' });
  await w.page.getByLabel('Show').selectOption('true');
  await w.page.getByText(/by ann, .*: “expected: a test”/).waitFor();
  await check(w, 'alert-acknowledged');
  const acked = await get(gw, '/api/alerts?project=spiky&acknowledged=true', admin);
  expect(acked.body.alerts[0].acknowledged).toMatchObject({ by: 'ann', note: 'expected: a test' });

  // Suggestions, as an admin: propose the explicit deny, then dismiss the suggestion.
  const a = await open();
  await login(a.page, 'admin');
  await visit(a, 'Suggestions', 'Suggestions', 'suggestions');
  await a.page.getByLabel('Project').selectOption('spiky');
  const card = a.page
    .locator('ul.cards > li')
    .filter({ hasText: 'Deny db.write_sensitive to gpt-4o explicitly' });
  await card.getByRole('button', { name: 'Propose this' }).click();
  await card.getByText(/^Proposed/).waitFor();
  const proposals = await get(gw, '/api/proposals?status=pending', admin);
  expect(
    proposals.body.proposals.some(
      (p: { project: string; model_id: string }) =>
        p.project === 'spiky' && p.model_id === 'gpt-4o',
    ),
  ).toBe(true);
  await card.getByLabel('Why dismiss it').fill('proposed already');
  await card.getByRole('button', { name: 'Dismiss' }).click();
  await card.waitFor({ state: 'detached' });
  await check(a, 'suggestion-dismissed');
});

it('every page loads without console errors or serious accessibility violations, wide and narrow', async () => {
  await call('calendar.list_events');
  const wide = await open();
  await login(wide.page, 'admin');
  const pages: Array<[string, string]> = [
    ['Overview', 'Overview'],
    ['Live audit', 'Live audit'],
    ['Sessions', 'Sessions'],
    ['Policy', 'Policy'],
    ['Approvals', 'Approvals'],
    ['Proposals', 'Proposals'],
    ['Suggestions', 'Suggestions'],
    ['Alerts', 'Alerts'],
    ['Shadow', 'Shadow report'],
    ['Peers', 'Peers'],
  ];
  for (const [link, heading] of pages)
    await visit(wide, link, heading, `page-${link.toLowerCase().replace(/ /g, '-')}`);

  const narrow = await open({ width: 390, height: 844 });
  await login(narrow.page, 'admin');
  for (const [link, heading] of pages) {
    await visit(narrow, link, heading, `narrow-${link.toLowerCase().replace(/ /g, '-')}`);
    // Readable: nothing wider than the window but what scrolls in its own box.
    const overflow = await narrow.page.evaluate(
      () => document.documentElement.scrollWidth - window.innerWidth,
    );
    expect([link, overflow]).toEqual([link, 0]);
  }
});

it('is usable with the keyboard: skip link, navigation, and the heading of each page', async () => {
  const w = await open();
  await login(w.page, 'admin');
  await w.page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  await w.page.keyboard.press('Tab');
  expect(await w.page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
  // Through the links to the policy page, with Tab and Enter only.
  for (let i = 0; i < 40; i++) {
    await w.page.keyboard.press('Tab');
    if ((await w.page.evaluate(() => document.activeElement?.textContent)) === 'Policy') break;
  }
  await w.page.keyboard.press('Enter');
  await w.page.getByRole('heading', { level: 1, name: 'Policy' }).waitFor();
  // Focus moves to the new page's heading (in an effect, after the page is drawn), so the next
  // Tab continues in the page.
  await w.page
    .waitForFunction(() => document.activeElement?.id === 'page-title', undefined, {
      timeout: 5000,
    })
    .catch(() => undefined);
  expect(await w.page.evaluate(() => document.activeElement?.id)).toBe('page-title');
});

it('tells the user when the session ended and asks to log in again', async () => {
  const w = await open();
  await login(w.page, 'analyst');
  // The session ends elsewhere (another tab logs out).
  await w.page.evaluate(async () => {
    const s = (await (await fetch('/dash/api/session')).json()) as { csrf_token: string };
    await fetch('/dash/api/session', {
      method: 'DELETE',
      headers: { 'x-csrf-token': s.csrf_token },
    });
  });
  await w.page
    .getByRole('navigation', { name: 'Dashboard' })
    .getByRole('link', { name: 'Alerts' })
    .click();
  await w.page.getByText(/Your session ended/).waitFor();
  await w.page.getByLabel('Admin key').waitFor();
  // The 401 the alerts request got is expected: that is how the page learnt the session ended.
  const expected = w.problems.filter((p) => /status of 401.*\/api\/alerts/.test(p));
  expect(expected).toHaveLength(1);
  w.problems.splice(w.problems.indexOf(expected[0]!), 1);
  await check(w, 'session-ended');
});
