import { createHash } from 'node:crypto';
import type { PolicyFile } from '@sg/config';
import type { Alert, AlertSeverity, AlertType, ToolCallCompleted } from '@sg/contracts';
import type { Rewrite } from '../store/event-store.js';
import { storableJson } from '../store/event-store.js';

export type AnomalyConfig = PolicyFile['anomalies'];

/** One completed call, as the detectors see it (the event envelope with its data). */
export interface CompletedCall {
  event_id: string;
  occurred_at: string;
  trace_id: string;
  project: string;
  data: ToolCallCompleted;
}

/**
 * The call counts toward the sliding window of (type, key); `need` events in `window_s`
 * raise the alert. `threshold` is what the alert reports (risk_at for high-risk sessions).
 */
export interface WindowSignal {
  type: Extract<
    AlertType,
    'denial_spike' | 'rate_limit_storm' | 'high_risk_session' | 'tool_drift' | 'forged_peer_calls'
  >;
  key: string;
  need: number;
  window_s: number;
  threshold: number;
}

/** The call names a tool or agent; `alert` is false when the project turned that detector off. */
export interface FirstSeenSignal {
  type: Extract<AlertType, 'new_tool' | 'new_agent'>;
  kind: 'tool' | 'agent';
  name: string;
  alert: boolean;
}

export const SEVERITY: Record<AlertType, AlertSeverity> = {
  denial_spike: 'high',
  rate_limit_storm: 'medium',
  high_risk_session: 'high',
  new_tool: 'low',
  new_agent: 'low',
  chain_broken: 'critical',
  tool_drift: 'high',
  forged_peer_calls: 'high',
  policy_tampered: 'critical',
};

const RATE_LIMITED = 'POLICY.RATE_LIMITED';

/** The window detectors one call feeds, under the project's config. */
export function windowSignals(call: CompletedCall, cfg: AnomalyConfig): WindowSignal[] {
  const d = call.data;
  const out: WindowSignal[] = [];
  // A rate-limited call is also a denial; it feeds the storm detector only, so one flood of
  // 429s raises one kind of alert, not two.
  if (cfg.denial_spike.enabled && d.outcome === 'denied' && d.code !== RATE_LIMITED) {
    const c = cfg.denial_spike;
    out.push({
      type: 'denial_spike',
      key: call.project,
      need: c.count,
      window_s: c.window_s,
      threshold: c.count,
    });
  }
  if (cfg.rate_limit_storm.enabled && d.code === RATE_LIMITED) {
    const c = cfg.rate_limit_storm;
    out.push({
      type: 'rate_limit_storm',
      key: call.project,
      need: c.count,
      window_s: c.window_s,
      threshold: c.count,
    });
  }
  // risk_score is set only when the policy service decided, so the agent authenticated.
  if (
    cfg.high_risk_session.enabled &&
    d.risk_score !== null &&
    d.risk_score >= cfg.high_risk_session.risk_at &&
    d.agent_id !== null &&
    d.session_id !== null
  ) {
    // One alert per risky agent and cooldown, whatever its session: an agent that opens a new
    // session every few calls would otherwise raise one alert per session. The window (one
    // cooldown long) counts the agent's risky calls.
    out.push({
      type: 'high_risk_session',
      key: boundedKey(d.agent_id),
      need: 1,
      window_s: cfg.cooldown_s,
      threshold: cfg.high_risk_session.risk_at,
    });
  }
  // Peer gateways that fail authentication (/forward answered 401): counted as denials are,
  // with the denial_spike thresholds, under its own type.
  if (cfg.denial_spike.enabled && d.channel === 'federation' && d.http_status === 401) {
    const c = cfg.denial_spike;
    out.push({
      type: 'forged_peer_calls',
      key: call.project,
      need: c.count,
      window_s: c.window_s,
      threshold: c.count,
    });
  }
  // Always on: a pinned tool that changed is refused, and someone must review it.
  if (d.code === 'EXECUTOR.TOOL_PIN_MISMATCH' && d.tool !== null) {
    out.push({
      type: 'tool_drift',
      key: boundedKey(d.tool),
      need: 1,
      window_s: cfg.cooldown_s,
      threshold: 1,
    });
  }
  return out;
}

