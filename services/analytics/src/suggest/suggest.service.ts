import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { forProject, forProjectOptional, type PolicyFile, unknownProjectMessage } from '@sg/config';
import {
  GatewayError,
  POLICY_HISTORY_SUBJECT,
  POLICY_VERSION_SUBJECT,
  type PolicyKind,
  type RequestOf,
  type ResponseOf,
  type Suggestion,
} from '@sg/contracts';
import { ConfigSync, NatsBus, type MessageContext } from '@sg/messaging';
import { compileGlobs, listing, PolicyStore, ruleVerdict } from '@sg/policy-engine';
import { ENV } from '@sg/runtime';
import type { Pool } from 'pg';
import { parse as parseYaml, stringify } from 'yaml';
import type { AnalyticsEnv } from '../config/env.js';
import { AnalyticsConsumer } from '../ingest/analytics.consumer.js';
import { Backfill } from '../ingest/backfill.js';
import { startOf } from '../query/queries.js';
import { PG } from '../store/pg.provider.js';

type Query = RequestOf<'gw.analytics.suggest.v1'>;
type Answer = ResponseOf<'gw.analytics.suggest.v1'>;
type Rule = PolicyFile['rules'][number];
type Draft = Omit<Suggestion, 'id' | 'dismissed'>;
/**
 * The checks whose denials are about a grant (who may call which tool): an explicit deny says the
 * same. A denial for the arguments, the session, the time or a limit is about the call, not the tool.
 */
const GRANT_CHECKS = ['allow_tools', 'key_scope', 'pii_permission'];
/** Policy versions read to date a grant. */
const HISTORY_DEPTH = 50;
const n = (v: unknown) => Number(v ?? 0);
const round = (v: number) => Math.round(v * 100) / 100;
/** More evidence, more confidence: 0.5 at the threshold, towards `max` as the count grows. */
const confidence = (count: number, threshold: number, max = 0.95) =>
  round(Math.min(max, 0.5 + 0.15 * Math.log2(Math.max(1, count / threshold))));

/**
 * GET /api/policy/suggest (seed 000; docs/analytics.md): rule changes read from the aggregates
 * of one window, each with a ready change, its reason, its evidence and a confidence. Like
 * IAM Access Analyzer and repokid, it says which window it analysed, and it never calls a grant
 * unused that is younger than the window (its age is read from the policy versions).
 */
@Injectable()
export class SuggestService {
  constructor(
    @Inject(PG) private readonly pg: Pool,
    private readonly config: ConfigSync,
    private readonly store: PolicyStore,
    private readonly bus: NatsBus,
    private readonly backfill: Backfill,
    private readonly consumer: AnalyticsConsumer,
    @Inject(ENV) private readonly env: AnalyticsEnv,
  ) {}

