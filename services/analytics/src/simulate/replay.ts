import {
  remoteToolOf,
  type CatalogueTool,
  type Channel,
  type ErrorCode,
  type ResponseOf,
} from '@sg/contracts';
import {
  compileCatalogue,
  evaluate,
  isWriteTool,
  limitOutcome,
  HISTORY_LENGTH,
  type CompiledKeys,
  type CompiledPolicy,
  type RegisteredTool,
  type SessionSnapshot,
} from '@sg/policy-engine';
import { deciding } from '../ingest/fold.js';

type Simulated = ResponseOf<'gw.analytics.simulate.v1'>;
export type SimulatedCall = Simulated['calls'][number];

/** One call to replay: as recorded (with the decision it got), or from a trace in the body. */
export interface ReplayCall {
  at: Date;
  trace_id: string | null;
  agent_id: string;
  session_id: string;
  user_id: string | null;
  channel: Channel;
  tool: string;
  arguments: Record<string, unknown>;
  recorded: {
    allowed: boolean;
    code: ErrorCode | null;
    requires_approval: boolean;
    outcome: string;
  } | null;
}

/** The policy a simulation decides with: one project's compiled files and the registry. */
export interface SimulationPolicy {
  version: string;
  registry: ReadonlyMap<string, RegisteredTool>;
  policy: CompiledPolicy;
  keys: CompiledKeys;
}

interface SessionState {
  calls: number;
  writes: number;
  denials: number;
  /** Tools of the session, most recent first (at most HISTORY_LENGTH), as Redis keeps them. */
  history: string[];
}

/**
 * Decides each call again, in order, with `evaluate` (the function the gateway decides with),
 * against `target`. The state a decision counts is simulated in memory, as the Redis script
 * keeps it: the session's calls, writes, denials and tool history, and each rate limit's fixed
 * window (starting with its first point), on the calls' recorded times. Nothing is counted in
 * Redis, nothing runs, nothing is published.
 */
export function replay(calls: readonly ReplayCall[], target: SimulationPolicy): Simulated['calls'] {
  const sessions = new Map<string, SessionState>();
  const windows = new Map<string, { used: number; resetAt: number }>();
  const remote = new Map<string, RegisteredTool>();
  const out: Simulated['calls'] = [];
  const rateLimits = target.policy.policy.rate_limits;

  calls.forEach((c, index) => {
    const tool = target.registry.get(c.tool) ?? remoteTool(remote, c.tool);
    // Rate limits: a fixed window per limit, as the gateway counts them.
    const wanted = [{ scope: 'agent', key: c.agent_id, ...rateLimits.agent }];
    if (c.user_id) wanted.push({ scope: 'user', key: c.user_id, ...rateLimits.user });
    if (rateLimits.tool) wanted.push({ scope: 'tool', key: c.tool, ...rateLimits.tool });
    const now = c.at.getTime();
    const counted = wanted.map((w) => {
      const k = `${w.scope}:${w.limit}/${w.window_s}:${w.key}`;
      let win = windows.get(k);
      if (!win || now >= win.resetAt) {
        win = { used: 0, resetAt: now + w.window_s * 1000 };
        windows.set(k, win);
      }
      win.used += 1;
      return { ...w, used: win.used, ttl: win.resetAt - now };
    });
    const limits = limitOutcome(counted);

    // The session: its history before this call, then this call counted.
    const sk = `${c.agent_id}\u0000${c.session_id}`;
    const s = sessions.get(sk) ?? { calls: 0, writes: 0, denials: 0, history: [] };
    sessions.set(sk, s);
    const history = [...new Set(s.history)];
    s.history.unshift(c.tool);
    s.history.length = Math.min(s.history.length, HISTORY_LENGTH);
    s.calls += 1;
    if (isWriteTool(c.tool, tool)) s.writes += 1;
    const session: SessionSnapshot = {
      calls: s.calls,
      writes: s.writes,
      denials: s.denials,
      history,
    };

    const d = evaluate({
      req: {
        project: 'simulation',
        agent_id: c.agent_id,
        ...(c.user_id ? { user_id: c.user_id } : {}),
        session_id: c.session_id,
        request_id: `simulated-${index}`,
        channel: c.channel,
        tool: c.tool,
        arguments: c.arguments,
      },
      tool,
      policy: target.policy,
      keys: target.keys,
      limits,
      session,
      now: c.at,
      version: target.version,
    });
    if (!d.allowed) s.denials += 1;
    const failed = d.rule_trace.find((r) => r.outcome === 'fail');
    const simulated = {
      allowed: d.allowed,
      code: d.code,
      requires_approval: d.requires_approval,
      reason: d.reason,
      risk_score: d.risk_score,
      rule: d.allowed || failed?.rule ? deciding(d.rule_trace, d.allowed) : null,
      check: failed?.check ?? null,
    };
    out.push({
      index,
      trace_id: c.trace_id,
      at: c.at.toISOString(),
      agent_id: c.agent_id,
      session_id: c.session_id,
      tool: c.tool,
      recorded: c.recorded,
      simulated,
      difference: difference(c.recorded, simulated),
    });
  });
  return out;
}

/** How the simulated decision differs from the recorded one. */
export function difference(
  recorded: ReplayCall['recorded'],
  simulated: { allowed: boolean; code: string | null; requires_approval: boolean },
): SimulatedCall['difference'] {
  if (!recorded) return 'none';
  if (recorded.allowed && !simulated.allowed) return 'allow→deny';
  if (!recorded.allowed && simulated.allowed) return 'deny→allow';
  if (recorded.code !== simulated.code) return 'code';
  if (recorded.requires_approval !== simulated.requires_approval) return 'approval';
  return 'none';
}

export function summarize(calls: Simulated['calls']): Simulated['summary'] {
  const count = (f: (c: SimulatedCall) => boolean) => calls.filter(f).length;
  return {
    calls: calls.length,
    compared: count((c) => c.recorded !== null),
    changed: count((c) => c.difference !== 'none'),
    allow_to_deny: count((c) => c.difference === 'allow→deny'),
    deny_to_allow: count((c) => c.difference === 'deny→allow'),
    code_changed: count((c) => c.difference === 'code'),
    approval_changed: count((c) => c.difference === 'approval'),
    simulated_allowed: count((c) => c.simulated.allowed),
    simulated_denied: count((c) => !c.simulated.allowed),
  };
}

/**
 * A peer's tool (`<peer>/<tool>`): the peer's catalogue is not fetched for a simulation, so its
 * arguments are not checked against the peer's schema; every other check applies.
 */
function remoteTool(cache: Map<string, RegisteredTool>, name: string): RegisteredTool | undefined {
  const remote = remoteToolOf(name);
  if (!remote) return undefined;
  let tool = cache.get(name);
  if (!tool) {
    const entry = {
      name: remote.tool,
      description: '',
      input_schema: { type: 'object', additionalProperties: true },
      pii: false,
      writes: false,
      idempotent: false,
    } as unknown as CatalogueTool;
    tool = compileCatalogue(remote.peer, [entry]).tools.get(name);
    if (tool) cache.set(name, tool);
  }
  return tool;
}
