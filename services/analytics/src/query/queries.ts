import { Inject, Injectable } from '@nestjs/common';
import type { RequestOf, ResponseOf } from '@sg/contracts';
import type { Pool } from 'pg';
import { DAY_MS, floor, HOUR_MS } from '../ingest/fold.js';
import { addTo, latencyOf } from '../latency/histogram.js';
import { PG } from '../store/pg.provider.js';

type Summary = ResponseOf<'gw.analytics.summary.v1'>;
const TOP = 20;
const iso = (d: Date | null) => (d ? d.toISOString() : null);
const n = (v: string | number | null | undefined) => Number(v ?? 0);
const round = (v: number) => Math.round(v * 1000) / 1000;

/**
 * The aggregate questions (docs/analytics.md): each reads the aggregate tables only, never
 * audit_events. Day-level questions read the daily rows; `bucket: hour` reads the hourly ones.
 */
@Injectable()
export class Queries {
  constructor(@Inject(PG) private readonly pg: Pool) {}

  async summary(q: RequestOf<'gw.analytics.summary.v1'>): Promise<Summary> {
    const started = performance.now();
    const table = q.bucket === 'hour' ? 'analytics_calls_hourly' : 'analytics_calls_daily';
    const latencyTable =
      q.bucket === 'hour' ? 'analytics_latency_hourly' : 'analytics_latency_daily';
    // A window that starts inside an hour (or day) is answered from the start of that bucket:
    // the rows are counted whole.
    const w = [q.project, startOf(q.from, q.bucket), q.to];
    const range = 'project = $1 AND bucket >= $2 AND bucket < $3';
    const [calls, denials, limits, risk, durations] = await Promise.all([
      // One scan of the calls for every breakdown: `g` names the grouping a row belongs to.
      this.pg.query(
        `SELECT CASE WHEN GROUPING(outcome) = 0 THEN 'outcome' WHEN GROUPING(bucket) = 0 THEN 'bucket'
             WHEN GROUPING(code) = 0 THEN 'code' WHEN GROUPING(tool) = 0 THEN 'tool'
             WHEN GROUPING(agent_id) = 0 THEN 'agent' ELSE 'user' END AS g,
           outcome, bucket, code, tool, agent_id, user_id, sum(calls) AS calls,
           sum(calls) FILTER (WHERE outcome = 'denied') AS denied,
           sum(risk_sum) / nullif(sum(risk_n), 0) AS avg_risk, max(risk_max) AS max_risk,
           min(first_seen) AS first_seen, max(last_seen) AS last_seen
         FROM ${table} WHERE ${range}
         GROUP BY GROUPING SETS ((outcome), (bucket), (code), (tool), (agent_id), (user_id))`,
        w,
      ),
      this.pg.query(
        `SELECT code, check_name, rule, tool, agent_id, sum(calls) AS calls, max(reason) AS reason
         FROM analytics_denials WHERE ${range}
         GROUP BY code, check_name, rule, tool, agent_id ORDER BY calls DESC LIMIT ${TOP}`,
        w,
      ),
      this.pg.query(
        `SELECT agent_id, scope, lim, window_s, max(peak_used) AS peak_used, sum(hits) AS hits
         FROM analytics_limits WHERE ${range}
         GROUP BY agent_id, scope, lim, window_s ORDER BY hits DESC, peak_used DESC LIMIT ${TOP}`,
        w,
      ),
      this.pg.query(
        `SELECT tenth, sum(calls) AS calls FROM analytics_risk WHERE ${range} GROUP BY tenth`,
        w,
      ),
      // The outcomes merged: the percentiles are over every call.
      this.pg.query(
        `SELECT bucket, le_ms, sum(calls) AS calls FROM ${latencyTable} WHERE ${range}
         GROUP BY bucket, le_ms`,
        w,
      ),
    ]);
    const of = (g: string) => calls.rows.filter((r) => r.g === g);
    const top = (g: string, keep: (r: Record<string, unknown>) => boolean = () => true) =>
      of(g)
        .filter(keep)
        .sort((a, b) => n(b.calls) - n(a.calls))
        .slice(0, TOP);
    const outcomes = of('outcome');
    const byOutcome = new Map(outcomes.map((r) => [r.outcome as string, n(r.calls)]));
    const histogram = Array.from({ length: 10 }, () => 0);
    for (const r of risk.rows) histogram[Number(r.tenth)] = n(r.calls);
    // Duration buckets per series bucket (by its time), and over the whole window.
    const latency = new Map<number, Map<number, number>>();
    const overall = new Map<number, number>();
    for (const r of durations.rows) {
      const at = (r.bucket as Date).getTime();
      const h = latency.get(at) ?? new Map<number, number>();
      latency.set(at, h);
      addTo(h, n(r.le_ms), n(r.calls));
      addTo(overall, n(r.le_ms), n(r.calls));
    }
    const firsts = outcomes.map((r) => (r.first_seen as Date).getTime());
    const lasts = outcomes.map((r) => (r.last_seen as Date).getTime());
    return {
      project: q.project,
      from: q.from,
      to: q.to,
      bucket: q.bucket,
      totals: {
        calls: [...byOutcome.values()].reduce((a, b) => a + b, 0),
        allowed: byOutcome.get('allowed') ?? 0,
        pending_approval: byOutcome.get('pending_approval') ?? 0,
        denied: byOutcome.get('denied') ?? 0,
        rejected: byOutcome.get('rejected') ?? 0,
        error: byOutcome.get('error') ?? 0,
        first_seen: iso(firsts.length ? new Date(Math.min(...firsts)) : null),
        last_seen: iso(lasts.length ? new Date(Math.max(...lasts)) : null),
      },
      series: of('bucket')
        .sort((a, b) => (a.bucket as Date).getTime() - (b.bucket as Date).getTime())
        .map((r) => {
          const { p50_ms, p99_ms } = latencyOf(latency.get((r.bucket as Date).getTime()));
          return {
            at: (r.bucket as Date).toISOString(),
            calls: n(r.calls),
            denied: n(r.denied),
            p50_ms,
            p99_ms,
          };
        }),
      by_code: top('code', (r) => r.code !== '').map((r) => ({
        code: r.code as string,
        calls: n(r.calls),
      })),
      by_tool: top('tool').map((r) => ({
        tool: r.tool as string,
        calls: n(r.calls),
        denied: n(r.denied),
        first_seen: (r.first_seen as Date).toISOString(),
        last_seen: (r.last_seen as Date).toISOString(),
      })),
      by_agent: top('agent').map((r) => ({
        agent_id: r.agent_id as string,
        calls: n(r.calls),
        denied: n(r.denied),
        avg_risk: round(n(r.avg_risk)),
        max_risk: round(n(r.max_risk)),
      })),
      by_user: top('user', (r) => r.user_id !== '').map((r) => ({
        user_id: r.user_id as string,
        calls: n(r.calls),
        denied: n(r.denied),
      })),
      denial_reasons: denials.rows.map((r) => ({
        code: r.code as string,
        check: r.check_name as string,
        rule: r.rule as string,
        tool: r.tool as string,
        agent_id: r.agent_id as string,
        calls: n(r.calls),
        example_reason: r.reason as string,
      })),
      rate_limits: limits.rows.map((r) => ({
        agent_id: r.agent_id as string,
        scope: r.scope as string,
        limit: n(r.lim),
        window_s: n(r.window_s),
        peak_used: n(r.peak_used),
        hits: n(r.hits),
      })),
      risk_histogram: histogram,
      latency: latencyOf(overall),
      took_ms: Math.round(performance.now() - started),
    };
  }