  async suggest(q: Query, ctx: MessageContext): Promise<Answer> {
    const started = performance.now();
    const files = this.config.files;
    // Changes are written against the project's files: a project without any has none to change.
    if (!files.projects.has(q.project))
      throw new GatewayError('REQUEST.UNKNOWN_PROJECT', unknownProjectMessage(q.project));
    const policy = forProject(files.policies, q.project);
    const keys = forProject(files.modelKeys, q.project);
    const thresholds = {
      min_denials: q.min_denials ?? this.env.SUGGEST_MIN_DENIALS,
      min_scope_refusals: this.env.SUGGEST_MIN_SCOPE_REFUSALS,
      min_rate_hits: this.env.SUGGEST_MIN_RATE_HITS,
      unused_limit_share: this.env.SUGGEST_UNUSED_LIMIT_SHARE,
      min_limit_calls: this.env.SUGGEST_MIN_LIMIT_CALLS,
    };
    const w = [q.project, startOf(q.from, 'day'), q.to];
    const range = 'project = $1 AND bucket >= $2 AND bucket < $3';
    const evidence = (counts: Record<string, number>, trace_ids: string[]) => ({
      from: q.from,
      to: q.to,
      counts,
      trace_ids: trace_ids.slice(0, 5),
    });
    const [denials, grants, scopeRefusals, limits, shadow, dismissed] = await Promise.all([
      this.pg.query(
        `SELECT agent_id, tool, sum(calls) AS calls, array_agg(DISTINCT code) AS codes,
           (array_agg(reason ORDER BY calls DESC))[1] AS reason,
           (array_agg(array_to_string(trace_ids, ',')))[1:5] AS traces
         FROM analytics_denials WHERE ${range} AND agent_id <> '' AND tool <> ''
           AND check_name = ANY($4)
         GROUP BY agent_id, tool HAVING sum(calls) > $5 ORDER BY calls DESC LIMIT 100`,
        [...w, GRANT_CHECKS, thresholds.min_denials],
      ),
      // From the window's start until now: a grant used after `to` is not unused.
      this.pg.query(
        `SELECT agent_id, tool, sum(calls) AS calls FROM analytics_grants
         WHERE project = $1 AND bucket >= $2 GROUP BY agent_id, tool`,
        w.slice(0, 2),
      ),
      this.pg.query(
        `SELECT agent_id, tool, sum(calls) AS calls, (array_agg(array_to_string(trace_ids, ',')))[1:5] AS traces
         FROM analytics_denials WHERE ${range} AND check_name = 'key_scope' AND agent_id <> ''
         GROUP BY agent_id, tool HAVING sum(calls) >= $4 ORDER BY calls DESC LIMIT 100`,
        [...w, thresholds.min_scope_refusals],
      ),
      this.pg.query(
        `SELECT agent_id, scope, lim, window_s, sum(calls) AS calls, max(peak_used) AS peak_used,
           sum(hits) AS hits,
           (array_agg(array_to_string(trace_ids, ',')))[1:5] AS traces
         FROM analytics_limits WHERE ${range} GROUP BY agent_id, scope, lim, window_s`,
        w,
      ),
      this.pg.query(
        `SELECT tool, live, shadow, shadow_rule, sum(calls) AS calls, (array_agg(array_to_string(trace_ids, ',')))[1:5] AS traces
         FROM analytics_shadow WHERE ${range} GROUP BY tool, live, shadow, shadow_rule, differs
         ORDER BY calls DESC`,
        w,
      ),
      this.pg.query(
        'SELECT suggestion_id, dismissed_by, why, dismissed_at FROM analytics_dismissals WHERE project = $1',
        [q.project],
      ),
    ]);
    const drafts: Draft[] = [];
    const notes: string[] = [];
    const snap = this.store.snapshot(q.project);

    const candidates: Array<{ agent: string; tool: string }> = [];
    // Candidate grants first: a pair that gets one gets no contradicting deny or removal.
    // 3. Candidate grants: a model refused by its key scope a tool other models use.
    for (const r of scopeRefusals.rows) {
      const agent = r.agent_id as string;
      const tool = r.tool as string;
      const others = grants.rows.filter((g) => g.tool === tool && g.agent_id !== agent);
      if (others.length === 0) continue;
      const scope = keys.models[agent]?.tools;
      if (!scope) continue;
      const othersCalls = others.reduce((a, g) => a + n(g.calls), 0);
      candidates.push({ agent, tool });
      const change = keysChange(q.project, agent, [...scope, tool]);
      const verdict = snap
        ? ruleVerdict(snap.policy, agent, snap.keys.agents.get(agent), tool)
        : null;
      const alsoPolicy = verdict && verdict.kind !== 'allowed';
      drafts.push({
        kind: 'candidate_grant',
        title: `Review: let ${agent} use ${tool}`,
        reason: `${agent}'s key scope refused ${tool} ${n(r.calls)} times between ${q.from} and ${q.to}, while ${others.map((g) => g.agent_id as string).join(', ')} used it ${othersCalls} times. A candidate for review, not a recommendation: widening a scope widens what a compromised key can do.${alsoPolicy ? ` The policy rules would deny it too: allow_tools for ${agent} needs ${tool} as well.` : ''}`,
        change,
        evidence: evidence({ refusals: n(r.calls), used_by_others: othersCalls }, flat(r.traces)),
        confidence: confidence(n(r.calls), thresholds.min_scope_refusals, 0.7),
      });
    }

    // 1. Repeated denials of one tool: an explicit deny (seed 000).
    for (const r of denials.rows) {
      const agent = r.agent_id as string;
      const tool = r.tool as string;
      if (candidates.some((c) => c.agent === agent && c.tool === tool)) continue;
      // Allowed now (the policy changed since the denials): an explicit deny would revoke it.
      if (snap && listing(snap.keys, snap.policy, agent, tool, snap.registry.get(tool))) continue;
      const own = policy.rules.some((r) => r.model === agent);
      const rules = rulesFor(policy, agent);
      if (rules.deny_tools.some((g) => compileGlobs([g]).firstMatch(tool) >= 0)) continue;
      const next = { ...rules, deny_tools: [...rules.deny_tools, tool] };
      drafts.push({
        kind: 'repeated_denials',
        title: `Deny ${tool} to ${agent} explicitly`,
        reason: `${agent} was denied ${tool} ${n(r.calls)} times between ${q.from} and ${q.to} (more than ${thresholds.min_denials}; codes ${(r.codes as string[]).join(', ')}). An explicit deny_tools entry documents the refusal and wins over any allow added later.${own ? '' : ` ${agent} has no rules of its own: the change gives it a copy of the * rules with the deny added.`} Example: ${r.reason as string}`,
        change: policyChange(q.project, agent, { rules: [next] }, `explicit deny of ${tool}`),
        evidence: evidence({ denials: n(r.calls) }, flat(r.traces)),
        confidence: confidence(n(r.calls), thresholds.min_denials),
      });
    }

    // 2. Unused permissions: allow globs and key scopes no call used in the window.
    const used = grants.rows.map((r) => ({ agent: r.agent_id as string, tool: r.tool as string }));
    const windowStart = Date.parse(q.from);
    // "Unused" from incomplete counts would take away grants in use: only on complete data.
    const incomplete = !this.backfill.done
      ? 'the backfill from audit_events is not done'
      : this.consumer.failing
        ? `counting events is paused (${this.consumer.failing})`
        : null;
    if (incomplete) notes.push(`unused permissions are not suggested: ${incomplete}`);
    const ages = incomplete
      ? null
      : await this.grantAges(q.project, ctx).catch((err: Error) => {
          notes.push(
            `unused permissions are not suggested: the policy versions (to date each grant) could not be read: ${err.message}`,
          );
          return null;
        });
    if (ages) {
      const ownModels = new Set(policy.rules.map((r) => r.model));
      for (const rule of policy.rules) {
        for (const glob of rule.allow_tools) {
          const g = compileGlobs([glob]);
          const callers = (a: string) =>
            rule.model === '*' ? !ownModels.has(a) : a === rule.model;
          const matched = (pairs: typeof used) =>
            pairs.some((u) => callers(u.agent) && g.firstMatch(u.tool) >= 0);
          // Used; or unused because the key scope refuses it, and suggested as a grant: not both.
          if (matched(used) || matched(candidates)) continue;
          const since = ages.policies.get(`${rule.model}\u0000${glob}`);
          if (since === undefined || since > windowStart) continue;
          const next = { ...rule, allow_tools: rule.allow_tools.filter((x) => x !== glob) };
          drafts.push({
            kind: 'unused_permission',
            title: `Remove ${glob} from the tools ${rule.model} may use`,
            reason: `No call by ${rule.model === '*' ? 'the models without rules of their own' : rule.model} used allow_tools ${glob} between ${q.from} and ${q.to} (${days(q)} days analysed); the grant is older than that window (since ${new Date(since).toISOString()}).`,
            change: policyChange(
              q.project,
              rule.model === '*' ? '*' : rule.model,
              { rules: [next] },
              `remove the unused grant ${glob}`,
            ),
            evidence: evidence({ calls_matching: 0, days: days(q) }, []),
            confidence: round(Math.min(0.9, 0.4 + days(q) / 60)),
          });
        }
      }
      for (const [model, entry] of Object.entries(keys.models)) {
        for (const glob of entry.tools ?? []) {
          const g = compileGlobs([glob]);
          if (used.some((u) => u.agent === model && g.firstMatch(u.tool) >= 0)) continue;
          const since = ages.model_keys.get(`${model}\u0000${glob}`);
          if (since === undefined || since > windowStart) continue;
          drafts.push({
            kind: 'unused_permission',
            title: `Remove ${glob} from the key scope of ${model}`,
            reason: `No call by ${model} used its key scope ${glob} between ${q.from} and ${q.to} (${days(q)} days analysed); the scope is older than that window (since ${new Date(since).toISOString()}).`,
            change: keysChange(
              q.project,
              model,
              (entry.tools ?? []).filter((x) => x !== glob),
            ),
            evidence: evidence({ calls_matching: 0, days: days(q) }, []),
            confidence: round(Math.min(0.9, 0.4 + days(q) / 60)),
          });
        }
      }
    }

    // 4. Rate limits: agents that hit them often, and limits never approached.
    const hot = limits.rows.filter((r) => n(r.hits) >= thresholds.min_rate_hits);
    const current = policy.rate_limits as Record<string, { limit: number; window_s: number }>;
    for (const r of hot) {
      const scope = r.scope as string;
      const live = current[scope];
      if (!live || live.limit !== n(r.lim) || live.window_s !== n(r.window_s)) continue;
      const raised = { ...current, [scope]: { ...live, limit: live.limit * 2 } };
      drafts.push({
        kind: 'rate_limit_hotspot',
        title: `${r.agent_id as string} hits rate_limits.${scope} often`,
        reason: `${r.agent_id as string} was refused ${n(r.hits)} times by rate_limits.${scope} (${live.limit} calls per ${live.window_s} s) between ${q.from} and ${q.to}. If this load is expected, raise the limit (the change doubles it); if not, the agent is misbehaving and the limit works.`,
        change: policyChange(q.project, '*', { rate_limits: raised }, `raise rate_limits.${scope}`),
        evidence: evidence(
          { hits: n(r.hits), limit: live.limit, window_s: live.window_s },
          flat(r.traces),
        ),
        confidence: confidence(n(r.hits), thresholds.min_rate_hits, 0.8),
      });
    }
    const byLimit = new Map<string, { scope: string; peak: number; hits: number; calls: number }>();
    for (const r of limits.rows) {
      const k = `${r.scope as string}\u0000${n(r.lim)}\u0000${n(r.window_s)}`;
      const e = byLimit.get(k) ?? { scope: r.scope as string, peak: 0, hits: 0, calls: 0 };
      e.peak = Math.max(e.peak, n(r.peak_used));
      e.hits += n(r.hits);
      e.calls += n(r.calls);
      byLimit.set(k, e);
    }
    for (const [scope, live] of Object.entries(current)) {
      if (!live) continue;
      const e = byLimit.get(`${scope}\u0000${live.limit}\u0000${live.window_s}`);
      // Only the calls this limit counted say whether it was approached.
      if (!e || e.hits > 0 || e.calls < thresholds.min_limit_calls) continue;
      const totalCalls = e.calls;
      if (e.peak >= live.limit * thresholds.unused_limit_share) continue;
      const lowered = { ...current, [scope]: { ...live, limit: Math.max(1, e.peak * 2) } };
      drafts.push({
        kind: 'rate_limit_unused',
        title: `rate_limits.${scope} is never approached`,
        reason: `The busiest ${scope} used at most ${e.peak} of its ${live.limit} calls per ${live.window_s} s between ${q.from} and ${q.to} (${totalCalls} calls), under ${Math.round(thresholds.unused_limit_share * 100)} %. A limit at twice the peak (${Math.max(1, e.peak * 2)}) still leaves room and stops a runaway agent sooner.`,
        change: policyChange(
          q.project,
          '*',
          { rate_limits: lowered },
          `lower rate_limits.${scope}`,
        ),
        evidence: evidence({ peak_used: e.peak, limit: live.limit, calls: totalCalls }, []),
        confidence: confidence(totalCalls, thresholds.min_limit_calls, 0.75),
      });
    }

    // 5. Shadow differences: the preview would have changed N decisions.
    const differing = shadow.rows.filter((r) => r.live !== r.shadow);
    const evaluated = shadow.rows.reduce((a, r) => a + n(r.calls), 0);
    const preview = forProjectOptional(files.preview.policies, q.project);
    if (differing.length > 0 && preview) {
      const changed = differing.reduce((a, r) => a + n(r.calls), 0);
      const { proposals: _ignored, ...snippet } = preview;
      const top = differing
        .slice(0, 5)
        .map(
          (r) =>
            `${n(r.calls)}× ${r.tool as string}: ${r.live as string} → ${r.shadow as string} (${r.shadow_rule as string})`,
        );
      drafts.push({
        kind: 'shadow_difference',
        title: 'Adopt the preview (shadow) policy',
        reason: `Between ${q.from} and ${q.to}, the preview policy would have changed ${changed} of ${evaluated} decisions: ${top.join('; ')}. Adopting it would make these the decisions for the models it names (it is merged as a proposal: the live rules of models the preview does not name stay, and their calls may still be decided otherwise).`,
        change: policyChange(
          q.project,
          '*',
          snippet as Record<string, unknown>,
          'adopt the preview (shadow) policy',
        ),
        evidence: evidence(
          { evaluated, differing: changed },
          differing.flatMap((r) => flat(r.traces)),
        ),
        confidence: round(Math.min(0.9, 0.5 + evaluated / 2000)),
      });
    }

    const gone = new Map(
      dismissed.rows.map((r) => [
        r.suggestion_id as string,
        {
          by: r.dismissed_by as string,
          why: r.why as string,
          at: (r.dismissed_at as Date).toISOString(),
        },
      ]),
    );
    const suggestions = drafts
      .map((d) => {
        const id = suggestionId(q.project, d);
        return { id, ...d, dismissed: gone.get(id) ?? null };
      })
      .filter((s) => q.include_dismissed || !s.dismissed);
    return {
      project: q.project,
      window: { from: q.from, to: q.to, days: days(q) },
      thresholds,
      notes,
      suggestions,
      took_ms: Math.round(performance.now() - started),
    };
  }

