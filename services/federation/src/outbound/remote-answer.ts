import {
  ERROR_CODES,
  type ErrorBody,
  type ErrorCode,
  GatewayError,
  type OutboundAnswer,
  type RemoteDecision,
} from '@sg/contracts';
import type { PeerAnswer } from './peer-client.js';

function text(v: unknown, max: number): string | null {
  return typeof v === 'string' ? v.slice(0, max) : null;
}

function record(v: unknown): Record<string, unknown> | null {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/** The peer's error as it sent it, bounded; its code may be one this gateway does not know. */
function remoteError(v: unknown): { code: string; message: string } | null {
  const e = record(v);
  const code = text(e?.code, 64);
  return code ? { code, message: text(e?.message, 2000) ?? '' } : null;
}

/**
 * What the agent gets from a peer's answer to `/forward` (docs/federation.md, "Answers"): the
 * peer's decision and result under `remote_decision`, and the HTTP status and error of the
 * whole call. A peer that ran the tool: 200. Pending at the peer: 202. A refusal with a code this
 * gateway knows: the peer's status and code, its message prefixed by the peer's id. The peer
 * refusing this gateway itself (401): FEDERATION.PEER_REJECTED, an operator's problem, not the
 * agent's. Anything else: FEDERATION.PEER_ERROR.
 */
export function agentAnswerOf(peer: string, answer: PeerAnswer): OutboundAnswer {
  const b = answer.body;
  const error = remoteError(b.error);
  const executed = answer.status === 200 && b.success === true;
  const pending = answer.status === 202 && b.status === 'pending_approval';
  const remote: RemoteDecision = {
    gateway: peer,
    http_status: answer.status,
    allowed: b.allowed === true,
    status: executed ? 'executed' : pending ? 'pending_approval' : 'refused',
    decision: record(b.decision),
    ...(executed ? { result: b.result } : {}),
    ...(error ? { error } : {}),
    ...(pending && text(b.approval_id, 128) ? { approval_id: text(b.approval_id, 128)! } : {}),
    trace_id: text(b.trace_id, 64),
    audit_id: text(b.audit_id, 64),
  };
  if (executed || pending) return { status: answer.status, headers: {}, remote_decision: remote };
  let mine: ErrorBody;
  let status = answer.status;
  if (answer.status === 401) {
    status = 502;
    mine = new GatewayError(
      'FEDERATION.PEER_REJECTED',
      `peer ${peer} refused this gateway (${error?.code ?? 'HTTP 401'}: ${error?.message ?? 'no reason given'}); an operator must check this pair in both trusted_peers.yaml files`,
      { peer },
    ).toBody();
  } else if (error && error.code in ERROR_CODES && answer.status >= 400) {
    mine = {
      code: error.code as ErrorCode,
      message: `${peer}: ${error.message}`,
      details: { peer },
    };
  } else {
    status = 502;
    mine = new GatewayError(
      'FEDERATION.PEER_ERROR',
      `peer ${peer} answered HTTP ${answer.status}${error ? ` ${error.code}` : ''} without a decision this gateway understands`,
      { peer, http_status: answer.status, ...(error ? { code: error.code } : {}) },
    ).toBody();
  }
  return { status, headers: answer.headers, error: mine, remote_decision: remote };
}