  async shadowReport(
    q: RequestOf<'gw.analytics.shadow_report.v1'>,
  ): Promise<ResponseOf<'gw.analytics.shadow_report.v1'>> {
    const started = performance.now();
    const w = [q.project, startOf(q.from, 'day'), q.to];
    const range = 'project = $1 AND bucket >= $2 AND bucket < $3';
    const [tools, rules, examples] = await Promise.all([
      this.pg.query(
        `SELECT tool, sum(calls) AS evaluated, sum(calls) FILTER (WHERE differs) AS differing,
           sum(calls) FILTER (WHERE differs AND live IN ('allow', 'approval') AND shadow LIKE 'deny:%') AS allow_to_deny,
           sum(calls) FILTER (WHERE differs AND live LIKE 'deny:%' AND shadow IN ('allow', 'approval')) AS deny_to_allow
         FROM analytics_shadow WHERE ${range} GROUP BY tool ORDER BY differing DESC NULLS LAST, evaluated DESC`,
        w,
      ),
      this.pg.query(
        `SELECT shadow_rule, sum(calls) AS differing FROM analytics_shadow
         WHERE ${range} AND differs GROUP BY shadow_rule ORDER BY differing DESC`,
        w,
      ),
      this.pg.query(
        `SELECT tool, agent_id, live, shadow, shadow_rule, trace_ids FROM analytics_shadow
         WHERE ${range} AND differs ORDER BY calls DESC LIMIT 10`,
        w,
      ),
    ]);
    const evaluated = tools.rows.reduce((a, r) => a + n(r.evaluated), 0);
    const differing = tools.rows.reduce((a, r) => a + n(r.differing), 0);
    return {
      project: q.project,
      from: q.from,
      to: q.to,
      evaluated,
      differing,
      agreement_rate: evaluated ? round((evaluated - differing) / evaluated) : null,
      by_rule: rules.rows.map((r) => ({
        rule: r.shadow_rule as string,
        differing: n(r.differing),
      })),
      by_tool: tools.rows.map((r) => ({
        tool: r.tool as string,
        evaluated: n(r.evaluated),
        differing: n(r.differing),
        allow_to_deny: n(r.allow_to_deny),
        deny_to_allow: n(r.deny_to_allow),
      })),
      examples: examples.rows.flatMap((r) =>
        (r.trace_ids as string[]).slice(0, 2).map((trace_id) => ({
          trace_id,
          tool: r.tool as string,
          agent_id: r.agent_id as string,
          live: r.live as string,
          shadow: r.shadow as string,
          rule: r.shadow_rule as string,
        })),
      ),
      took_ms: Math.round(performance.now() - started),
    };
  }

