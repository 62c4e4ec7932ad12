import type { Decision, ShadowEvaluated, ToolCallCompleted } from '@sg/contracts';
import { limitUseOf } from '@sg/policy-engine';
import { latencyBound } from '../latency/histogram.js';

/** One event as counted: its id, time, trace and project, and its data (already validated). */
export type Counted =
  | { kind: 'call'; event_id: string; at: Date; trace_id: string; project: string; data: CallData }
  | {
      kind: 'shadow';
      event_id: string;
      at: Date;
      trace_id: string;
      project: string;
      data: ShadowData;
    };
export type CallData = Pick<
  ToolCallCompleted,
  'agent_id' | 'session_id' | 'tool' | 'outcome' | 'code' | 'risk_score' | 'user_id' | 'duration_ms'
> & { decision?: Pick<Decision, 'allowed' | 'reason' | 'rule_trace' | 'reasoning'> | null };
export type ShadowData = Pick<ShadowEvaluated, 'agent_id' | 'tool' | 'live' | 'differs'> & {
  shadow: Pick<ShadowEvaluated['shadow'], 'allowed' | 'code' | 'requires_approval' | 'rule_trace'>;
};

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
export const MAX_EXAMPLES = 5;
/** What a missing agent, tool or user is counted as (refused before authentication, for one). */
export const NONE = '';

/** The start of the UTC bucket (hour, day) `at` falls in. */
export const floor = (at: Date, ms: number) => new Date(Math.floor(at.getTime() / ms) * ms);

interface CallRow {
  project: string;
  bucket: Date;
  tool: string;
  agent_id: string;
  user_id: string;
  outcome: string;
  code: string;
  calls: number;
  risk_n: number;
  risk_sum: number;
  risk_max: number;
  first_seen: Date;
  last_seen: Date;
}

/** Calls per duration bucket (`le_ms`, its upper bound: latency/histogram.ts). */
interface LatencyRow {
  project: string;
  bucket: Date;
  outcome: string;
  le_ms: number;
  calls: number;
}

/**
 * The additions a batch of events makes to each aggregate table, merged by key: each table gets
 * one upsert, with no key twice (PostgreSQL's ON CONFLICT DO UPDATE touches a row once per
 * statement).
 */
export class Deltas {
  readonly hourly = new Map<string, CallRow>();
  readonly daily = new Map<string, CallRow>();
  readonly latencyHourly = new Map<string, LatencyRow>();
  readonly latencyDaily = new Map<string, LatencyRow>();
  readonly denials = new Map<
    string,
    {
      project: string;
      bucket: Date;
      agent_id: string;
      tool: string;
      code: string;
      check_name: string;
      rule: string;
      reason: string;
      calls: number;
      first_seen: Date;
      last_seen: Date;
      trace_ids: string[];
    }
  >();
  readonly grants = new Map<
    string,
    {
      project: string;
      bucket: Date;
      agent_id: string;
      tool: string;
      calls: number;
      last_seen: Date;
    }
  >();
  readonly limits = new Map<
    string,
    {
      project: string;
      bucket: Date;
      agent_id: string;
      scope: string;
      lim: number;
      window_s: number;
      calls: number;
      peak_used: number;
      hits: number;
      trace_ids: string[];
    }
  >();
  readonly risk = new Map<
    string,
    { project: string; bucket: Date; agent_id: string; tenth: number; calls: number }
  >();
  readonly sessions = new Map<
    string,
    {
      project: string;
      session_id: string;
      agent_id: string;
      first_seen: Date;
      last_seen: Date;
      calls: number;
      denials: number;
      max_risk: number;
      last_risk: number;
      factors: string;
      trace_id: string;
    }
  >();
  readonly shadow = new Map<
    string,
    {
      project: string;
      bucket: Date;
      tool: string;
      agent_id: string;
      live: string;
      shadow: string;
      shadow_rule: string;
      differs: boolean;
      calls: number;
      trace_ids: string[];
    }
  >();

