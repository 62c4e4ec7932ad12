// Analytics for analysts (issue 14): aggregates built from real calls through the gateway,
// rule suggestions with evidence and dismissal, simulation of traces, sessions and windows,
// the shadow report and risk, through the real processes.
import { waitFor } from '@sg/testing';
import {
  ADMIN_KEY,
  AGENT_KEY,
  get,
  post,
  registerTool,
  startExtraService,
  startGateway,
  type Gateway,
  adminsYaml,
  SIGNING_SEED,
} from './harness.js';

const ANALYST = 'ann-analyst-key-00000000001';
const VIEWER = 'vic-viewer-key-000000000001';
const OTHER_BOT = 'other-bot-key-0001-xyz';
const SCOPED_BOT = 'scoped-bot-key-0001-xyz';
const POLICY = [
  'rules:',
  '  - model: gpt-4o',
  '    allow_tools: ["calendar.*", "reports.*"]',
  '  - model: other-bot',
  '    allow_tools: ["calendar.*", "db.write_sensitive"]',
  '  - model: scoped-bot',
  '    allow_tools: ["calendar.*", "db.write_sensitive"]',
  'rate_limits:',
  '  agent: { limit: 600, window_s: 60 }',
  '  user: { limit: 3, window_s: 3600 }',
  '',
].join('\n');
const analyst = { 'X-Admin-Key': ANALYST };
const WRITE = { table: 't', record: { n: 1 } };

/** What the analytics instances of this file run with (lower thresholds than the defaults). */
const ANALYTICS_ENV = { SUGGEST_MIN_RATE_HITS: '5', SUGGEST_MIN_LIMIT_CALLS: '10' };
let gw: Gateway;
/** The window the calls fall in: after every grant of the start was recorded. */
let from: string;
let to: string;
let savedVersion: string;

const call = (
  model: string,
  key: string,
  tool: string,
  session: string,
  extra: Record<string, string> = {},
) =>
  post(
    gw,
    '/mcp/toolcall',
    {
      model_id: model,
      session_id: session,
      tool,
      input: tool === 'db.write_sensitive' ? WRITE : {},
    },
    { 'X-API-Key': key, ...extra },
  );
const q = (params: Record<string, string>) => new URLSearchParams(params).toString();
const suggest = (extra: Record<string, string> = {}) =>
  get(gw, `/api/policy/suggest?${q({ project: 'default', from, to, ...extra })}`, analyst);
const simulate = (body: Record<string, unknown>, headers: Record<string, string> = analyst) =>
  post(gw, '/api/simulate', body, headers);
type Suggestion = {
  id: string;
  kind: string;
  title: string;
  reason: string;
  change: {
    file: string;
    yaml: string;
    proposal: { model_id: string; yaml: string } | null;
  };
  evidence: { counts: Record<string, number>; trace_ids: string[]; from: string; to: string };
  confidence: number;
  dismissed: { by: string; why: string } | null;
};

/** Waits until `sql` (one row, one column `n`) gives `expected`. */
async function countReaches(sql: string, expected: number, what: string) {
  await waitFor(
    async () => {
      const r = await gw.db.query<{ n: string }>(sql);
      return Number(r.rows[0]!.n) === expected ? true : undefined;
    },
    20_000,
    `${expected} ${what}`,
  );
}
/** Every toolcall.completed of the project is counted in the aggregates. */
const counted = (n: number) =>
  countReaches(
    "SELECT coalesce(sum(calls), 0) AS n FROM analytics_calls_daily WHERE project = 'default'",
    n,
    'calls counted by analytics',
  );
/** The audit stored `n` calls of the project, and analytics counted as many. */
async function settled(n: number) {
  await countReaches(
    "SELECT count(*) AS n FROM audit_events WHERE project = 'default' AND subject = 'gw.evt.toolcall.completed.v1'",
    n,
    'calls stored by the audit',
  );
  await counted(n);
}