  async riskSessions(
    q: RequestOf<'gw.analytics.risk_sessions.v1'>,
  ): Promise<ResponseOf<'gw.analytics.risk_sessions.v1'>> {
    const started = performance.now();
    const rows = await this.pg.query(
      `SELECT * FROM analytics_sessions WHERE project = $1 AND last_seen >= $2
       ORDER BY max_risk DESC, denials DESC, last_seen DESC LIMIT $3`,
      [q.project, q.from, q.limit],
    );
    return {
      project: q.project,
      from: q.from,
      sessions: rows.rows.map((r) => ({
        session_id: r.session_id as string,
        agent_id: r.agent_id as string,
        first_seen: (r.first_seen as Date).toISOString(),
        last_seen: (r.last_seen as Date).toISOString(),
        calls: n(r.calls),
        denials: n(r.denials),
        max_risk: n(r.max_risk),
        last_risk: n(r.last_risk),
        factors: (r.factors as string) ? (r.factors as string).split('; ') : [],
        trace_id: r.trace_id as string,
      })),
      took_ms: Math.round(performance.now() - started),
    };
  }

  async riskTrend(
    q: RequestOf<'gw.analytics.risk_trend.v1'>,
  ): Promise<ResponseOf<'gw.analytics.risk_trend.v1'>> {
    const started = performance.now();
    const table = q.bucket === 'hour' ? 'analytics_calls_hourly' : 'analytics_calls_daily';
    const from = startOf(q.from, q.bucket);
    const rows = await this.pg.query(
      `SELECT agent_id, bucket, sum(calls) AS calls, sum(risk_sum) / nullif(sum(risk_n), 0) AS avg_risk,
         max(risk_max) AS max_risk
       FROM ${table} WHERE project = $1 AND bucket >= $2 AND bucket < $3 AND agent_id <> ''
         AND ($4::text IS NULL OR agent_id = $4)
       GROUP BY agent_id, bucket ORDER BY agent_id, bucket`,
      [q.project, from, q.to, q.agent_id ?? null],
    );
    const agents = new Map<string, ResponseOf<'gw.analytics.risk_trend.v1'>['agents'][number]>();
    for (const r of rows.rows) {
      const id = r.agent_id as string;
      const a = agents.get(id) ?? { agent_id: id, points: [], trend: null };
      a.points.push({
        at: (r.bucket as Date).toISOString(),
        calls: n(r.calls),
        avg_risk: round(n(r.avg_risk)),
        max_risk: round(n(r.max_risk)),
      });
      agents.set(id, a);
    }
    for (const a of agents.values())
      a.trend =
        a.points.length > 1 ? round(a.points.at(-1)!.avg_risk - a.points[0]!.avg_risk) : null;
    return {
      project: q.project,
      from: q.from,
      to: q.to,
      bucket: q.bucket,
      agents: [...agents.values()],
      took_ms: Math.round(performance.now() - started),
    };
  }
}

/** The start of the UTC hour or day `t` falls in: rows are counted whole. */
export function startOf(t: string, bucket: 'hour' | 'day'): string {
  return floor(new Date(t), bucket === 'hour' ? HOUR_MS : DAY_MS).toISOString();
}