/**
 * The names one call makes known. Only authenticated agents count (agent_id is null on a
 * 401), so random names from the internet create neither rows nor alerts; a tool counts once
 * the policy service decided on it (risk_score set) and found it registered, so an agent
 * probing made-up tool names cannot flood the SIEM either.
 */
export function firstSeenSignals(call: CompletedCall, cfg: AnomalyConfig): FirstSeenSignal[] {
  const d = call.data;
  if (d.agent_id === null) return [];
  const out: FirstSeenSignal[] = [
    {
      type: 'new_agent',
      kind: 'agent',
      name: boundedKey(d.agent_id),
      alert: cfg.first_seen.agents,
    },
  ];
  if (d.tool !== null && d.risk_score !== null && d.code !== 'POLICY.TOOL_NOT_REGISTERED') {
    out.push({
      type: 'new_tool',
      kind: 'tool',
      name: boundedKey(d.tool),
      alert: cfg.first_seen.tools,
    });
  }
  return out;
}

const MAX_KEY = 256;

/**
 * The dedupe key as stored (alerts.key, audit_seen.name, Redis): storable (no U+0000, no lone
 * surrogate half) and at most 256 characters, a longer one shortened with a digest of the
 * whole so that keys stay distinct.
 */
export function boundedKey(s: string): string {
  const c = storableJson(s) as string;
  return c.length <= MAX_KEY
    ? c
    : `${head(c, MAX_KEY - 17)}~${createHash('sha256').update(c).digest('hex').slice(0, 16)}`;
}

/**
 * The id of the alert of (type, key) that the event `eventId` raises: a UUIDv8 from SHA-256
 * (RFC 9562, B.2). A redelivered event can so tell whether it raised an alert before (and
 * publish it again), without a column that names the event.
 */
