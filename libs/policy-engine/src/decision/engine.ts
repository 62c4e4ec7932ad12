import type { DecideRequest, Decision, ErrorCode } from '@sg/contracts';
import type { CompiledAgent, CompiledKeys, CompiledPolicy } from '../registry/compile.js';
import { violationsOf, type RegisteredTool } from '../registry/tool-registry.js';
import { complexityOf, findForbiddenField, findPhrase, tenantsNamed } from './arguments.js';
import { Explanation } from './explanation.js';
import { inWindow, localTime } from './time-window.js';

/** Every check, in the order it runs. Every decision's rule_trace lists each one. */
export const CHECKS = [
  'rate_limit',
  'tool_registry',
  'key_scope',
  'allow_tools',
  'argument_schema',
  'forbidden_fields',
  'tenant_access',
  'pii_permission',
  'complexity',
  'session_limit',
  'forbidden_sequence',
  'time_window',
  'suspicious_input',
  'session_risk',
] as const;
export type Check = (typeof CHECKS)[number];

export type LimitOutcome =
  | { kind: 'ok'; used: Array<{ scope: string; used: number; limit: number; window_s: number }> }
  | { kind: 'limited'; scope: string; limit: number; window_s: number; retryAfterMs: number }
  | { kind: 'unavailable' };

/** What the session store knew before this call, plus this call counted (seed 000). */
export interface SessionSnapshot {
  /** Calls in the session, this one included. */
  calls: number;
  /** Write-tool calls in the session, this one included. */
  writes: number;
  /** Denials in the session before this call. */
  denials: number;
  /** Earlier tools of the session, most recent first (this call not included); a decision gets each once. */
  history: string[];
}

export interface EvaluationInput {
  req: DecideRequest;
  tool: RegisteredTool | undefined;
  policy: CompiledPolicy;
  keys: CompiledKeys;
  limits: LimitOutcome;
  /** null when the session store could not be reached. */
  session: SessionSnapshot | null;
  now: Date;
  version: string;
}

const WRITE_NAME = /(^|[._-])(write|delete|update|create|insert|remove|send)([._-]|$)/i;

/** Whether a tool counts as a write for the session's risk (flag, or seed 000's name test). */
export function isWriteTool(name: string, tool: RegisteredTool | undefined): boolean {
  return tool?.definition.writes === true || WRITE_NAME.test(name);
}

type LimitUse = { scope: string; used: number; limit: number; window_s: number };
const EXCEEDED = 'exceeded';

/** The rate_limit check's sentence in `reasoning` (read back by `limitUseOf`). */
export function describeLimitUse(used: LimitUse[]): string {
  return used.length
    ? `Rate limits: ${used.map((u) => `${u.scope} ${u.used}/${u.limit} per ${u.window_s} s`).join(', ')}.`
    : 'Rate limits: not counted again (re-check of an earlier call).';
}

/**
 * The limits a decision counted, read back from its explanation (for analytics): the rate_limit
 * sentence of `reasoning` when the check passed, or its reason and rule when it refused (then
 * `used` is one past the limit).
 */
export function limitUseOf(sentence: string, rule?: string): LimitUse[] {
  if (sentence.startsWith('Rate limits: '))
    return [...sentence.matchAll(/([a-z]+) (\d+)\/(\d+) per (\d+) s/g)].map((m) => ({
      scope: m[1]!,
      used: Number(m[2]),
      limit: Number(m[3]),
      window_s: Number(m[4]),
    }));
  const m = new RegExp(` ${EXCEEDED} (\\d+) calls in (\\d+) s\\.$`).exec(sentence);
  const scope = /#rate_limits\.([a-z]+)$/.exec(rule ?? '')?.[1];
  if (!m || !scope) return [];
  const limit = Number(m[1]);
  return [{ scope, used: limit + 1, limit, window_s: Number(m[2]) }];
}

function after(check: Check): string[] {
  return CHECKS.slice(CHECKS.indexOf(check) + 1);
}

function riskLevel(score: number): string {
  return score < 0.3 ? 'low' : score < 0.6 ? 'medium' : 'high';
}

/** The session_risk sentence of `reasoning`: the score, its level and its factors. */
function riskSentence(risk: number, factors: string[]): string {
  return `Session score: ${riskLevel(risk)} risk (${risk.toFixed(2)})${factors.length ? `: ${factors.join('; ')}` : ''}.`;
}