  add(e: Counted): void {
    if (e.kind === 'call') this.addCall(e.project, e.at, e.trace_id, e.data);
    else this.addShadow(e.project, e.at, e.trace_id, e.data);
  }

  private addCall(project: string, at: Date, traceId: string, d: CallData): void {
    const tool = d.tool ?? NONE;
    const agent = d.agent_id ?? NONE;
    const user = d.user_id ?? NONE;
    const code = d.code ?? NONE;
    const risk = d.risk_score;
    const day = floor(at, DAY_MS);
    const le = latencyBound(d.duration_ms);
    for (const [map, latency, bucket] of [
      [this.hourly, this.latencyHourly, floor(at, HOUR_MS)],
      [this.daily, this.latencyDaily, day],
    ] as const) {
      const lk = key(project, bucket, d.outcome, le);
      const lrow = latency.get(lk);
      if (lrow) lrow.calls += 1;
      else latency.set(lk, { project, bucket, outcome: d.outcome, le_ms: le, calls: 1 });

      const k = key(project, bucket, tool, agent, user, d.outcome, code);
      const row = map.get(k);
      if (!row) {
        map.set(k, {
          project,
          bucket,
          tool,
          agent_id: agent,
          user_id: user,
          outcome: d.outcome,
          code,
          calls: 1,
          risk_n: risk === null ? 0 : 1,
          risk_sum: risk ?? 0,
          risk_max: risk ?? 0,
          first_seen: at,
          last_seen: at,
        });
      } else {
        row.calls += 1;
        if (risk !== null) {
          row.risk_n += 1;
          row.risk_sum += risk;
          row.risk_max = Math.max(row.risk_max, risk);
        }
        if (at < row.first_seen) row.first_seen = at;
        if (at > row.last_seen) row.last_seen = at;
      }
    }

    const decision = d.decision ?? null;
    if (risk !== null) {
      const tenth = Math.min(9, Math.max(0, Math.floor(risk * 10)));
      const k = key(project, day, agent, tenth);
      const row = this.risk.get(k);
      if (row) row.calls += 1;
      else this.risk.set(k, { project, bucket: day, agent_id: agent, tenth, calls: 1 });
    }
    if (!decision) return;

    const failed = decision.rule_trace.find((r) => r.outcome === 'fail');
    if (!decision.allowed && failed) {
      const rule = failed.rule ?? NONE;
      const k = key(project, day, agent, tool, code, failed.check, rule);
      const row = this.denials.get(k);
      if (!row) {
        this.denials.set(k, {
          project,
          bucket: day,
          agent_id: agent,
          tool,
          code,
          check_name: failed.check,
          rule,
          reason: decision.reason.slice(0, 500),
          calls: 1,
          first_seen: at,
          last_seen: at,
          trace_ids: [traceId],
        });
      } else {
        row.calls += 1;
        if (at < row.first_seen) row.first_seen = at;
        if (at > row.last_seen) row.last_seen = at;
        if (row.trace_ids.length < MAX_EXAMPLES) row.trace_ids.push(traceId);
      }
    }
    if (decision.allowed) {
      const k = key(project, day, agent, tool);
      const row = this.grants.get(k);
      if (!row)
        this.grants.set(k, {
          project,
          bucket: day,
          agent_id: agent,
          tool,
          calls: 1,
          last_seen: at,
        });
      else {
        row.calls += 1;
        if (at > row.last_seen) row.last_seen = at;
      }
    }

    // Rate limits: the use each limit showed (rate_limit passed), or the limit that refused.
    const rate = decision.rule_trace.find((r) => r.check === 'rate_limit');
    const uses =
      rate?.outcome === 'pass'
        ? limitUseOf(decision.reasoning.find((r) => r.startsWith('Rate limits: ')) ?? '').map(
            (u) => ({ ...u, hit: 0 }),
          )
        : rate?.outcome === 'fail'
          ? limitUseOf(rate.detail ?? '', rate.rule).map((u) => ({ ...u, hit: 1 }))
          : [];
    for (const u of uses) {
      const k = key(project, day, agent, u.scope, u.limit, u.window_s);
      const row = this.limits.get(k);
      if (!row) {
        this.limits.set(k, {
          project,
          bucket: day,
          agent_id: agent,
          scope: u.scope,
          lim: u.limit,
          window_s: u.window_s,
          calls: 1,
          peak_used: u.used,
          hits: u.hit,
          trace_ids: u.hit ? [traceId] : [],
        });
      } else {
        row.calls += 1;
        row.peak_used = Math.max(row.peak_used, u.used);
        row.hits += u.hit;
        if (u.hit && row.trace_ids.length < MAX_EXAMPLES) row.trace_ids.push(traceId);
      }
    }

    if (d.session_id !== null && d.session_id !== undefined) {
      const k = key(project, d.session_id, agent);
      const r = risk ?? 0;
      const factors = riskFactors(decision);
      const row = this.sessions.get(k);
      if (!row) {
        this.sessions.set(k, {
          project,
          session_id: d.session_id,
          agent_id: agent,
          first_seen: at,
          last_seen: at,
          calls: 1,
          denials: decision.allowed ? 0 : 1,
          max_risk: r,
          last_risk: r,
          factors,
          trace_id: traceId,
        });
      } else {
        row.calls += 1;
        row.denials += decision.allowed ? 0 : 1;
        if (at < row.first_seen) row.first_seen = at;
        if (at >= row.last_seen) {
          row.last_seen = at;
          row.last_risk = r;
        }
        if (r > row.max_risk) {
          row.max_risk = r;
          row.factors = factors;
          row.trace_id = traceId;
        }
      }
    }
  }