  async dismiss(
    r: RequestOf<'gw.analytics.dismiss.v1'>,
  ): Promise<ResponseOf<'gw.analytics.dismiss.v1'>> {
    const row = await this.pg.query(
      `INSERT INTO analytics_dismissals (project, suggestion_id, dismissed_by, why)
       VALUES ($1, $2, $3, $4)
       ON CONFLICT (project, suggestion_id) DO UPDATE
         SET dismissed_by = excluded.dismissed_by, why = excluded.why, dismissed_at = now()
       RETURNING dismissed_at`,
      [r.project, r.id, r.by, r.why],
    );
    return {
      id: r.id,
      by: r.by,
      why: r.why,
      at: (row.rows[0]!.dismissed_at as Date).toISOString(),
    };
  }

  /**
   * When each grant (a model's allow glob, a key's scope glob) appeared: the oldest version of
   * the unbroken run of versions, up to the newest, that holds it. A grant the history does not
   * reach back to the start of is dated by the oldest version read.
   */
  private async grantAges(project: string, ctx: MessageContext) {
    const read = async (kind: PolicyKind) => {
      const page = await this.bus.request(
        POLICY_HISTORY_SUBJECT,
        { project, kind, limit: HISTORY_DEPTH },
        ctx,
      );
      const since = new Map<string, number>();
      const alive = new Set<string>();
      let first = true;
      for (const v of page.versions) {
        const detail = await this.bus.request(POLICY_VERSION_SUBJECT, { id: v.id }, ctx);
        const grants = grantsOf(kind, detail.content);
        const at = Date.parse(v.created_at);
        for (const g of grants) {
          if (first) alive.add(g);
          if (alive.has(g)) since.set(g, at);
        }
        for (const g of [...alive]) if (!grants.has(g)) alive.delete(g);
        first = false;
        if (alive.size === 0) break;
      }
      return since;
    };
    return { policies: await read('policies'), model_keys: await read('model_keys') };
  }
}

