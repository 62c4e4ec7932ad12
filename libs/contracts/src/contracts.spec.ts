import fc from 'fast-check';
import { z } from 'zod';
import {
  DECIDE_SUBJECT,
  decisionSchema,
  ERROR_CODES,
  EVENTS,
  GatewayError,
  httpStatusOf,
  PROJECT_ID_PATTERN,
  REQUESTS,
  toolNameSchema,
} from './index.js';

describe('subjects', () => {
  it('names every request gw.<service>.<action>.v<N>', () => {
    for (const subject of Object.keys(REQUESTS))
      expect(subject).toMatch(/^gw\.[a-z]+\.[a-z_]+\.v\d+$/);
  });

  it('puts every event under gw.evt.> with a version', () => {
    for (const subject of Object.keys(EVENTS))
      expect(subject).toMatch(/^gw\.evt\.[a-z_]+\.[a-z_]+\.v\d+$/);
  });

  it('gives every subject a schema on both ends', () => {
    for (const contract of Object.values(REQUESTS)) {
      expect(contract.request).toBeInstanceOf(z.ZodType);
      expect(contract.response).toBeInstanceOf(z.ZodType);
    }
  });

  it('rejects a decide request with a traversal project id or a missing tool', () => {
    const schema = REQUESTS[DECIDE_SUBJECT].request;
    const good = {
      project: 'default',
      agent_id: 'a',
      session_id: 's',
      request_id: 'r',
      channel: 'rest',
      tool: 'calendar.list_events',
      arguments: {},
    };
    expect(schema.safeParse(good).success).toBe(true);
    expect(schema.safeParse({ ...good, project: '../../etc/passwd' }).success).toBe(false);
    const { tool: _tool, ...noTool } = good;
    expect(schema.safeParse(noTool).success).toBe(false);
  });
});

describe('errors', () => {
  it('maps every code to a 4xx or 5xx status', () => {
    for (const [code, status] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^[A-Z]+\.[A-Z_]+$/);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(600);
    }
  });

  it('survives a round trip through JSON with its code and message', () => {
    const err = new GatewayError('POLICY.TOOL_NOT_ALLOWED', 'no', { rule: 'r' });
    const back = GatewayError.fromBody(JSON.parse(JSON.stringify(err.toBody())));
    expect(back.code).toBe('POLICY.TOOL_NOT_ALLOWED');
    expect(back.httpStatus).toBe(403);
    expect(back.details).toEqual({ rule: 'r' });
  });

  it('answers the statuses the API promises', () => {
    expect(httpStatusOf('AUTH.INVALID_KEY')).toBe(401);
    expect(httpStatusOf('POLICY.RATE_LIMITED')).toBe(429);
    expect(httpStatusOf('GATEWAY.SERVICE_UNAVAILABLE')).toBe(503);
    expect(httpStatusOf('EXECUTOR.UPSTREAM_TIMEOUT')).toBe(504);
    // Malformed X-Project-ID is the caller's syntax (400); a well-formed unconfigured one is missing (404).
    expect(httpStatusOf('REQUEST.INVALID_PROJECT')).toBe(400);
    expect(httpStatusOf('REQUEST.UNKNOWN_PROJECT')).toBe(404);
  });
});

describe('schemas', () => {
  it('keeps risk_score within 0..1', () => {
    const d = {
      allowed: true,
      code: null,
      reason: 'r',
      rule_trace: [],
      reasoning: [],
      suggestions: [],
      risk_score: 1.5,
      requires_approval: false,
      policy_version: 'v',
    };
    expect(decisionSchema.safeParse(d).success).toBe(false);
    expect(decisionSchema.safeParse({ ...d, risk_score: 0.4 }).success).toBe(true);
  });

  it('accepts dotted tool names and refuses paths', () => {
    expect(toolNameSchema.safeParse('calendar.list_events').success).toBe(true);
    expect(toolNameSchema.safeParse('../etc').success).toBe(false);
    expect(toolNameSchema.safeParse('a/b').success).toBe(false);
  });

  it('never accepts a project id that could leave its folder (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        if (PROJECT_ID_PATTERN.test(s)) {
          expect(s).toMatch(/^[a-z0-9][a-z0-9_-]*$/);
          expect(s.length).toBeLessThanOrEqual(63);
          expect(s).not.toMatch(/[./\\\0]/);
        }
      }),
    );
    fc.assert(
      fc.property(
        fc.string(),
        fc.constantFrom('/', '..', '\\', '.', '\0', '%2e'),
        fc.string(),
        (a, bad, b) => !PROJECT_ID_PATTERN.test(`${a}${bad}${b}`),
      ),
    );
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,62}$/), (id) =>
        PROJECT_ID_PATTERN.test(id),
      ),
    );
  });

  it('refuses project ids that could build a path', () => {
    for (const bad of ['', '..', '../x', 'A', 'a/b', 'a.b', '-a', 'a'.repeat(64)])
      expect(PROJECT_ID_PATTERN.test(bad)).toBe(false);
    for (const good of ['default', 'acme-1', 'a_b', 'a'.repeat(63)])
      expect(PROJECT_ID_PATTERN.test(good)).toBe(true);
  });
});