beforeAll(async () => {
  gw = await startGateway({
    env: {
      SECRET_POLICY_SIGNING_KEY: SIGNING_SEED,
      ...ANALYTICS_ENV,
    },
    configure: (c) => {
      c.write(
        'admins.yaml',
        adminsYaml({
          ann: { key: ANALYST, roles: ['analyst'] },
          vic: { key: VIEWER, roles: ['viewer'] },
        }),
      );
      c.write('policies/default.yaml', POLICY);
      // The preview refuses gpt-4o the calendar: every such call is a shadow difference.
      c.write(
        'policies/default.preview.yaml',
        POLICY.replace('allow_tools: ["calendar.*", "reports.*"]', 'allow_tools: ["reports.*"]'),
      );
      c.write(
        'model_keys/default.yaml',
        [
          'models:',
          '  gpt-4o:',
          `    key: ${AGENT_KEY}`,
          '  other-bot:',
          `    key: ${OTHER_BOT}`,
          '  scoped-bot:',
          `    key: ${SCOPED_BOT}`,
          '    tools: ["calendar.*", "notes.*"]',
          '',
        ].join('\n'),
      );
      registerTool(c, 'reports.weekly');
    },
  });
  // The file versions are recorded at start: the window begins after them.
  await new Promise((r) => setTimeout(r, 1100));
  from = new Date().toISOString();

  // A grant added inside the window is too young to be called unused.
  const saved = await post(
    gw,
    '/api/policy',
    {
      project: 'default',
      kind: 'policies',
      yaml: POLICY.replace(
        '["calendar.*", "db.write_sensitive"]\n  - model: scoped-bot',
        '["calendar.*", "db.write_sensitive", "weather.*"]\n  - model: scoped-bot',
      ),
      reason: 'e2e: a young grant',
    },
    { 'X-Admin-Key': ADMIN_KEY },
  );
  expect(saved.status).toBe(201);
  savedVersion = saved.body.version.id as string;

  // gpt-4o: 3 calendar calls in one session, then 7 denials of db.write_sensitive in another.
  for (let i = 0; i < 3; i++)
    expect((await call('gpt-4o', AGENT_KEY, 'calendar.list_events', 'gpt-cal')).status).toBe(200);
  for (let i = 0; i < 7; i++)
    expect((await call('gpt-4o', AGENT_KEY, 'db.write_sensitive', 'gpt-risky')).status).toBe(403);
  // other-bot uses db.write_sensitive and the calendar.
  for (let i = 0; i < 2; i++) {
    expect((await call('other-bot', OTHER_BOT, 'db.write_sensitive', 'other-1')).status).toBe(200);
    expect((await call('other-bot', OTHER_BOT, 'calendar.list_events', 'other-1')).status).toBe(
      200,
    );
  }
  // scoped-bot: refused db.write_sensitive by its key scope, 5 times.
  for (let i = 0; i < 5; i++)
    expect((await call('scoped-bot', SCOPED_BOT, 'db.write_sensitive', 'scoped-1')).status).toBe(
      403,
    );
  // other-bot for user mallory: 3 allowed, then 6 refused by the user limit.
  const codes: number[] = [];
  for (let i = 0; i < 9; i++)
    codes.push(
      (
        await call('other-bot', OTHER_BOT, 'calendar.list_events', 'mallory-1', {
          'X-User-Id': 'mallory',
        })
      ).status,
    );
  expect(codes).toEqual([200, 200, 200, 429, 429, 429, 429, 429, 429]);
  to = new Date(Date.now() + 1000).toISOString();
  await settled(28);
}, 120_000);

afterAll(async () => {
  await gw?.stop();
});