/** A version's grants as `model\0glob`: allow globs of policy rules, or key scopes. */
function grantsOf(kind: PolicyKind, content: string): Set<string> {
  const out = new Set<string>();
  let doc: unknown;
  try {
    doc = parseYaml(content);
  } catch {
    return out;
  }
  if (kind === 'policies') {
    const rules = (doc as { rules?: Array<{ model?: string; allow_tools?: string[] }> })?.rules;
    for (const r of Array.isArray(rules) ? rules : [])
      for (const g of r.allow_tools ?? []) out.add(`${r.model}\u0000${g}`);
  } else {
    const models = (doc as { models?: Record<string, { tools?: string[] }> })?.models ?? {};
    for (const [m, e] of Object.entries(models))
      for (const g of e?.tools ?? []) out.add(`${m}\u0000${g}`);
  }
  return out;
}

/** The rules a model's calls are decided by: its own, or (without any) the `*` rules. */
function rulesFor(policy: PolicyFile, model: string): Rule {
  const own = policy.rules.find((r) => r.model === model);
  if (own) return own;
  const star = policy.rules.find((r) => r.model === '*');
  return {
    model,
    allow_tools: star?.allow_tools ?? [],
    deny_tools: star?.deny_tools ?? [],
    requires_approval: star?.requires_approval ?? [],
  };
}

