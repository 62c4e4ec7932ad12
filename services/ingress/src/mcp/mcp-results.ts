import type { CallToolResult, ElicitRequestURLParams } from '@modelcontextprotocol/sdk/types.js';
import type { ErrorBody } from '@sg/contracts';
import type { HttpAnswer } from '../toolcall/toolcall.service.js';

/** `_meta` keys of SecureGateway on MCP results (the spec's prefix/name form). */
export const META = {
  traceId: 'securegateway/trace_id',
  auditId: 'securegateway/audit_id',
  riskScore: 'securegateway/risk_score',
  requestId: 'securegateway/request_id',
  userId: 'securegateway/user_id',
  requiresApproval: 'securegateway/requires_approval',
} as const;

const CONTENT_TYPES = new Set(['text', 'image', 'audio', 'resource', 'resource_link']);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An MCP upstream's own content items, passed on as they came (the executor keeps them when they are not one text). */
function isContentList(v: unknown): v is CallToolResult['content'] {
  return (
    Array.isArray(v) &&
    v.length > 0 &&
    v.every((i) => isPlainObject(i) && typeof i.type === 'string' && CONTENT_TYPES.has(i.type))
  );
}

function metaOf(body: Record<string, unknown>) {
  return {
    [META.traceId]: body.trace_id,
    [META.auditId]: body.audit_id,
    ...(typeof body.risk_score === 'number' ? { [META.riskScore]: body.risk_score } : {}),
  };
}

/** A successful run: the result as text (JSON unless it is a string), and as structuredContent when it is an object. */
export function successResult(result: unknown, body: Record<string, unknown>): CallToolResult {
  const content = isContentList(result)
    ? result
    : [
        {
          type: 'text' as const,
          text: typeof result === 'string' ? result : (JSON.stringify(result) ?? 'null'),
        },
      ];
  return {
    content,
    ...(isPlainObject(result) ? { structuredContent: result } : {}),
    _meta: metaOf(body),
  };
}

/**
 * A call the gateway did not run, or whose run failed: an `isError` result, so the model reads why and
 * can choose another way (MCP: errors of a tool call are results, not protocol errors). The text
 * says the code, the reason, the suggestions and the trace id; structuredContent holds the same
 * fields as the REST answer (`error`, `decision`, `trace_id`, `audit_id`).
 */
export function errorResult(body: Record<string, unknown>): CallToolResult {
  const error = body.error as ErrorBody;
  const decision = body.decision as { suggestions?: string[] } | undefined;
  // The gateway refused it, or let it through and the tool failed: the model should know which.
  const ran = error.code.startsWith('EXECUTOR.') && error.code !== 'EXECUTOR.TOOL_PIN_MISMATCH';
  const lines = [
    ran
      ? `The tool call failed (${error.code}): ${error.message}`
      : `SecureGateway refused the call (${error.code}): ${error.message}`,
  ];
  const suggestions = decision?.suggestions ?? [];
  if (suggestions.length) lines.push('Suggestions:', ...suggestions.map((s) => `- ${s}`));
  lines.push(`trace_id: ${String(body.trace_id)}`);
  return {
    isError: true,
    content: [{ type: 'text', text: lines.join('\n') }],
    structuredContent: {
      success: false,
      error,
      ...(decision ? { decision } : {}),
      trace_id: body.trace_id,
      ...(body.audit_id ? { audit_id: body.audit_id } : {}),
    },
    _meta: metaOf(body),
  };
}

export interface PendingApproval {
  approval_id: string;
  expires_at: string;
  url: string;
  trace_id: string;
}

function pendingText(p: PendingApproval): string {
  return (
    `This call needs a person's approval before it runs (approval ${p.approval_id}, until ${p.expires_at}). ` +
    `Approve it at ${p.url}. Once approved, the gateway runs exactly this call once; ` +
    'call the tool again with the same arguments in this session to get its result.'
  );
}

/**
 * A call waiting for approval, for a client without URL-mode elicitation: an `isError` result
 * (nothing ran) whose structuredContent has `status: "pending_approval"`, the approval id and
 * the link.
 */
export function pendingResult(p: PendingApproval, body: Record<string, unknown>): CallToolResult {
  return {
    isError: true,
    content: [{ type: 'text', text: `${pendingText(p)}\ntrace_id: ${p.trace_id}` }],
    structuredContent: {
      success: false,
      status: 'pending_approval',
      approval_id: p.approval_id,
      approval_url: p.url,
      expires_at: p.expires_at,
      ...(body.decision ? { decision: body.decision } : {}),
      trace_id: p.trace_id,
      ...(body.audit_id ? { audit_id: body.audit_id } : {}),
    },
    _meta: metaOf(body),
  };
}

/** The same, as the URL-mode elicitation of a URLElicitationRequiredError (-32042, 2025-11-25). */
export function approvalElicitation(p: PendingApproval): ElicitRequestURLParams {
  return { mode: 'url', elicitationId: p.approval_id, url: p.url, message: pendingText(p) };
}

/** An answer of the governed path whose status says the call ran and succeeded. */
export function succeeded(answer: HttpAnswer): boolean {
  return answer.status === 200 && answer.body.success === true;
}
