import { Inject, Injectable } from '@nestjs/common';
import {
  GatewayError,
  POLICY_VERSION_SUBJECT,
  SIMULATE_MAX_CALLS,
  TOOLCALL_COMPLETED,
  type Channel,
  type ErrorCode,
  type SimulateRequest,
  type Simulation,
} from '@sg/contracts';
import { ConfigSync, NatsBus, type MessageContext } from '@sg/messaging';
import { compileCandidate, PolicyStore } from '@sg/policy-engine';
import type { Pool } from 'pg';
import { PG } from '../store/pg.provider.js';
import { replay, summarize, type ReplayCall, type SimulationPolicy } from './replay.js';

/** Recorded calls read per query. */
const PAGE = 1000;
/** Room left in a reply for its envelope and summary. */
const REPLY_HEADROOM = 32 * 1024;

interface StoredRow {
  trace_id: string;
  occurred_at: Date;
  data: {
    agent_id?: string | null;
    session_id?: string | null;
    user_id?: string | null;
    tool?: string | null;
    channel?: Channel;
    outcome?: string;
    duration_ms?: number;
    arguments?: Record<string, unknown>;
    decision?: {
      allowed: boolean;
      code: ErrorCode | null;
      requires_approval: boolean;
      rule_trace?: Array<{ check: string }>;
      reasoning?: string[];
    } | null;
  };
}

/**
 * POST /api/simulate (seed 002): recorded calls (a session, a window) or a trace from the body,
 * decided again against the live policy, a stored version or a candidate policy file. Reads
 * audit_events (as the audit service stored them: arguments masked) and the policy versions;
 * writes nothing and publishes nothing (the ingress records the request itself).
 */
@Injectable()
export class SimulateService {
  constructor(
    @Inject(PG) private readonly pg: Pool,
    private readonly store: PolicyStore,
    private readonly config: ConfigSync,
    private readonly bus: NatsBus,
  ) {}

  async simulate(req: SimulateRequest, ctx: MessageContext): Promise<Simulation> {
    const started = performance.now();
    const target = await this.target(req, ctx);
    const { calls, truncated } = await this.calls(req);
    const simulated = replay(calls, target.policy);
    const summary = summarize(simulated);
    const { kept, omitted } = fit(simulated, this.bus.maxPayload - REPLY_HEADROOM);
    return {
      project: req.project,
      against: target.against,
      calls: kept,
      summary,
      truncated,
      omitted,
      took_ms: Math.round(performance.now() - started),
    };
  }