describe('aggregates', () => {
  it('counts every recorded call once, by outcome, code, tool, agent and user', async () => {
    const res = await get(
      gw,
      `/api/analytics/summary?${q({ project: 'default', from, to })}`,
      analyst,
    );
    expect(res.status).toBe(200);
    const s = res.body;
    expect(s.totals).toMatchObject({ calls: 28, allowed: 10, denied: 18 });
    expect(s.by_code).toEqual(
      expect.arrayContaining([
        { code: 'POLICY.TOOL_NOT_ALLOWED', calls: 12 },
        { code: 'POLICY.RATE_LIMITED', calls: 6 },
      ]),
    );
    expect(s.by_user).toEqual([{ user_id: 'mallory', calls: 9, denied: 6 }]);
    expect(s.by_tool.find((t: { tool: string }) => t.tool === 'db.write_sensitive')).toMatchObject({
      calls: 14,
      denied: 12,
    });
    expect(s.denial_reasons[0]).toMatchObject({
      code: 'POLICY.TOOL_NOT_ALLOWED',
      check: 'allow_tools',
      tool: 'db.write_sensitive',
      agent_id: 'gpt-4o',
      calls: 7,
    });
    expect(s.rate_limits).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ agent_id: 'other-bot', scope: 'user', limit: 3, hits: 6 }),
      ]),
    );
    expect((s.risk_histogram as number[]).reduce((a, b) => a + b, 0)).toBe(28);
    // The hourly rows hold the same calls.
    const hourly = await get(
      gw,
      `/api/analytics/summary?${q({ project: 'default', from, to, bucket: 'hour' })}`,
      analyst,
    );
    expect(hourly.body.totals.calls).toBe(28);
  });

  it('gives the p50 and p99 latency of the calls, over the window and per bucket', async () => {
    const res = await get(
      gw,
      `/api/analytics/summary?${q({ project: 'default', from, to })}`,
      analyst,
    );
    expect(res.status).toBe(200);
    const s = res.body;
    // The durations the calls recorded, shortest first.
    const recorded = (
      await gw.db.query<{ ms: number }>(
        `SELECT (data->>'duration_ms')::float8 AS ms FROM audit_events
         WHERE project = 'default' AND subject = 'gw.evt.toolcall.completed.v1' ORDER BY ms`,
      )
    ).rows.map((r) => r.ms);
    expect(recorded).toHaveLength(28);
    expect(s.latency.count).toBe(28);
    // Nearest rank, answered as the upper bound of its bucket: never below the call's duration,
    // at most 5.6 % above it (0.1 ms for the calls of 0.1 ms or less).
    const near = (answered: number, ms: number) => {
      expect(answered).toBeGreaterThanOrEqual(ms);
      expect(answered).toBeLessThanOrEqual(Math.max(0.1, ms * 1.056075));
    };
    near(s.latency.p50_ms, recorded[13]!);
    // Of 28 calls, the 99th percentile is the slowest.
    near(s.latency.p99_ms, recorded[27]!);
    expect(s.latency.p50_ms).toBeLessThanOrEqual(s.latency.p99_ms);
    type Point = { calls: number; p50_ms: number | null; p99_ms: number | null };
    for (const p of s.series as Point[]) {
      expect(p.calls).toBeGreaterThan(0);
      expect(p.p50_ms).not.toBeNull();
      expect(p.p50_ms!).toBeLessThanOrEqual(p.p99_ms!);
    }
    // Every bucket holds fewer than 100 calls: its p99 is its slowest call's.
    expect(Math.max(...(s.series as Point[]).map((p) => p.p99_ms!))).toBe(s.latency.p99_ms);
    // The hourly histograms hold the same durations.
    const hourly = await get(
      gw,
      `/api/analytics/summary?${q({ project: 'default', from, to, bucket: 'hour' })}`,
      analyst,
    );
    expect(hourly.body.latency).toEqual(s.latency);
  });

  it('rebuilds the same aggregates from audit_events when it starts afresh (backfill), counting nothing twice', async () => {
    const before = await get(
      gw,
      `/api/analytics/summary?${q({ project: 'default', from, to })}`,
      analyst,
    );
    const original = gw.stack.children.get('analytics')!;
    await new Promise<void>((resolve) => {
      original.once('exit', () => resolve());
      original.kill('SIGTERM');
    });
    // A fresh start: no aggregates, no progress; the consumer's acked events do not come back.
    await gw.db.query(
      `TRUNCATE analytics_events, analytics_calls_hourly, analytics_calls_daily,
         analytics_latency_hourly, analytics_latency_daily, analytics_denials, analytics_grants,
         analytics_limits, analytics_risk, analytics_sessions, analytics_shadow, analytics_state`,
    );
    const again = await startExtraService(gw, 'analytics', ANALYTICS_ENV);
    try {
      await counted(28).catch((err: Error) => {
        throw new Error(`${err.message}; the analytics log:\n${again.output().slice(-3000)}`);
      });
      // Two instances, the consumer and the backfill all saw the same events: counted once.
      const second = await startExtraService(gw, 'analytics', ANALYTICS_ENV);
      await new Promise((r) => setTimeout(r, 1500));
      await second.stop();
      const after = await get(
        gw,
        `/api/analytics/summary?${q({ project: 'default', from, to })}`,
        analyst,
      );
      expect(before.body.latency.count).toBe(28);
      expect({ ...after.body, took_ms: 0 }).toEqual({ ...before.body, took_ms: 0 });
      const ids = await gw.db.query<{ n: string }>('SELECT count(*) AS n FROM analytics_events');
      expect(Number(ids.rows[0]!.n)).toBeGreaterThanOrEqual(28);
    } finally {
      // Leave one analytics instance running for the other tests.
      gw.stack.children.set('analytics', again.child);
    }
  }, 60_000);

  it('refuses a bad question with a 4xx that says how to fix it', async () => {
    const bad = await get(
      gw,
      `/api/analytics/summary?${q({ project: 'default', bucket: 'week' })}`,
      analyst,
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('ANALYTICS.INVALID_QUERY');
    expect(bad.body.error.message).toMatch(/bucket must be one of hour, day/);
    const none = await get(gw, '/api/analytics/summary', analyst);
    expect(none.status).toBe(400);
    expect(none.body.error.message).toMatch(/project is required/);
    const nowhere = await get(gw, `/api/policy/suggest?${q({ project: 'nowhere' })}`, analyst);
    expect(nowhere.status).toBe(404);
    expect(nowhere.body.error.code).toBe('REQUEST.UNKNOWN_PROJECT');
    const anon = await get(gw, `/api/analytics/summary?${q({ project: 'default' })}`);
    expect(anon.status).toBe(401);
  });
});

