import { Test } from '@nestjs/testing';
import { CONFIG_SYNC_OPTIONS, ConfigSync, NatsBus } from '@sg/messaging';
import { createLogger, ENV, HealthService, LOGGER, Metrics } from '@sg/runtime';
import { exampleConfigDir, isolate, TEST_SERVERS, type ConfigDir } from '@sg/testing';
import type { DecideRequest } from '@sg/contracts';
import type { Redis } from 'ioredis';
import { loadPolicyEnv } from '../src/config/env.js';
import {
  CHECKS,
  DecisionService,
  FactsStore,
  POLICY_REDIS as REDIS,
  policyRedisProvider as redisProvider,
  PolicyStore,
  SessionService,
} from '@sg/policy-engine';

const iso = isolate('pol');
let config: ConfigDir;

async function decisionService(extraEnv: Record<string, string> = {}) {
  const env = loadPolicyEnv({
    ...iso.env,
    CONFIG_DIR: config.dir,
    CONFIG_POLL_MS: '0',
    ...extraEnv,
  });
  const logger = createLogger('policy', { level: 'silent', pretty: false });
  const bus = await NatsBus.connect({
    url: TEST_SERVERS.natsUrl,
    prefix: iso.subjectPrefix,
    service: 'policy',
    logger,
    requestTimeoutMs: 1000,
  });
  const moduleRef = await Test.createTestingModule({
    providers: [
      { provide: ENV, useValue: env },
      { provide: LOGGER, useValue: logger },
      { provide: NatsBus, useValue: bus },
      { provide: CONFIG_SYNC_OPTIONS, useValue: { announce: false } },
      HealthService,
      Metrics,
      ConfigSync,
      redisProvider,
      PolicyStore,
      SessionService,
      FactsStore,
      DecisionService,
    ],
  }).compile();
  await moduleRef.init();
  return {
    service: moduleRef.get(DecisionService),
    facts: moduleRef.get(FactsStore),
    redis: moduleRef.get<Redis>(REDIS),
    close: async () => {
      await moduleRef.close();
      await bus.nc.drain();
    },
  };
}

let ctx: Awaited<ReturnType<typeof decisionService>>;
let n = 0;
const call = (over: Partial<DecideRequest>): DecideRequest => ({
  project: 'default',
  agent_id: 'gpt-4o',
  session_id: `s${++n}`,
  request_id: `r${n}`,
  channel: 'rest',
  tool: 'calendar.list_events',
  arguments: {},
  ...over,
});

beforeAll(async () => {
  config = exampleConfigDir('http://127.0.0.1:9');
  config.write(
    'policies/default.yaml',
    `rules:
  - model: gpt-4o
    allow_tools: ["calendar.*", "db.*"]
    deny_tools: ["db.write_*"]
  - model: scoped
    allow_tools: ["*"]
rate_limits:
  agent: { limit: 1000, window_s: 60 }
  user: { limit: 2, window_s: 60 }
`,
  );
  config.write(
    'policies/tight.yaml',
    'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"]\nrate_limits:\n  agent: { limit: 2, window_s: 60 }\n',
  );
  config.write(
    'policies/claims.yaml',
    'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"]\nrate_limits:\n  agent: { limit: 2, window_s: 60 }\n',
  );
  config.write(
    'policies/recheck.yaml',
    'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"]\nrate_limits:\n  agent: { limit: 2, window_s: 60 }\n',
  );
  config.write('contextual_policies/own-rules.yaml', 'max_calls_per_session: 50\n');
  config.write(
    'policies/toolcap.yaml',
    'rules:\n  - model: "*"\n    allow_tools: ["calendar.*"]\nrate_limits:\n  tool: { limit: 1, window_s: 60 }\n',
  );
  config.write(
    'contextual_policies/default.yaml',
    'max_calls_per_session: 3\nforbidden_sequences:\n  - after: "calendar.create_event"\n    deny: "calendar.list_*"\n',
  );
  config.write(
    'model_keys/default.yaml',
    'models:\n  gpt-4o:\n    key: modelkey-abc123\n  scoped:\n    key: scoped-key-0123456\n    tools: ["calendar.list_*"]\n',
  );
  config.write('tools/calendar.create_event.json', {
    name: 'calendar.create_event',
    input_schema: {
      type: 'object',
      properties: { title: { type: 'string' } },
      required: ['title'],
    },
    requires_approval: true,
    upstream: { type: 'http', url: 'http://127.0.0.1:9/x' },
  });
  ctx = await decisionService();
});