  private async target(
    req: SimulateRequest,
    ctx: MessageContext,
  ): Promise<{ policy: SimulationPolicy; against: Simulation['against'] }> {
    const live = this.store.snapshot(req.project);
    if (!live)
      throw new GatewayError(
        'REQUEST.UNKNOWN_PROJECT',
        `project ${req.project} is not configured; check X-Project-ID (or the body's project)`,
      );
    const a = req.against;
    if ('live' in a) return { policy: live, against: { kind: 'live', version: live.version } };
    let kind: 'policies' | 'contextual_policies' | 'model_keys' = 'policies';
    let yaml: string;
    let version: string;
    if ('version_id' in a) {
      const v = await this.bus.request(POLICY_VERSION_SUBJECT, { id: a.version_id }, ctx);
      if (v.project !== req.project)
        throw new GatewayError(
          'POLICY.VERSION_NOT_FOUND',
          `version ${a.version_id} is a version of project ${v.project}, not ${req.project}`,
        );
      if (!v.verified)
        throw new GatewayError(
          'POLICY.VERSION_UNVERIFIED',
          `version ${a.version_id} does not verify against the policy signing key; it is not simulated`,
        );
      kind = v.kind;
      yaml = v.content;
      version = v.id;
    } else {
      yaml = a.policy_yaml;
      version = 'candidate';
    }
    const compiled = compileCandidate(this.config.files, req.project, kind, yaml);
    if (!('policy' in compiled))
      throw new GatewayError(
        'ANALYTICS.CANDIDATE_INVALID',
        `the ${version === 'candidate' ? 'candidate' : `stored version's`} ${kind} file has ${compiled.problems.length} problem(s): ${compiled.problems
          .slice(0, 3)
          .map((p) => `${p.line ? `line ${p.line}: ` : ''}${p.reason}`)
          .join('; ')}`,
        { problems: compiled.problems },
      );
    return {
      policy: { version, registry: live.registry, policy: compiled.policy, keys: compiled.keys },
      against: { kind: version === 'candidate' ? 'candidate' : 'version', version },
    };
  }

  private async calls(req: SimulateRequest): Promise<{ calls: ReplayCall[]; truncated: boolean }> {
    const s = req.source;
    if (s.kind === 'trace') {
      const now = Date.now();
      return {
        calls: s.tool_calls.map((c, i) => ({
          at: new Date(now + i),
          trace_id: null,
          agent_id: s.model_id,
          session_id: s.session_id,
          user_id: s.user_id ?? null,
          channel: 'rest',
          tool: c.tool,
          arguments: c.input,
          recorded: null,
        })),
        truncated: false,
      };
    }
    const limit = s.kind === 'session' ? SIMULATE_MAX_CALLS : s.limit;
    const filter =
      s.kind === 'session'
        ? { sql: `data->>'session_id' = $3`, params: [s.session_id] }
        : { sql: 'occurred_at >= $3 AND occurred_at < $4', params: [s.from, s.to] };
    const k = 3 + filter.params.length;
    // Read in pages, each row reduced at once to what a replay needs: a stored call may hold a
    // result of up to 64 KB, and 10,000 of them whole are not kept in memory.
    const calls: ReplayCall[] = [];
    let read = 0;
    let truncated = false;
    let after: [Date, string] = [new Date(0), '0'];
    for (;;) {
      const want = Math.min(PAGE, limit + 1 - read);
      const page = await this.pg.query<StoredRow & { chain_seq: string }>(
        `SELECT chain_seq, trace_id, occurred_at, data FROM audit_events
         WHERE project = $1 AND subject = $2 AND ${filter.sql}
           AND (occurred_at, chain_seq) > ($${k}, $${k + 1})
         ORDER BY occurred_at, chain_seq LIMIT ${want}`,
        [req.project, TOOLCALL_COMPLETED, ...filter.params, after[0], after[1]],
      );
      for (const r of page.rows) {
        if (read === limit) {
          truncated = true;
          break;
        }
        read += 1;
        calls.push(...replayable(r));
      }
      if (truncated || page.rows.length < want) break;
      const last = page.rows.at(-1)!;
      after = [last.occurred_at, last.chain_seq];
    }
    // Replayed in the order they were decided: a call is recorded when it is answered, after its
    // run (occurred_at), so its decision came duration_ms earlier.
    calls.sort((a, b) => a.at.getTime() - b.at.getTime());
    if (s.kind === 'session' && calls.length === 0)
      throw new GatewayError(
        'ANALYTICS.SESSION_NOT_FOUND',
        `no decided calls of session ${s.session_id} are recorded in project ${req.project}; check the session id and the project`,
      );
    return { calls, truncated };
  }
}

/**
 * The calls that fit in `budget` bytes of JSON, in their order: the changed ones first, then
 * unchanged ones while room is left.
 */
export function fit(calls: Simulation['calls'], budget: number) {
  const size = (c: Simulation['calls'][number]) => Buffer.byteLength(JSON.stringify(c)) + 1;
  const keep = new Set<number>();
  let left = budget;
  for (const pass of [true, false])
    for (const c of calls) {
      if ((c.difference !== 'none') !== pass) continue;
      const s = size(c);
      if (s > left) continue;
      left -= s;
      keep.add(c.index);
    }
  return { kept: calls.filter((c) => keep.has(c.index)), omitted: calls.length - keep.size };
}

/**
 * A recorded call that policy decided, as a call to replay; nothing for the answers no decision
 * was made for (refused before authentication or validation), for repeats of a request_id (not
 * decided again), and for the run of an approved call (its re-check counted nothing: the call
 * itself was replayed when it was first decided).
 */
function replayable(r: StoredRow): ReplayCall[] {
  const d = r.data;
  const decision = d.decision;
  if (!decision || !d.agent_id || !d.session_id || !d.tool || !d.arguments) return [];
  if (decision.rule_trace?.some((t) => t.check === 'idempotency')) return [];
  if (decision.reasoning?.some((t) => t.startsWith('Rate limits: not counted again'))) return [];
  return [
    {
      at: new Date(new Date(r.occurred_at).getTime() - (d.duration_ms ?? 0)),
      trace_id: r.trace_id,
      agent_id: d.agent_id,
      session_id: d.session_id,
      user_id: d.user_id ?? null,
      channel: d.channel ?? 'rest',
      tool: d.tool,
      arguments: d.arguments,
      recorded: {
        allowed: decision.allowed,
        code: decision.code,
        requires_approval: decision.requires_approval,
        outcome: d.outcome ?? 'unknown',
      },
    },
  ];
}