describe('GET /api/policy/suggest', () => {
  let all: Suggestion[];
  beforeAll(async () => {
    const res = await suggest();
    expect(res.status).toBe(200);
    expect(res.body.window).toMatchObject({ from, to });
    all = res.body.suggestions as Suggestion[];
  });
  const find = (kind: string, title: RegExp) =>
    all.find((s) => s.kind === kind && title.test(s.title));

  it('suggests an explicit deny after more than 5 denials, as a ready proposal with its evidence', async () => {
    const s = find('repeated_denials', /Deny db\.write_sensitive to gpt-4o/)!;
    expect(s).toBeDefined();
    expect(s.evidence.counts).toEqual({ denials: 7 });
    expect(s.evidence.trace_ids.length).toBe(5);
    expect(s.confidence).toBeGreaterThan(0.4);
    expect(s.change.proposal!.model_id).toBe('gpt-4o');
    expect(s.change.yaml).toMatch(/deny_tools:\s*\n\s*- db\.write_sensitive/);
    // Refusals by a limit are not about the grant: no deny for other-bot's 6 429s.
    expect(find('repeated_denials', /other-bot/)).toBeUndefined();
    // The threshold is a parameter: over 10, gpt-4o's 7 denials are not enough.
    const higher = (await suggest({ min_denials: '10' })).body.suggestions as Suggestion[];
    expect(higher.some((x) => x.kind === 'repeated_denials')).toBe(false);
    // scoped-bot's 5 key-scope refusals make a candidate grant (below), never a deny as well.
    const lower = (await suggest({ min_denials: '4' })).body.suggestions as Suggestion[];
    expect(lower.some((x) => x.kind === 'repeated_denials' && /scoped-bot/.test(x.title))).toBe(
      false,
    );

    // The proposal is accepted by /api/propose_policy as it is (queued for review: the analyst
    // is not gpt-4o, so an admin with policy.write proposes it).
    const proposed = await post(
      gw,
      '/api/propose_policy',
      {
        ...s.change.proposal,
      },
      { 'X-Admin-Key': ADMIN_KEY },
    );
    expect(proposed.status).toBe(202);
    // Its review shows what it would have changed over the recorded calls: nothing, since
    // the deny only makes explicit what allow_tools already refused.
    const review = await get(gw, `/api/proposals/${proposed.body.proposal_id as string}`, {
      'X-Admin-Key': ADMIN_KEY,
    });
    expect(review.body.simulation.summary).toMatchObject({ calls: 28, compared: 28, changed: 0 });
    // A viewer reads the proposal, not the recorded calls of its simulation.
    const viewed = await get(gw, `/api/proposals/${proposed.body.proposal_id as string}`, {
      'X-Admin-Key': VIEWER,
    });
    expect(viewed.status).toBe(200);
    expect(viewed.body.simulation).toEqual({ error: expect.stringMatching(/analytics\.run/) });
  });

  it('names unused grants older than the window, and skips a younger one', () => {
    const reports = find('unused_permission', /Remove reports\.\* from the tools gpt-4o may use/)!;
    expect(reports).toBeDefined();
    expect(reports.reason).toMatch(/days analysed/);
    expect(reports.change.yaml).not.toMatch(/reports\.\*/);
    const notes = find('unused_permission', /notes\.\* from the key scope of scoped-bot/)!;
    expect(notes.change).toMatchObject({ file: 'model_keys/default.yaml', proposal: null });
    expect(notes.change.yaml).toMatch(/calendar\.\*/);
    // weather.* was granted inside the window: too young to call unused.
    expect(all.some((s) => /weather/.test(s.title))).toBe(false);
    // Used grants are never called unused.
    expect(
      find('unused_permission', /db\.write_sensitive from the tools other-bot/),
    ).toBeUndefined();
    // Unused because the key scope refuses it, and offered as a grant: not also removed.
    expect(
      find('unused_permission', /db\.write_sensitive from the tools scoped-bot/),
    ).toBeUndefined();
  });

  it('offers a key-scope grant for review when other models use the tool', () => {
    const s = find('candidate_grant', /let scoped-bot use db\.write_sensitive/)!;
    expect(s).toBeDefined();
    expect(s.evidence.counts).toEqual({ refusals: 5, used_by_others: 2 });
    expect(s.reason).toMatch(/other-bot/);
    expect(s.change.yaml).toMatch(/db\.write_sensitive/);
    expect(s.confidence).toBeLessThanOrEqual(0.7);
  });

  it('finds the rate-limit hot spot, and the limit never approached', () => {
    const hot = find('rate_limit_hotspot', /other-bot hits rate_limits\.user/)!;
    expect(hot.evidence.counts).toMatchObject({ hits: 6, limit: 3 });
    expect(hot.change.yaml).toMatch(/user:\s*\n\s*limit: 6/);
    const idle = find('rate_limit_unused', /rate_limits\.agent is never approached/)!;
    expect(idle).toBeDefined();
    expect(idle.change.yaml).toMatch(/agent:\s*\n\s*limit: \d+/);
  });

  it('reports the shadow differences, with which calls and why', () => {
    const s = find('shadow_difference', /Adopt the preview/)!;
    expect(s).toBeDefined();
    expect(s.reason).toMatch(/would have changed 3 of \d+ decisions/);
    expect(s.reason).toMatch(/calendar\.list_events: allow → deny:POLICY\.TOOL_NOT_ALLOWED/);
    expect(s.evidence.trace_ids.length).toBe(3);
  });

  it('dismisses a suggestion with who and why; it does not come back unchanged', async () => {
    const s = find('repeated_denials', /gpt-4o/)!;
    const viewer = await post(
      gw,
      `/api/policy/suggest/${s.id}/dismiss`,
      { project: 'default', why: 'x' },
      {
        'X-Admin-Key': VIEWER,
      },
    );
    expect(viewer.status).toBe(403);
    const noWhy = await post(
      gw,
      `/api/policy/suggest/${s.id}/dismiss`,
      { project: 'default' },
      analyst,
    );
    expect(noWhy.status).toBe(400);
    const res = await post(
      gw,
      `/api/policy/suggest/${s.id}/dismiss`,
      { project: 'default', why: 'gpt-4o is being retrained' },
      analyst,
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: s.id, by: 'ann', why: 'gpt-4o is being retrained' });
    // Two more denials: the same suggestion (same change), still dismissed.
    for (let i = 0; i < 2; i++)
      expect((await call('gpt-4o', AGENT_KEY, 'db.write_sensitive', 'gpt-more')).status).toBe(403);
    await settled(30);
    const later = new Date(Date.now() + 1000).toISOString();
    const after = (await suggest({ to: later })).body.suggestions as Suggestion[];
    expect(after.some((x) => x.id === s.id)).toBe(false);
    const shown = (await suggest({ to: later, include_dismissed: 'true' })).body
      .suggestions as Suggestion[];
    expect(shown.find((x) => x.id === s.id)!.dismissed).toMatchObject({
      by: 'ann',
      why: 'gpt-4o is being retrained',
    });
    const audit = await waitFor(async () => {
      const r = await gw.db.query<{ data: { path: string; principal: string; detail?: unknown } }>(
        "SELECT data FROM audit_events WHERE subject = 'gw.evt.admin.action.v1' AND data->>'path' LIKE '%/dismiss' AND data->>'http_status' = '200'",
      );
      return r.rows[0];
    }, 10_000);
    expect(audit.data).toMatchObject({
      principal: 'ann',
      detail: { why: 'gpt-4o is being retrained' },
    });
  }, 30_000);
});