  private addShadow(project: string, at: Date, traceId: string, d: ShadowData): void {
    const live = label(d.live);
    const shadow = label(d.shadow);
    const rule = deciding(d.shadow.rule_trace, d.shadow.allowed);
    const day = floor(at, DAY_MS);
    const k = key(project, day, d.tool, d.agent_id, live, shadow, rule);
    const row = this.shadow.get(k);
    if (!row) {
      this.shadow.set(k, {
        project,
        bucket: day,
        tool: d.tool,
        agent_id: d.agent_id,
        live,
        shadow,
        shadow_rule: rule,
        differs: d.differs,
        calls: 1,
        trace_ids: [traceId],
      });
    } else {
      row.calls += 1;
      if (row.trace_ids.length < MAX_EXAMPLES) row.trace_ids.push(traceId);
    }
  }
}

function key(...parts: Array<string | number | Date>): string {
  return parts.map((p) => (p instanceof Date ? p.getTime() : p)).join('\u0000');
}

/** A decision as one word: `allow`, `approval` or `deny:<code>`. */
export function label(v: { allowed: boolean; code: string | null; requires_approval: boolean }) {
  return v.allowed ? (v.requires_approval ? 'approval' : 'allow') : `deny:${v.code ?? 'unknown'}`;
}

/** The rule that decided: the failed check's, or the allow rule when every check passed. */
export function deciding(
  trace: ReadonlyArray<{ check: string; outcome: string; rule?: string | undefined }>,
  allowed: boolean,
): string {
  const r = allowed
    ? trace.find((t) => t.check === 'allow_tools' && t.outcome === 'pass')
    : trace.find((t) => t.outcome === 'fail');
  return r?.rule ?? (allowed ? 'allowed' : (r?.check ?? 'unknown'));
}

/** The session_risk check's factors (`Session score: high risk (0.70): a; b.`), as one text. */
function riskFactors(decision: Pick<Decision, 'rule_trace' | 'reasoning'>): string {
  const risk = decision.rule_trace.find((r) => r.check === 'session_risk');
  const sentence =
    risk?.outcome === 'fail'
      ? (risk.detail ?? '')
      : (decision.reasoning.find((r) => r.startsWith('Session score: ')) ?? '');
  return (
    /^Session score: [^(]*\([\d.]+\): (.*?)(?:, at or above .*)?\.?$/.exec(sentence)?.[1] ?? ''
  );
}