afterAll(async () => {
  await ctx.close();
  config.remove();
  await iso.cleanup();
});

describe('decisions', () => {
  it.each([
    [
      'an unregistered tool',
      call({ tool: 'shell.exec' }),
      'POLICY.TOOL_NOT_REGISTERED',
      'tool_registry',
    ],
    [
      'a tool matching a deny glob (deny wins)',
      call({ tool: 'db.write_sensitive', arguments: { table: 't', record: {} } }),
      'POLICY.TOOL_NOT_ALLOWED',
      'allow_tools',
    ],
    [
      'a model with no rule',
      call({ agent_id: 'stranger' }),
      'POLICY.TOOL_NOT_ALLOWED',
      'allow_tools',
    ],
    [
      'a tool outside the key scope',
      call({ agent_id: 'scoped', tool: 'calendar.create_event', arguments: { title: 'x' } }),
      'POLICY.TOOL_NOT_ALLOWED',
      'key_scope',
    ],
    [
      'an unknown argument',
      call({ arguments: { drop: 'table' } }),
      'POLICY.ARGUMENTS_INVALID',
      'argument_schema',
    ],
    [
      'a missing required argument',
      call({ tool: 'calendar.create_event', arguments: {} }),
      'POLICY.ARGUMENTS_INVALID',
      'argument_schema',
    ],
    [
      'a wrongly typed argument',
      call({ arguments: { limit: 'ten' } }),
      'POLICY.ARGUMENTS_INVALID',
      'argument_schema',
    ],
  ])('denies %s', async (_label, req, code, failedCheck) => {
    const d = await ctx.service.decide(req);
    expect(d.allowed).toBe(false);
    expect(d.code).toBe(code);
    expect(d.reason.length).toBeGreaterThan(10);
    expect(d.suggestions.length).toBeGreaterThan(0);
    const failed = d.rule_trace.filter((t) => t.outcome === 'fail');
    expect(failed.map((t) => t.check)).toEqual([failedCheck]);
    // Every check is accounted for, in order.
    expect(d.rule_trace.map((t) => t.check)).toEqual([...CHECKS]);
  });

  it('allows a call that passes every check and explains why', async () => {
    const d = await ctx.service.decide(call({ arguments: { limit: 5, from: '2026-11-01' } }));
    expect(d).toMatchObject({ allowed: true, code: null, requires_approval: false });
    expect(d.reason).toContain('calendar.*');
    expect(d.rule_trace.find((t) => t.check === 'allow_tools')).toMatchObject({
      outcome: 'pass',
      rule: 'policies/default.yaml#rules[0].allow_tools[0]',
    });
    expect(d.reasoning).toContain('No schema violation.');
    expect(d.policy_version).toMatch(/^[0-9a-f]{12}$/);
  });

  it('names the schema violation precisely', async () => {
    const d = await ctx.service.decide(call({ arguments: { drop: 'table' } }));
    expect(d.violations).toEqual([{ path: '/', message: 'unknown field "drop"; remove it' }]);
  });

  it('marks a tool that needs approval', async () => {
    const d = await ctx.service.decide(
      call({ tool: 'calendar.create_event', arguments: { title: 'x' } }),
    );
    expect(d).toMatchObject({ allowed: true, requires_approval: true });
  });

  it('raises the session risk after a denial in the same session, and only there', async () => {
    const session = 'risky-session';
    await ctx.service.decide(call({ session_id: session, tool: 'shell.exec' }));
    expect((await ctx.service.decide(call({ session_id: session }))).risk_score).toBe(0.2);
    expect((await ctx.service.decide(call({ session_id: 'clean-session' }))).risk_score).toBe(0);
    // Same session id, other agent: a separate session.
    expect(
      (await ctx.service.decide(call({ session_id: session, agent_id: 'scoped' }))).risk_score,
    ).toBe(0);
  });

  it('denies a call after a forbidden earlier tool in the same session only', async () => {
    const session = 'sequence-session';
    expect(
      (
        await ctx.service.decide(
          call({ session_id: session, tool: 'calendar.create_event', arguments: { title: 'x' } }),
        )
      ).allowed,
    ).toBe(true);
    const d = await ctx.service.decide(call({ session_id: session }));
    expect(d).toMatchObject({ allowed: false, code: 'POLICY.FORBIDDEN_SEQUENCE' });
    expect(d.rule_trace.find((t) => t.outcome === 'fail')?.rule).toBe(
      'contextual_policies/default.yaml#forbidden_sequences[0]',
    );
    expect((await ctx.service.decide(call({ session_id: 'other-session' }))).allowed).toBe(true);
  });

  it("gives a decision the session's earlier tools once each, most recent first, while the list keeps every call", async () => {
    const key = { project: 'default', agentId: 'gpt-4o', sessionId: 'history-session' };
    const limits = { agent: { limit: 1000, window_s: 60 }, user: { limit: 1000, window_s: 60 } };
    const gather = (tool: string) =>
      ctx.facts.gather(call({ session_id: key.sessionId, tool }), limits, key, false);
    for (const tool of ['a.one', 'b.two', 'a.one', 'a.one', 'c.three', 'b.two']) await gather(tool);
    const facts = await gather('d.four');
    expect('session' in facts && facts.session).toMatchObject({
      history: ['b.two', 'c.three', 'a.one'],
      calls: 7,
    });
    expect(await ctx.redis.lrange('session:default:gpt-4o:history-session:history', 0, -1)).toEqual(
      ['d.four', 'b.two', 'c.three', 'a.one', 'a.one', 'b.two', 'a.one'],
    );
  });

  it('stops a session at max_calls_per_session', async () => {
    const session = 'long-session';
    for (let i = 0; i < 3; i++)
      expect((await ctx.service.decide(call({ session_id: session }))).allowed).toBe(true);
    expect(await ctx.service.decide(call({ session_id: session }))).toMatchObject({
      allowed: false,
      code: 'POLICY.SESSION_LIMIT',
    });
  });

  it('rate-limits each end user across agents when the call names one', async () => {
    expect((await ctx.service.decide(call({ user_id: 'alice' }))).allowed).toBe(true);
    expect((await ctx.service.decide(call({ user_id: 'alice', agent_id: 'scoped' }))).allowed).toBe(
      true,
    );
    const third = await ctx.service.decide(call({ user_id: 'alice' }));
    expect(third).toMatchObject({ allowed: false, code: 'POLICY.RATE_LIMITED' });
    expect(third.reason).toContain('User alice');
    expect((await ctx.service.decide(call({ user_id: 'bob' }))).allowed).toBe(true);
  });

  it('rate-limits a tool across all callers when the policy sets a tool limit', async () => {
    expect((await ctx.service.decide(call({ project: 'toolcap' }))).allowed).toBe(true);
    const d = await ctx.service.decide(call({ project: 'toolcap', agent_id: 'scoped' }));
    expect(d).toMatchObject({ allowed: false, code: 'POLICY.RATE_LIMITED' });
    expect(d.rule_trace.find((t) => t.outcome === 'fail')?.rule).toBe(
      'policies/toolcap.yaml#rate_limits.tool',
    );
  });

  it("takes a request's claim before it counts anything, and counts nothing once it is taken", async () => {
    const claim = { key: `idem:test-${n}`, record: '{"digest":"abc"}', ttl_s: 60 };
    const first = await ctx.service.decide(
      call({ project: 'claims', session_id: 'claimed', claim }),
    );
    expect(first).toMatchObject({ allowed: true, claim: { won: true, stored: null } });
    expect(await ctx.redis.get(claim.key)).toBe(claim.record);
    expect(await ctx.redis.ttl(claim.key)).toBeGreaterThan(50);
    // The same request_id again: no decision, the stored record back, a denial for anyone ignoring it.
    for (let i = 0; i < 3; i++) {
      const again = await ctx.service.decide(
        call({
          project: 'claims',
          session_id: 'claimed',
          claim: { ...claim, record: '{"digest":"other"}' },
        }),
      );
      expect(again).toMatchObject({
        allowed: false,
        code: 'REQUEST.DUPLICATE_IN_PROGRESS',
        claim: { won: false, stored: claim.record },
      });
    }
    // Those three counted no rate-limit point (claims allows 2 per window) and no session call.
    expect(await ctx.redis.hget('session:claims:gpt-4o:claimed', 'calls')).toBe('1');
    const second = await ctx.service.decide(call({ project: 'claims', session_id: 'claimed' }));
    expect(second).toMatchObject({ allowed: true });
    expect(second.claim).toBeUndefined();
    expect(second.rule_trace.find((t) => t.check === 'rate_limit')?.outcome).toBe('pass');
    expect(
      (await ctx.service.decide(call({ project: 'claims', session_id: 'claimed' }))).code,
    ).toBe('POLICY.RATE_LIMITED');
  });

  it('rate-limits per agent and project with the time to wait', async () => {
    const tight = (i: number) => call({ project: 'tight', request_id: `tight-${i}` });
    expect((await ctx.service.decide(tight(1))).allowed).toBe(true);
    expect((await ctx.service.decide(tight(2))).allowed).toBe(true);
    const third = await ctx.service.decide(tight(3));
    expect(third).toMatchObject({ allowed: false, code: 'POLICY.RATE_LIMITED' });
    expect(third.retry_after_ms).toBeGreaterThan(0);
    expect(third.retry_after_ms).toBeLessThanOrEqual(60_000);
    // Another agent in the same project still has its own budget.
    expect(
      (await ctx.service.decide(call({ project: 'tight', agent_id: 'scoped' }))).code,
    ).not.toBe('POLICY.RATE_LIMITED');
  });

  it('re-checks an earlier call without counting it again', async () => {
    const req = call({ project: 'recheck', session_id: 'recheck-session' });
    expect((await ctx.service.decide(req)).allowed).toBe(true);
    for (let i = 0; i < 3; i++) {
      const d = await ctx.service.recheck(req);
      expect(d.allowed).toBe(true);
      expect(d.reasoning[0]).toMatch(/not counted again/);
    }
    expect((await ctx.service.decide({ ...req, request_id: 'r2' })).allowed).toBe(true);
    // The session counted two calls, not five: max_calls_per_session (3) is not reached.
    expect((await ctx.service.recheck(req)).allowed).toBe(true);
    // And the re-checks took no rate-limit points: the third decided call is the one refused.
    expect((await ctx.service.decide({ ...req, request_id: 'r3' })).code).toBe(
      'POLICY.RATE_LIMITED',
    );
  });

  it('takes each file a project lacks from the default project', async () => {
    const d = await ctx.service.decide(call({ project: 'own-rules' }));
    expect(d.allowed).toBe(true);
    expect(d.rule_trace.find((t) => t.check === 'allow_tools')?.rule).toMatch(
      /^policies\/default\.yaml/,
    );
    expect(d.rule_trace.find((t) => t.check === 'session_limit')?.rule).toMatch(
      /^contextual_policies\/own-rules\.yaml/,
    );
  });

  it('refuses a project that has no file, without counting the call anywhere', async () => {
    const req = call({ project: 'no-such-project', user_id: 'alice' });
    for (const d of [await ctx.service.decide(req), await ctx.service.recheck(req)]) {
      expect(d).toMatchObject({ allowed: false, code: 'REQUEST.UNKNOWN_PROJECT' });
      expect(d.reason).toContain('policies/no-such-project.yaml');
      expect(d.rule_trace[0]).toMatchObject({ check: 'project', outcome: 'fail' });
      expect(d.rule_trace.slice(1).map((t) => t.check)).toEqual([...CHECKS]);
    }
    // No rate-limit counter and no session: a new name must not start with fresh ones.
    expect(await ctx.redis.keys('*no-such-project*')).toEqual([]);
    expect((await ctx.redis.keys('*own-rules*')).length).toBeGreaterThan(0);
  });
});

describe('fail closed', () => {
  it('denies with a reason when Redis is unreachable', async () => {
    const down = await decisionService({ REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      const d = await down.service.decide(call({}));
      expect(d).toMatchObject({ allowed: false, code: 'POLICY.DEPENDENCY_UNAVAILABLE' });
      expect(d.reason).toMatch(/Redis/);
    } finally {
      await down.close();
    }
  });
});