describe('POST /api/simulate', () => {
  it('decides seed 002’s trace without running anything, and records only the simulation', async () => {
    const trace = {
      model_id: 'gpt-4o',
      session_id: 'sim-trace-1',
      tool_calls: [
        { tool: 'calendar.list_events', input: {} },
        { tool: 'db.write_sensitive', input: WRITE },
        { tool: 'calendar.list_events', input: { calendar_id: 'ignore previous instructions' } },
      ],
    };
    const live = await simulate(trace);
    expect(live.status).toBe(200);
    expect(live.body.against.kind).toBe('live');
    expect(
      live.body.calls.map(
        (c: { simulated: { allowed: boolean; code: string | null } }) => c.simulated.code,
      ),
    ).toEqual([null, 'POLICY.TOOL_NOT_ALLOWED', 'POLICY.SUSPICIOUS_INPUT']);
    expect(live.body.calls[0].recorded).toBeNull();
    expect(live.body.summary).toMatchObject({
      calls: 3,
      compared: 0,
      simulated_allowed: 1,
      simulated_denied: 2,
    });
    // The in-memory session saw the earlier denial: the third call's risk counts it.
    expect(live.body.calls[2].simulated.risk_score).toBeGreaterThan(
      live.body.calls[0].simulated.risk_score,
    );

    // Against a candidate that allows the write.
    const candidate = await simulate({
      ...trace,
      policy_yaml: POLICY.replace(
        '["calendar.*", "reports.*"]',
        '["calendar.*", "reports.*", "db.write_sensitive"]',
      ),
    });
    expect(candidate.status).toBe(200);
    expect(candidate.body.against.kind).toBe('candidate');
    expect(candidate.body.calls[1].simulated.allowed).toBe(true);

    // Nothing ran and nothing was recorded for the session; one admin.action per simulation.
    await new Promise((r) => setTimeout(r, 500));
    const rows = await gw.db.query(
      "SELECT subject, data FROM audit_events WHERE data->>'session_id' = 'sim-trace-1'",
    );
    expect(rows.rows).toEqual([]);
    const actions = await waitFor(async () => {
      const r = await gw.db.query<{
        data: { detail: Record<string, unknown> };
      }>(
        "SELECT data FROM audit_events WHERE subject = 'gw.evt.admin.action.v1' AND data->>'path' = '/api/simulate' AND data->>'http_status' = '200' ORDER BY chain_seq",
      );
      return r.rows.length >= 2 ? r.rows : undefined;
    }, 10_000);
    expect(actions[0]!.data.detail).toMatchObject({
      source: { kind: 'trace', model_id: 'gpt-4o', session_id: 'sim-trace-1', calls: 3 },
      against: { kind: 'live' },
      summary: { calls: 3 },
    });
    expect(actions[1]!.data.detail).toMatchObject({
      against: { kind: 'candidate' },
      candidate_sha256: expect.stringMatching(/^[a-f0-9]{64}$/),
    });
  });

  it('replays a stored session against a candidate, call by call, with the differences', async () => {
    const res = await simulate({
      project: 'default',
      session_id: 'gpt-cal',
      policy_yaml: POLICY.replace('["calendar.*", "reports.*"]', '["reports.*"]'),
    });
    expect(res.status).toBe(200);
    expect(res.body.summary).toMatchObject({ calls: 3, compared: 3, changed: 3, allow_to_deny: 3 });
    for (const c of res.body.calls) {
      expect(c.recorded).toMatchObject({ allowed: true, outcome: 'allowed' });
      expect(c.simulated).toMatchObject({
        allowed: false,
        code: 'POLICY.TOOL_NOT_ALLOWED',
        check: 'allow_tools',
      });
      expect(c.difference).toBe('allow→deny');
      expect(c.trace_id).toMatch(/\w{8,}/);
    }
    // Against the live policy, a stored session replays as it was decided.
    const same = await simulate({ project: 'default', session_id: 'mallory-1' });
    expect(same.body.summary).toMatchObject({ calls: 9, changed: 0 });
    expect(
      same.body.calls
        .map((c: { simulated: { code: string | null } }) => c.simulated.code)
        .slice(2, 4),
    ).toEqual([null, 'POLICY.RATE_LIMITED']);
  });

  it('replays a window of recorded calls against a stored version', async () => {
    const res = await simulate({ project: 'default', from, to, version_id: savedVersion });
    expect(res.status).toBe(200);
    expect(res.body.against).toEqual({ kind: 'version', version: savedVersion });
    expect(res.body.summary.calls).toBeGreaterThanOrEqual(28);
    expect(res.body.summary.changed).toBe(0);
    const bounded = await simulate({ project: 'default', from, to, limit: 5 });
    expect(bounded.body).toMatchObject({ truncated: true, summary: { calls: 5 } });
  });

  it('refuses what it cannot simulate, each with its own code', async () => {
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{}, 400, 'REQUEST.INVALID_BODY'],
      [{ project: 'default', from, to: from }, 400, 'REQUEST.INVALID_BODY'],
      [{ project: 'default', session_id: 'nope' }, 404, 'ANALYTICS.SESSION_NOT_FOUND'],
      [
        { project: 'default', session_id: 'gpt-cal', policy_yaml: 'rules: [' },
        422,
        'ANALYTICS.CANDIDATE_INVALID',
      ],
      [
        {
          project: 'default',
          session_id: 'gpt-cal',
          version_id: '00000000-0000-4000-8000-000000000000',
        },
        404,
        'POLICY.VERSION_NOT_FOUND',
      ],
      [{ project: 'nowhere', session_id: 'gpt-cal' }, 404, 'REQUEST.UNKNOWN_PROJECT'],
    ];
    for (const [body, status, code] of cases) {
      const res = await simulate(body);
      expect({ body, status: res.status, code: res.body.error?.code }).toEqual({
        body,
        status,
        code,
      });
      expect(JSON.stringify(res.body)).not.toMatch(/at .*\.js:\d+/);
    }
    const invalid = await simulate({
      project: 'default',
      session_id: 'gpt-cal',
      policy_yaml: 'rules: [',
    });
    expect(invalid.body.error.details.problems[0]).toMatchObject({
      file: 'policies/default.yaml',
      line: 1,
    });
    const viewer = await simulate(
      { project: 'default', session_id: 'gpt-cal' },
      { 'X-Admin-Key': VIEWER },
    );
    expect(viewer.status).toBe(403);
  });
});