function policyChange(
  project: string,
  model: string,
  snippet: Record<string, unknown>,
  what: string,
): Suggestion['change'] {
  const yaml = stringify(snippet);
  return {
    file: `policies/${project}.yaml`,
    yaml,
    proposal: {
      model_id: model,
      yaml,
      justification: `Suggested by analytics (${what}); see its evidence.`,
    },
    apply: `POST /api/propose_policy with X-Project-ID: ${project} and this proposal as the body. A rule is given whole: apply one suggestion per rule, then ask for suggestions again`,
  };
}

function keysChange(project: string, model: string, tools: string[]): Suggestion['change'] {
  return {
    file: `model_keys/${project}.yaml`,
    yaml: stringify({ models: { [model]: { tools } } }),
    proposal: null,
    apply: `key scopes are not proposable: an admin edits models.${model}.tools in model_keys/${project}.yaml and saves it (POST /api/policy, kind model_keys)`,
  };
}

function suggestionId(project: string, d: Draft): string {
  return createHash('sha256')
    .update(JSON.stringify([project, d.kind, d.title, d.change.file, d.change.yaml]))
    .digest('hex')
    .slice(0, 24);
}

function days(q: { from: string; to: string }): number {
  return round((Date.parse(q.to) - Date.parse(q.from)) / 86_400_000);
}

function flat(traces: unknown): string[] {
  const joined = (traces as string[] | null) ?? [];
  return [...new Set(joined.flatMap((t) => t.split(',')).filter(Boolean))].slice(0, 5);
}