type RuleVerdict =
  | { kind: 'denied' | 'allowed'; who: string; ref: string; pattern: string; approvals: string[] }
  | { kind: 'unmatched' };

/**
 * The allow_tools check: the model's rules (or the `*` rules) and the agent's role rules for one
 * tool. Any deny wins over every allow; `approvals` are the requires_approval globs that match.
 */
export function ruleVerdict(
  policy: CompiledPolicy,
  agentId: string,
  agent: CompiledAgent | undefined,
  tool: string,
): RuleVerdict {
  const applicable = [
    ...(policy.rulesByModel.get(agentId) ?? policy.starRules).map((r) => ({
      r,
      who: `Model ${agentId}`,
    })),
    ...(agent?.role && policy.roles.has(agent.role)
      ? [{ r: policy.roles.get(agent.role)!, who: `Role ${agent.role}` }]
      : []),
  ];
  let allowedBy: { ref: string; pattern: string; who: string } | null = null;
  const approvals: string[] = [];
  for (const { r, who } of applicable) {
    const d = r.deny.firstMatch(tool);
    if (d >= 0)
      return {
        kind: 'denied',
        who,
        ref: `${r.ref}.deny_tools[${d}]`,
        pattern: r.deny.patterns[d]!,
        approvals: [],
      };
    const a = r.allow.firstMatch(tool);
    if (a >= 0 && !allowedBy)
      allowedBy = { ref: `${r.ref}.allow_tools[${a}]`, pattern: r.allow.patterns[a]!, who };
    const q = r.approval.firstMatch(tool);
    if (q >= 0) approvals.push(`${r.ref}.requires_approval[${q}] (${r.approval.patterns[q]})`);
  }
  return allowedBy ? { kind: 'allowed', ...allowedBy, approvals } : { kind: 'unmatched' };
}

function lacksPii(tool: RegisteredTool, agent: CompiledAgent | undefined): boolean {
  return tool.definition.pii === true && !agent?.permissions.has('PII_READ');
}

/**
 * Whether an agent may see a tool at all: the checks of `evaluate` that depend only on who calls
 * which tool (tool_registry, key_scope, allow_tools, pii_permission), never on the arguments,
 * the session, the rate limits or the time. A tool that fails one of them is denied on every
 * call, so MCP's tools/list leaves it out (null); a listed tool can still be denied by the
 * others. `requires_approval`: the tool or a rule always asks for a person's approval (the
 * session's risk may ask too).
 */
export function listing(
  keys: CompiledKeys,
  policy: CompiledPolicy,
  agentId: string,
  name: string,
  tool: RegisteredTool | undefined,
): { requires_approval: boolean } | null {
  if (!tool) return null;
  const agent = keys.agents.get(agentId);
  if (agent?.scope && agent.scope.firstMatch(name) < 0) return null;
  const rules = ruleVerdict(policy, agentId, agent, name);
  if (rules.kind !== 'allowed' || lacksPii(tool, agent)) return null;
  return { requires_approval: tool.definition.requires_approval || rules.approvals.length > 0 };
}

/**
 * Decides one call from a consistent snapshot of the policy and the session. Pure: the same
 * input gives the same decision, which is what lets the shadow policy be evaluated beside the
 * live one on exactly the same facts. Deny by default: allowed only if every check passes.
 */