describe('shadow report and risk', () => {
  it('compares the preview with the live policy over the window', async () => {
    const res = await get(gw, `/api/shadow/report?${q({ project: 'default', from, to })}`, analyst);
    expect(res.status).toBe(200);
    const r = res.body;
    expect(r.differing).toBe(3);
    expect(r.evaluated).toBeGreaterThanOrEqual(28);
    expect(r.agreement_rate).toBeCloseTo((r.evaluated - 3) / r.evaluated, 3);
    expect(r.by_tool[0]).toMatchObject({
      tool: 'calendar.list_events',
      differing: 3,
      allow_to_deny: 3,
    });
    expect(r.by_rule[0]).toMatchObject({
      rule: 'policies/default.preview.yaml#rules',
      differing: 3,
    });
    expect(r.examples[0]).toMatchObject({
      tool: 'calendar.list_events',
      live: 'allow',
      shadow: 'deny:POLICY.TOOL_NOT_ALLOWED',
    });
  });

  it('lists the riskiest sessions with their factors, and each agent’s trend', async () => {
    const res = await get(gw, `/api/risk/sessions?${q({ project: 'default', from })}`, analyst);
    expect(res.status).toBe(200);
    const top = res.body.sessions[0];
    expect(top).toMatchObject({ session_id: 'gpt-risky', agent_id: 'gpt-4o', denials: 7 });
    expect(top.max_risk).toBeGreaterThan(0);
    expect(top.factors.join(' ')).toMatch(/earlier denial/);
    const trend = await get(
      gw,
      `/api/risk/agents?${q({ project: 'default', from, to, bucket: 'hour' })}`,
      analyst,
    );
    expect(trend.status).toBe(200);
    const gpt = trend.body.agents.find((a: { agent_id: string }) => a.agent_id === 'gpt-4o');
    expect(gpt.points.length).toBeGreaterThanOrEqual(1);
    expect(gpt.points[0].max_risk).toBeGreaterThan(0);
  });
});

describe('when the policy changed since', () => {
  it('suggests no explicit deny of a tool the agent is allowed now', async () => {
    const before = (await suggest({ include_dismissed: 'true' })).body.suggestions as Suggestion[];
    expect(before.some((x) => x.title === 'Deny db.write_sensitive to gpt-4o explicitly')).toBe(
      true,
    );
    const saved = await post(
      gw,
      '/api/policy',
      {
        project: 'default',
        kind: 'policies',
        yaml: POLICY.replace(
          '["calendar.*", "reports.*"]',
          '["calendar.*", "reports.*", "db.write_sensitive"]',
        ),
        reason: 'e2e: gpt-4o may write now',
      },
      { 'X-Admin-Key': ADMIN_KEY },
    );
    expect(saved.status).toBe(201);
    await waitFor(
      async () => {
        const after = (await suggest({ include_dismissed: 'true' })).body
          .suggestions as Suggestion[];
        return after.some((x) => x.kind === 'repeated_denials') ? undefined : true;
      },
      10_000,
      'the deny suggestion to go once the tool is allowed',
    );
  });
});