export function alertIdOf(eventId: string, type: AlertType, key: string): string {
  const b = createHash('sha256')
    .update(`sg-alert\u0000${eventId}\u0000${type}\u0000${key}`)
    .digest();
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export interface AlertFacts {
  alert_id: string;
  raised_at: Date;
  count: number;
  trace_ids: string[];
}

/** The alert a window detector raises for `call`, the event that crossed the threshold. */
export function windowAlert(call: CompletedCall, s: WindowSignal, f: AlertFacts): Alert {
  const d = call.data;
  const session = s.type === 'high_risk_session';
  const drift = s.type === 'tool_drift';
  const summary = drift
    ? `the MCP server of tool ${d.tool} advertises another description or input schema than the one pinned in the registry (a possible rug pull); ${f.count} call(s) refused within ${s.window_s} s. Review the server, then run import-mcp-tools again`
    : s.type === 'denial_spike'
      ? `${f.count} denied calls within ${s.window_s} s in project ${call.project} (alert at ${s.need})`
      : s.type === 'rate_limit_storm'
        ? `${f.count} rate-limited calls within ${s.window_s} s in project ${call.project} (alert at ${s.need})`
        : `agent ${d.agent_id} reached risk score ${d.risk_score} in session ${d.session_id} (alert at ${s.threshold}); ${f.count} such calls by this agent within ${s.window_s} s`;
  return alertOf(call.project, s.type, s.key, summary, f, {
    threshold: s.threshold,
    window_s: s.window_s,
    // Spikes and storms are about the project: naming the agent of the last call would mislead.
    agent_id: session ? d.agent_id : null,
    session_id: session ? d.session_id : null,
    tool: session || drift ? d.tool : null,
  });
}

/** The alert for a tool or agent the project has never seen. */
export function firstSeenAlert(
  call: CompletedCall,
  s: FirstSeenSignal,
  f: Omit<AlertFacts, 'count' | 'trace_ids'>,
): Alert {
  const d = call.data;
  const summary =
    s.kind === 'tool'
      ? `tool ${s.name} was called for the first time in project ${call.project} (by agent ${d.agent_id})`
      : `agent ${s.name} called the gateway for the first time in project ${call.project}`;
  return alertOf(
    call.project,
    s.type,
    s.name,
    summary,
    { ...f, count: 1, trace_ids: [call.trace_id] },
    {
      threshold: null,
      window_s: null,
      agent_id: d.agent_id,
      session_id: d.session_id,
      tool: d.tool,
    },
  );
}

/** The id of the chain_broken alert of `r`: the same change found again is the same alert. */
export function chainBrokenAlertId(project: string, r: Rewrite): string {
  return alertIdOf(`chain:${r.what}:${r.chain_seq}:${r.found ?? 'gone'}`, 'chain_broken', project);
}

/**
 * `chain_broken`: what an instance wrote, changed in PostgreSQL (`Rewrite`). Key: the position of
 * the row, so each changed row is one alert; the id also covers what was found there.
 */
export function chainBrokenAlert(project: string, r: Rewrite, raisedAt: Date): Alert {
  const computed = `${r.computed.slice(0, 12)}…`;
  const summary =
    r.what === 'row'
      ? `audit row ${r.chain_seq} of project ${project} was changed in PostgreSQL after it was stored (stored with hash ${computed}, ${r.found === null ? 'now gone' : `now hash ${r.found.slice(0, 12)}…`})`
      : `the audit chain head of project ${project} was changed in PostgreSQL (this instance stored row ${r.chain_seq} with hash ${computed} last; the head ${r.found === null ? 'is gone' : `names ${r.found.slice(0, 24)}…`}): rows after it may have been deleted`;
  return alertOf(
    project,
    'chain_broken',
    String(r.chain_seq),
    `${summary}; run GET /api/audit/verify?project=${project}`,
    { alert_id: chainBrokenAlertId(project, r), raised_at: raisedAt, count: 1, trace_ids: [] },
    { threshold: null, window_s: null, agent_id: null, session_id: null, tool: null },
  );
}

/** An alert another service found (gw.audit.raise_alert.v1): one per project, type and key. */
export function reportedAlert(
  r: { type: AlertType; project: string; key: string; summary: string },
  raisedAt: Date,
): Alert {
  return alertOf(
    r.project,
    r.type,
    r.key,
    r.summary,
    { alert_id: reportedAlertId(r), raised_at: raisedAt, count: 1, trace_ids: [] },
    { threshold: null, window_s: null, agent_id: null, session_id: null, tool: null },
  );
}

export function reportedAlertId(r: { type: AlertType; project: string; key: string }): string {
  return alertIdOf(`reported:${r.key}`, r.type, r.project);
}

/** Stored as is by AlertStore, which makes it storable (storableJson) in one place for all. */
function alertOf(
  project: string,
  type: AlertType,
  key: string,
  summary: string,
  f: AlertFacts,
  rest: Pick<Alert, 'threshold' | 'window_s' | 'agent_id' | 'session_id' | 'tool'>,
): Alert {
  return {
    alert_id: f.alert_id,
    type,
    severity: SEVERITY[type],
    project,
    key,
    summary: head(summary, 500),
    count: f.count,
    threshold: rest.threshold,
    window_s: rest.window_s,
    agent_id: rest.agent_id,
    session_id: rest.session_id,
    tool: rest.tool,
    trace_ids: [...new Set(f.trace_ids)].slice(-20),
    raised_at: f.raised_at.toISOString(),
  };
}

/** At most `max` UTF-16 units, without cutting a surrogate pair in half. */
function head(s: string, max: number): string {
  if (s.length <= max) return s;
  const code = s.charCodeAt(max - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}