export function evaluate(input: EvaluationInput): Decision {
  const { req, tool, policy, keys, limits, session, version } = input;
  const ex = new Explanation();
  const agent = keys.agents.get(req.agent_id);
  const ctx = policy.contextual;
  const phraseHit = findPhrase(req.arguments, policy.phrases);

  // Risk is computed for every answer, denials included (seed 000: every answer carries it).
  const factors: string[] = [];
  let risk = 0;
  if (session) {
    const w = ctx.risk.weights;
    const add = (weight: number, why: string) => {
      if (weight > 0) {
        risk += weight;
        factors.push(why);
      }
    };
    if (session.calls > ctx.risk.many_calls_after)
      add(w.many_calls, `${session.calls} calls in the session`);
    if (session.writes > 0) add(w.write_tool, 'a write tool was used in the session');
    if (session.denials > 0)
      add(w.prior_denial, `${session.denials} earlier denial(s) in the session`);
    if (tool?.definition.pii) add(w.pii_tool, 'the tool returns personal data');
    if (phraseHit) add(w.suspicious_input, 'the arguments contain a prompt-injection marker');
    risk = Math.min(1, Math.round(risk * 100) / 100);
  }
  const deny = (
    check: Check,
    code: ErrorCode,
    reason: string,
    suggestions: string[],
    extra: {
      rule?: string;
      retryAfterMs?: number;
      violations?: ReturnType<typeof violationsOf>;
    } = {},
  ) => {
    // The session's score is part of every answer: a denial says what raised it too.
    if (factors.length > 0 && check !== 'session_risk')
      ex.reasoning.push(riskSentence(risk, factors));
    const d = ex.deny(check, code, reason, suggestions, {
      ...extra,
      version,
      remaining: after(check),
    });
    d.risk_score = risk;
    return d;
  };
  const approvals: string[] = [];

  // rate_limit
  if (limits.kind === 'unavailable') {
    return deny(
      'rate_limit',
      'POLICY.DEPENDENCY_UNAVAILABLE',
      'The rate-limit store (Redis) is unreachable, so the call is denied.',
      ['Retry shortly; an operator should check Redis.'],
    );
  }
  if (limits.kind === 'limited') {
    const seconds = Math.ceil(limits.retryAfterMs / 1000);
    const who =
      limits.scope === 'agent'
        ? `Agent ${req.agent_id}`
        : limits.scope === 'user'
          ? `User ${req.user_id}`
          : `Tool ${req.tool}`;
    return deny(
      'rate_limit',
      'POLICY.RATE_LIMITED',
      `${who} ${EXCEEDED} ${limits.limit} calls in ${limits.window_s} s.`,
      [
        `Retry after ${seconds} s.`,
        `Ask an admin to raise rate_limits.${limits.scope} if this load is expected.`,
      ],
      { retryAfterMs: limits.retryAfterMs, rule: `${policy.file}#rate_limits.${limits.scope}` },
    );
  }
  ex.pass('rate_limit', describeLimitUse(limits.used), `${policy.file}#rate_limits`);

  // tool_registry
  if (!tool) {
    return deny(
      'tool_registry',
      'POLICY.TOOL_NOT_REGISTERED',
      `Tool ${req.tool} is not in the tool registry; unregistered tools are denied.`,
      ['Check the tool name for typos.', `An admin can register it with tools/${req.tool}.json.`],
      { rule: `tools/${req.tool}.json` },
    );
  }
  ex.pass('tool_registry', `Tool ${req.tool} is registered.`, `tools/${req.tool}.json`);

  // key_scope
  if (agent?.scope) {
    const i = agent.scope.firstMatch(req.tool);
    if (i < 0) {
      return deny(
        'key_scope',
        'POLICY.TOOL_NOT_ALLOWED',
        `The key of ${req.agent_id} is scoped to ${agent.scope.patterns.join(', ')}, which does not include ${req.tool}.`,
        [`Ask an admin to add ${req.tool} to the tools of ${req.agent_id} in ${keys.file}.`],
        { rule: `${keys.file}#models.${req.agent_id}.tools` },
      );
    }
    ex.pass(
      'key_scope',
      `The key of ${req.agent_id} may use ${agent.scope.patterns[i]}.`,
      `${keys.file}#models.${req.agent_id}.tools[${i}]`,
    );
  } else {
    ex.skip('key_scope', 'the key has no tool scope');
  }

  // allow_tools: model rules and the agent's role rules; any deny wins over every allow.
  const rules = ruleVerdict(policy, req.agent_id, agent, req.tool);
  if (rules.kind === 'denied') {
    const { ref, pattern, who } = rules;
    return deny(
      'allow_tools',
      'POLICY.TOOL_NOT_ALLOWED',
      `${who} is denied ${pattern}, which matches ${req.tool}.`,
      ['Use a tool this agent is allowed to call.', `Deny rules win; an admin can change ${ref}.`],
      { rule: ref },
    );
  }
  if (rules.kind === 'unmatched') {
    return deny(
      'allow_tools',
      'POLICY.TOOL_NOT_ALLOWED',
      `Model ${req.agent_id} is not allowed to use ${req.tool}: no allow_tools rule matches.`,
      [
        'Use a tool this agent is allowed to call.',
        `Ask an admin to add ${req.tool} to allow_tools for ${req.agent_id} in ${policy.file}.`,
      ],
      { rule: `${policy.file}#rules` },
    );
  }
  const allowedBy = rules;
  approvals.push(...rules.approvals);
  ex.pass('allow_tools', `${allowedBy.who} is allowed to use ${allowedBy.pattern}.`, allowedBy.ref);

  // argument_schema
  if (!tool.validate(req.arguments)) {
    const violations = violationsOf(tool.validate.errors);
    return deny(
      'argument_schema',
      'POLICY.ARGUMENTS_INVALID',
      `The arguments do not match the schema of ${req.tool}: ${violations.map((v) => `${v.path} ${v.message}`).join('; ')}.`,
      [
        'Fix the arguments listed in violations.',
        `The schema is published at /schema/${req.tool}.json.`,
      ],
      { violations, rule: `tools/${req.tool}.json#input_schema` },
    );
  }
  ex.pass('argument_schema', 'No schema violation.', `tools/${req.tool}.json#input_schema`);

  // forbidden_fields
  const forbidden = findForbiddenField(req.arguments, policy.forbidden);
  if (forbidden) {
    return deny(
      'forbidden_fields',
      'POLICY.FORBIDDEN_FIELD',
      `The arguments contain the forbidden field ${forbidden}.`,
      ['Remove the field: credentials are injected by the gateway, never sent by agents.'],
      { rule: `${policy.file}#forbidden_fields` },
    );
  }
  ex.pass(
    'forbidden_fields',
    'No forbidden field in the arguments.',
    `${policy.file}#forbidden_fields`,
  );

  // tenant_access (seed 003 row-level security)
  const tenantField = tool.definition.tenant_field;
  if (tenantField) {
    const named = tenantsNamed(req.arguments, tenantField);
    const granted = agent?.tenants ?? new Set<string>();
    if (!named) {
      return deny(
        'tenant_access',
        'POLICY.TENANT_NOT_GRANTED',
        `${req.tool} is tenant-scoped: the call must name its tenant in ${tenantField}.`,
        [`Add ${tenantField} with a tenant granted to ${req.agent_id}.`],
        { rule: `tools/${req.tool}.json#tenant_field` },
      );
    }
    const refused = granted.has('*') ? [] : named.filter((t) => !granted.has(t));
    if (refused.length > 0) {
      return deny(
        'tenant_access',
        'POLICY.TENANT_NOT_GRANTED',
        `${req.agent_id} has no access to tenant ${refused.join(', ')}.`,
        [
          `Request access to the tenant, or use one of: ${[...granted].join(', ') || 'none granted'}.`,
        ],
        { rule: `${keys.file}#models.${req.agent_id}.tenants` },
      );
    }
    ex.pass(
      'tenant_access',
      `Tenant ${named.join(', ')} is granted to ${req.agent_id}.`,
      `${keys.file}#models.${req.agent_id}.tenants`,
    );
  } else {
    ex.skip('tenant_access', 'the tool is not tenant-scoped');
  }

  // pii_permission (seed 003)
  if (tool.definition.pii) {
    if (lacksPii(tool, agent)) {
      return deny(
        'pii_permission',
        'POLICY.PII_NOT_GRANTED',
        `${req.tool} returns personal data and ${req.agent_id} lacks the PII_READ permission.`,
        ['Request the PII_READ permission from an administrator.'],
        { rule: `${keys.file}#models.${req.agent_id}.permissions` },
      );
    }
    ex.pass(
      'pii_permission',
      `${req.agent_id} holds PII_READ.`,
      `${keys.file}#models.${req.agent_id}.permissions`,
    );
  } else {
    ex.skip('pii_permission', 'the tool returns no personal data');
  }

  // complexity (seed 003)
  const c = complexityOf(req.arguments, policy.policy.complexity);
  if (c.score > policy.policy.complexity.max_score) {
    return deny(
      'complexity',
      'POLICY.TOO_COMPLEX',
      `The arguments score ${c.score} for complexity (${c.chars} chars, ${c.fields} fields, depth ${c.depth}); the limit is ${policy.policy.complexity.max_score}.`,
      [
        'Simplify the query: fewer arguments, less nesting.',
        'Split it into several simpler calls.',
      ],
      { rule: `${policy.file}#complexity.max_score` },
    );
  }
  ex.pass(
    'complexity',
    `Complexity ${c.score} is within ${policy.policy.complexity.max_score}.`,
    `${policy.file}#complexity`,
  );

  // The contextual checks need the session; without it the gateway cannot know, so it denies.
  if (!session) {
    return deny(
      'session_limit',
      'POLICY.DEPENDENCY_UNAVAILABLE',
      'The session store (Redis) is unreachable, so the session rules cannot be checked and the call is denied.',
      ['Retry shortly; an operator should check Redis.'],
    );
  }
  const cfile = policy.contextualFile ?? 'contextual_policies';

  // session_limit
  if (ctx.max_calls_per_session !== undefined) {
    if (session.calls > ctx.max_calls_per_session) {
      return deny(
        'session_limit',
        'POLICY.SESSION_LIMIT',
        `The session has made ${session.calls - 1} calls; at most ${ctx.max_calls_per_session} are allowed.`,
        ['Start a new session for a new task.'],
        { rule: `${cfile}#max_calls_per_session` },
      );
    }
    ex.pass(
      'session_limit',
      `Session call ${session.calls} of ${ctx.max_calls_per_session}.`,
      `${cfile}#max_calls_per_session`,
    );
  } else {
    ex.skip('session_limit', 'no session call limit');
  }

  // forbidden_sequence
  for (const s of policy.sequences) {
    if (s.deny.firstMatch(req.tool) < 0) continue;
    const earlier = session.history.find((t) => s.after.firstMatch(t) >= 0);
    if (earlier) {
      return deny(
        'forbidden_sequence',
        'POLICY.FORBIDDEN_SEQUENCE',
        s.reason ?? `${req.tool} is not allowed after ${earlier} in the same session.`,
        ['Use a new session for this task, or ask an admin to review the sequence rule.'],
        { rule: s.ref },
      );
    }
  }
  if (policy.sequences.length)
    ex.pass(
      'forbidden_sequence',
      'No forbidden tool sequence in the session.',
      `${cfile}#forbidden_sequences`,
    );
  else ex.skip('forbidden_sequence', 'no sequence rules');

  // time_window
  const windows = policy.timeWindows.filter((w) => w.tools.firstMatch(req.tool) >= 0);
  if (windows.length) {
    const open = windows.find((w) => {
      const t = localTime(input.now, w.timezone);
      return w.days.has(t.day) && inWindow(t.minute, w.from, w.to);
    });
    if (!open) {
      const w = ctx.time_windows[policy.timeWindows.indexOf(windows[0]!)]!;
      return deny(
        'time_window',
        'POLICY.OUTSIDE_TIME_WINDOW',
        `${req.tool} may only be called ${w.days.join(',')} ${w.from}-${w.to} ${w.timezone}.`,
        [`Retry inside the window (${w.from}-${w.to} ${w.timezone}).`],
        { rule: windows[0]!.ref },
      );
    }
    ex.pass('time_window', `Inside the allowed time window.`, open.ref);
  } else {
    ex.skip('time_window', 'no time window applies to the tool');
  }

  // suspicious_input
  if (phraseHit && ctx.suspicious_patterns.action === 'deny') {
    return deny(
      'suspicious_input',
      'POLICY.SUSPICIOUS_INPUT',
      `The arguments contain the prompt-injection marker "${phraseHit.phrase}" at ${phraseHit.path}.`,
      ['Remove instructions aimed at the model from the tool arguments.'],
      { rule: `${cfile}#suspicious_patterns` },
    );
  }
  if (phraseHit)
    ex.pass(
      'suspicious_input',
      `Flagged: "${phraseHit.phrase}" at ${phraseHit.path} (raises the risk).`,
      `${cfile}#suspicious_patterns`,
    );
  else
    ex.pass(
      'suspicious_input',
      'Prompt does not contain suspicious patterns.',
      `${cfile}#suspicious_patterns`,
    );

  // session_risk
  const level = riskSentence(risk, factors);
  if (ctx.risk.deny_at !== undefined && risk >= ctx.risk.deny_at) {
    return deny(
      'session_risk',
      'POLICY.RISK_TOO_HIGH',
      `${level.slice(0, -1)}, at or above the deny threshold ${ctx.risk.deny_at}.`,
      ['Start a new session; an analyst can review this one.'],
      { rule: `${cfile}#risk.deny_at` },
    );
  }
  if (ctx.risk.approval_at !== undefined && risk >= ctx.risk.approval_at)
    approvals.push(`${cfile}#risk.approval_at (${ctx.risk.approval_at})`);
  ex.pass('session_risk', level, `${cfile}#risk`);

  if (tool.definition.requires_approval)
    approvals.unshift(`tools/${req.tool}.json#requires_approval`);
  const decision = ex.allow(
    version,
    risk,
    `Allowed by allow_tools match: ${allowedBy.pattern} (${allowedBy.ref}).`,
  );
  if (approvals.length) {
    decision.requires_approval = true;
    decision.reasoning.push(`Requires human approval: ${approvals.join(', ')}.`);
  }
  return decision;
}
