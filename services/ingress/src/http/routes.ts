import {
  ANALYTICS_DISMISS_SUBJECT,
  ANALYTICS_RISK_SESSIONS_SUBJECT,
  ANALYTICS_RISK_TREND_SUBJECT,
  ANALYTICS_SHADOW_REPORT_SUBJECT,
  ANALYTICS_SIMULATE_SUBJECT,
  ANALYTICS_SUGGEST_SUBJECT,
  ANALYTICS_SUMMARY_SUBJECT,
  APPROVAL_GET_SUBJECT,
  APPROVAL_LIST_SUBJECT,
  AUDIT_ACK_ALERT_SUBJECT,
  AUDIT_ALERTS_SUBJECT,
  AUDIT_CHECKPOINTS_SUBJECT,
  AUDIT_RECORDS_SUBJECT,
  AUDIT_SESSION_SUBJECT,
  AUDIT_TRACE_SUBJECT,
  AUDIT_VERIFY_SUBJECT,
  auditRecordSchema,
  FEDERATION_PEERS_SUBJECT,
  lintProblemSchema,
  lintRequestSchema,
  POLICY_PROPOSAL_RESOLVE_SUBJECT,
  POLICY_PROPOSALS_SUBJECT,
  POLICY_ROLLBACK_SUBJECT,
  POLICY_SAVE_SUBJECT,
  POLICY_SIGNING_KEY_SUBJECT,
  POLICY_VERSION_SUBJECT,
  POLICY_HISTORY_SUBJECT,
  REQUESTS,
  toolCallAnswerSchema,
  type RequestSubject,
} from '@sg/contracts';
import { type HttpRoute, openApiDocument, type RouteAnswer, serviceRoutes } from '@sg/runtime';
import { z } from 'zod';
import { ackBodySchema } from '../admin/alert-ack.js';
import { dismissBodySchema, simulateBodySchema } from '../admin/analytics.controller.js';
import { QUERIES, querySchemaOf } from '../admin/audit-query.js';
import { rollbackBodySchema, saveRequestSchema } from '../admin/policy.controller.js';
import {
  proposeAnswerSchema,
  proposeBodySchema,
  proposalReviewSchema,
  reviewBodySchema,
} from '../admin/proposals.controller.js';
import { approveAnswerSchema, approveBodySchema } from '../approvals/approvals.controller.js';
import { dashSessionSchema } from '../admin/dash-session.controller.js';
import { gatewayHealthSchema } from '../health/health.controller.js';
import { APPROVALS_QUERY } from '../approvals/approvals-query.js';
import { authorizeSchema, completedAnswerSchema, completeSchema } from '../sdk/sdk.controller.js';
import { protectedResourceSchema } from '../auth/oauth.js';
import { mcpToolCallSchema, toolCallEnvelopeSchema } from '../toolcall/envelopes.js';

/** The answer of a route that relays its bus request's answer as it is. */
const relayed = (subject: RequestSubject, description = 'The answer'): RouteAnswer => ({
  description,
  schema: REQUESTS[subject].response,
});

const PROJECT_HEADER = {
  'X-Project-ID': { description: 'The project (`default` when left out)' },
};
const IDEMPOTENCY = {
  'Idempotency-Key': {
    description: 'The same key and body within 24 h get the first answer again (docs/api.md)',
  },
  ...PROJECT_HEADER,
  'X-Session-ID': { description: 'The agent session the call belongs to' },
};
const uuid = z.uuid();
const anyObject = z.looseObject({});

/**
 * `/mcp` refuses in JSON-RPC (mcp-http.ts jsonRpcError), not in the ErrorAnswer shape: an MCP
 * client reads `error`, and the gateway's code and trace id are in `error.data`.
 */
const jsonRpcErrorSchema = z.object({
  jsonrpc: z.literal('2.0'),
  id: z.null(),
  error: z.object({
    code: z.number().int(),
    message: z.string(),
    data: z.object({ code: z.string(), trace_id: z.string() }),
  }),
});
const MCP_REFUSALS: Record<number, string> = {
  400: 'A bad request (MCP.SESSION_REQUIRED, a batch, not JSON-RPC): error.data.code says which',
  401: 'No credentials, or credentials the gateway does not accept (WWW-Authenticate)',
  403: "The key does not grant this, the session is another agent's, or the Origin is not allowed",
  404: 'No such session (MCP.SESSION_NOT_FOUND): send initialize to open a new one',
  406: 'The Accept header leaves out application/json or text/event-stream (MCP.NOT_ACCEPTABLE)',
  500: 'An internal error (logged with its trace id)',
  503: 'A dependency of the gateway is unavailable; retry shortly',
};
/** The refusals of an `/mcp` method, as JSON-RPC errors; DELETE reads no Accept. */
const mcpRefusals = (method: 'post' | 'get' | 'delete'): Record<number, RouteAnswer> =>
  Object.fromEntries(
    Object.entries(MCP_REFUSALS)
      .filter(([status]) => method !== 'delete' || status !== '406')
      .map(([status, description]) => [status, { description, schema: jsonRpcErrorSchema }]),
  );

const TOOL_CALL_ANSWERS: Record<number, RouteAnswer> = {
  200: { description: 'The call ran: its result', schema: toolCallAnswerSchema },
  202: {
    description: 'The call waits for a person to approve it (Location: its approval)',
    schema: toolCallAnswerSchema,
  },
  403: { description: 'The policy denied it, and why', schema: toolCallAnswerSchema },
  429: { description: 'A rate limit (Retry-After)', schema: toolCallAnswerSchema },
};

/** Every HTTP route of the ingress, as its handlers validate and answer. */
export const INGRESS_ROUTES: readonly HttpRoute[] = [
  // Agents
  {
    method: 'post',
    path: '/api/tools/call',
    summary: 'One governed tool call (seed 004 envelope)',
    tag: 'tool calls',
    auth: 'agent',
    headers: IDEMPOTENCY,
    body: toolCallEnvelopeSchema,
    answers: TOOL_CALL_ANSWERS,
  },
  {
    method: 'post',
    path: '/mcp/toolcall',
    summary: 'One governed tool call (SecureGateway shape)',
    tag: 'tool calls',
    auth: 'agent',
    headers: IDEMPOTENCY,
    body: mcpToolCallSchema,
    answers: TOOL_CALL_ANSWERS,
  },
  {
    method: 'post',
    path: '/mcp',
    summary: 'MCP Streamable HTTP: JSON-RPC requests (docs/mcp.md)',
    tag: 'mcp',
    auth: 'agent',
    body: anyObject,
    answers: {
      ...mcpRefusals('post'),
      200: { description: 'A JSON-RPC answer, or an SSE stream of them', schema: anyObject },
      202: { description: 'A notification or answer, accepted' },
    },
  },
  {
    method: 'get',
    path: '/mcp',
    summary: 'MCP Streamable HTTP: the server-to-client stream of a session',
    tag: 'mcp',
    auth: 'agent',
    answers: {
      ...mcpRefusals('get'),
      200: { description: 'Server-Sent Events', contentType: 'text/event-stream' },
    },
  },
  {
    method: 'delete',
    path: '/mcp',
    summary: 'MCP Streamable HTTP: ends a session',
    tag: 'mcp',
    auth: 'agent',
    answers: { ...mcpRefusals('delete'), 204: { description: 'The session ended' } },
  },
  {
    method: 'get',
    path: '/.well-known/oauth-protected-resource',
    summary: 'RFC 9728 protected-resource metadata (when OAuth tokens are on)',
    tag: 'mcp',
    auth: 'none',
    answers: {
      200: { description: 'The metadata', schema: protectedResourceSchema },
      404: { description: 'OAuth bearer tokens are off (REQUEST.NOT_FOUND)', ref: 'ErrorAnswer' },
    },
  },
  {
    method: 'get',
    path: '/.well-known/oauth-protected-resource/{resource}',
    summary: 'RFC 9728 metadata of a resource path (e.g. /mcp)',
    tag: 'mcp',
    auth: 'none',
    params: { resource: z.string() },
    answers: { 200: { description: 'The metadata', schema: protectedResourceSchema } },
  },
  {
    method: 'post',
    path: '/api/sdk/authorize',
    summary: 'The governed-tool SDK asks whether its own server may run a call',
    tag: 'tool calls',
    auth: 'agent',
    headers: PROJECT_HEADER,
    body: authorizeSchema,
    answers: {
      200: { description: 'Authorized: run it, then report', schema: toolCallAnswerSchema },
      202: { description: 'Pending approval', schema: toolCallAnswerSchema },
      403: { description: 'Denied, and why', schema: toolCallAnswerSchema },
      409: {
        description:
          'The registry does not govern this tool through the SDK (SDK.REGISTRY_MISMATCH)',
        ref: 'ErrorAnswer',
      },
    },
  },
  {
    method: 'post',
    path: '/api/sdk/complete',
    summary: 'The SDK reports the run of an authorized call',
    tag: 'tool calls',
    auth: 'agent',
    headers: PROJECT_HEADER,
    body: completeSchema,
    answers: {
      202: {
        description: 'Recorded (a repeat is answered the same, and not stored twice)',
        schema: completedAnswerSchema,
      },
      404: {
        description: 'No open authorization of this agent with this audit_id (SDK.GRANT_NOT_FOUND)',
        ref: 'ErrorAnswer',
      },
    },
  },
  {
    method: 'get',
    path: '/schema/{tool}.json',
    summary: "The JSON Schema a tool's arguments must match",
    tag: 'tool calls',
    auth: 'agent',
    params: { tool: z.string() },
    answers: {
      200: {
        description: 'A JSON Schema (draft 2020-12)',
        contentType: 'application/schema+json',
        schema: anyObject,
      },
    },
  },
  {
    method: 'get',
    path: '/api/approvals/{id}',
    summary: 'One approval: its status, the exact call and, once run, its outcome',
    tag: 'approvals',
    auth: 'agent-or-admin',
    permission: 'approvals.read',
    params: { id: uuid },
    answers: { 200: relayed(APPROVAL_GET_SUBJECT, 'The approval') },
  },
  // Approvals
  {
    method: 'post',
    path: '/approve',
    summary: 'Approves or rejects a pending call (and runs it when approved)',
    tag: 'approvals',
    auth: 'admin',
    permission: 'approvals.resolve',
    body: approveBodySchema,
    answers: {
      200: {
        description: 'Resolved; when approved, the outcome of the run',
        schema: approveAnswerSchema,
      },
      403: { description: 'The policy now denies the call', schema: approveAnswerSchema },
      409: { description: 'Resolved before' },
    },
  },
  {
    method: 'get',
    path: '/api/approvals',
    summary: 'The approvals queue, one status a page',
    tag: 'approvals',
    auth: 'admin',
    permission: 'approvals.read',
    query: querySchemaOf(APPROVALS_QUERY),
    answers: { 200: relayed(APPROVAL_LIST_SUBJECT, 'A page of approvals') },
  },
  // Audit
  {
    method: 'get',
    path: '/api/trace/{trace_id}',
    summary: 'Every stored event of one trace, in order',
    tag: 'audit',
    auth: 'admin',
    permission: 'audit.read',
    params: { trace_id: z.string() },
    answers: { 200: relayed(AUDIT_TRACE_SUBJECT, 'The events') },
  },
  {
    method: 'get',
    path: '/api/audit/records',
    summary: 'Calls, one record each, filtered; cursor pages',
    tag: 'audit',
    auth: 'admin',
    permission: 'audit.read',
    query: querySchemaOf(QUERIES.records),
    answers: { 200: relayed(AUDIT_RECORDS_SUBJECT, 'A page of records') },
  },
  {
    method: 'get',
    path: '/api/audit/export',
    summary: 'The same records as streamed JSON Lines',
    tag: 'audit',
    auth: 'admin',
    permission: 'audit.read',
    query: querySchemaOf(QUERIES.export),
    answers: {
      200: {
        description: 'One record per line',
        contentType: 'application/x-ndjson',
        schema: auditRecordSchema,
      },
    },
  },
  {
    method: 'get',
    path: '/api/audit/stream',
    summary: 'The calls as they are stored, as Server-Sent Events',
    tag: 'audit',
    auth: 'admin',
    permission: 'audit.read',
    query: querySchemaOf(QUERIES.stream),
    answers: {
      200: {
        description: '`event: call` frames, `id: <audit_id>`',
        contentType: 'text/event-stream',
      },
    },
  },
  {
    method: 'get',
    path: '/api/session/{sid}',
    summary: "A session's calls and events",
    tag: 'audit',
    auth: 'admin',
    permission: 'audit.read',
    params: { sid: z.string() },
    headers: PROJECT_HEADER,
    query: querySchemaOf(QUERIES.session),
    answers: { 200: relayed(AUDIT_SESSION_SUBJECT, 'The session') },
  },
  {
    method: 'get',
    path: '/api/alerts',
    summary: 'Anomaly alerts, newest first, with SIEM delivery and acknowledgement',
    tag: 'audit',
    auth: 'admin',
    permission: 'audit.read',
    query: querySchemaOf(QUERIES.alerts),
    answers: { 200: relayed(AUDIT_ALERTS_SUBJECT, 'A page of alerts') },
  },
  {
    method: 'post',
    path: '/api/alerts/{id}/ack',
    summary: 'Acknowledges an alert, once',
    tag: 'audit',
    auth: 'admin',
    permission: 'alerts.ack',
    params: { id: uuid },
    body: ackBodySchema.optional(),
    answers: {
      200: relayed(AUDIT_ACK_ALERT_SUBJECT, 'The alert, acknowledged'),
      409: { description: 'Acknowledged before' },
    },
  },
  {
    method: 'get',
    path: '/api/audit/verify',
    summary: 'Checks the hash chain and the signed checkpoints',
    tag: 'audit',
    auth: 'admin',
    permission: 'audit.read',
    query: querySchemaOf(QUERIES.verify),
    answers: { 200: relayed(AUDIT_VERIFY_SUBJECT, 'The report') },
  },
  {
    method: 'get',
    path: '/api/audit/checkpoints',
    summary: 'The signed checkpoints and the public key',
    tag: 'audit',
    auth: 'admin',
    permission: 'audit.read',
    query: querySchemaOf(QUERIES.checkpoints),
    answers: { 200: relayed(AUDIT_CHECKPOINTS_SUBJECT, 'The checkpoints') },
  },
  // Policy
  {
    method: 'get',
    path: '/api/policy/history',
    summary: "A project's policy versions, newest first",
    tag: 'policy',
    auth: 'admin',
    permission: 'policy.read',
    query: querySchemaOf(QUERIES.history),
    answers: { 200: relayed(POLICY_HISTORY_SUBJECT, 'A page of versions') },
  },
  {
    method: 'get',
    path: '/api/policy/signing-key',
    summary: 'The public key policy versions are signed with, to check them offline',
    tag: 'policy',
    auth: 'admin',
    permission: 'policy.read',
    answers: { 200: relayed(POLICY_SIGNING_KEY_SUBJECT, 'The Ed25519 public key (SPKI PEM)') },
  },
  {
    method: 'get',
    path: '/api/policy/versions/{id}',
    summary: 'One version: its content and a diff against its parent',
    tag: 'policy',
    auth: 'admin',
    permission: 'policy.read',
    params: { id: uuid },
    answers: { 200: relayed(POLICY_VERSION_SUBJECT, 'The version') },
  },
  {
    method: 'post',
    path: '/api/policy/lint',
    summary: 'Every problem of a policy file; nothing saved',
    tag: 'policy',
    auth: 'admin',
    permission: 'policy.write',
    body: lintRequestSchema,
    answers: {
      200: {
        description: 'The problems, with line and column',
        schema: z.object({ ok: z.boolean(), problems: z.array(lintProblemSchema) }),
      },
    },
  },
  {
    method: 'post',
    path: '/api/policy',
    summary: 'Saves a new signed version, linted first, active on every instance',
    tag: 'policy',
    auth: 'admin',
    permission: 'policy.write',
    body: saveRequestSchema,
    answers: {
      200: relayed(POLICY_SAVE_SUBJECT, 'That content is the active version already'),
      201: relayed(POLICY_SAVE_SUBJECT, 'Saved and active'),
      422: { description: 'The file has lint problems (POLICY.LINT_FAILED, with them)' },
    },
  },
  {
    method: 'post',
    path: '/api/policy/rollback/{version}',
    summary: 'A version of the history made active again, as a new version',
    tag: 'policy',
    auth: 'admin',
    permission: 'policy.write',
    params: { version: uuid },
    headers: PROJECT_HEADER,
    body: rollbackBodySchema.optional(),
    answers: {
      200: relayed(POLICY_ROLLBACK_SUBJECT, 'That version is active already'),
      201: relayed(POLICY_ROLLBACK_SUBJECT, 'Rolled back'),
    },
  },
  {
    method: 'post',
    path: '/api/propose_policy',
    summary: "A proposal for an agent's own rules, checked against the guardrails",
    tag: 'policy',
    auth: 'agent-or-admin',
    permission: 'policy.write',
    headers: PROJECT_HEADER,
    body: proposeBodySchema,
    answers: {
      201: { description: 'Approved at once', schema: proposeAnswerSchema },
      202: { description: 'Queued for review', schema: proposeAnswerSchema },
    },
  },
  {
    method: 'get',
    path: '/api/proposals',
    summary: 'The proposals',
    tag: 'policy',
    auth: 'admin',
    permission: 'policy.read',
    answers: { 200: relayed(POLICY_PROPOSALS_SUBJECT, 'The proposals') },
  },
  {
    method: 'get',
    path: '/api/proposals/{id}',
    summary: 'One proposal: guardrails, diff and, while pending, its simulated impact',
    tag: 'policy',
    auth: 'admin',
    permission: 'policy.read',
    params: { id: uuid },
    answers: { 200: { description: 'The proposal', schema: proposalReviewSchema } },
  },
  ...(['approve', 'reject'] as const).map((verb): HttpRoute => ({
    method: 'post',
    path: `/api/proposals/{id}/${verb}`,
    summary: `${verb === 'approve' ? 'Approves' : 'Rejects'} a queued proposal (four-eyes)`,
    tag: 'policy',
    auth: 'admin',
    permission: 'proposals.review',
    params: { id: uuid },
    body: reviewBodySchema.optional(),
    answers: {
      200: relayed(POLICY_PROPOSAL_RESOLVE_SUBJECT, 'The proposal, reviewed'),
      409: { description: 'Reviewed before' },
    },
  })),
  // Analytics
  {
    method: 'get',
    path: '/api/analytics/summary',
    summary: 'Calls by outcome and code, top tools, agents, latency, from the aggregates',
    tag: 'analytics',
    auth: 'admin',
    permission: 'analytics.read',
    query: querySchemaOf(QUERIES.summary),
    answers: { 200: relayed(ANALYTICS_SUMMARY_SUBJECT, 'The summary') },
  },
  {
    method: 'get',
    path: '/api/policy/suggest',
    summary: 'Rule suggestions, each with its change, reason, evidence and confidence',
    tag: 'analytics',
    auth: 'admin',
    permission: 'analytics.read',
    query: querySchemaOf(QUERIES.suggest),
    answers: { 200: relayed(ANALYTICS_SUGGEST_SUBJECT, 'The suggestions') },
  },
  {
    method: 'post',
    path: '/api/policy/suggest/{id}/dismiss',
    summary: 'Hides a suggestion until its change differs',
    tag: 'analytics',
    auth: 'admin',
    permission: 'analytics.run',
    params: { id: z.string() },
    body: dismissBodySchema,
    answers: { 200: relayed(ANALYTICS_DISMISS_SUBJECT, 'Dismissed') },
  },
  {
    method: 'post',
    path: '/api/simulate',
    summary: 'Recorded calls decided again against another policy; nothing runs',
    tag: 'analytics',
    auth: 'admin',
    permission: 'analytics.run',
    headers: PROJECT_HEADER,
    body: simulateBodySchema,
    answers: { 200: relayed(ANALYTICS_SIMULATE_SUBJECT, 'The simulation') },
  },
  {
    method: 'get',
    path: '/api/shadow/report',
    summary: 'The preview policy against the live one',
    tag: 'analytics',
    auth: 'admin',
    permission: 'analytics.read',
    query: querySchemaOf(QUERIES.shadow),
    answers: { 200: relayed(ANALYTICS_SHADOW_REPORT_SUBJECT, 'The report') },
  },
  {
    method: 'get',
    path: '/api/risk/sessions',
    summary: 'The sessions with the highest risk',
    tag: 'analytics',
    auth: 'admin',
    permission: 'analytics.read',
    query: querySchemaOf(QUERIES.riskSessions),
    answers: { 200: relayed(ANALYTICS_RISK_SESSIONS_SUBJECT, 'The sessions') },
  },
  {
    method: 'get',
    path: '/api/risk/agents',
    summary: "Each agent's risk per day or hour, and its trend",
    tag: 'analytics',
    auth: 'admin',
    permission: 'analytics.read',
    query: querySchemaOf(QUERIES.riskAgents),
    answers: { 200: relayed(ANALYTICS_RISK_TREND_SUBJECT, 'The trend') },
  },
  // Federation
  {
    method: 'get',
    path: '/api/federation/peers',
    summary: 'The trusted peers and their health',
    tag: 'federation',
    auth: 'admin',
    permission: 'federation.read',
    answers: { 200: relayed(FEDERATION_PEERS_SUBJECT, 'The peers') },
  },
  // The dashboard
  {
    method: 'post',
    path: '/dash/api/session',
    summary: 'Dashboard login: an admin key or token in, the sg_dash cookie out',
    tag: 'dashboard',
    auth: 'admin',
    answers: {
      201: { description: 'Logged in: who, the CSRF token, expiry', schema: dashSessionSchema },
    },
  },
  {
    method: 'get',
    path: '/dash/api/session',
    summary: 'Who is logged in',
    tag: 'dashboard',
    auth: 'dash-session',
    answers: { 200: { description: 'The session', schema: dashSessionSchema } },
  },
  {
    method: 'delete',
    path: '/dash/api/session',
    summary: 'Logout',
    tag: 'dashboard',
    auth: 'dash-session',
    answers: { 204: { description: 'Logged out' } },
  },
  {
    method: 'get',
    path: '/dash/{page}',
    summary: "The dashboard's single-page app (its shell for every page)",
    tag: 'dashboard',
    auth: 'none',
    params: { page: z.string() },
    answers: { 200: { description: 'HTML', contentType: 'text/html' } },
  },
  // Operations
  {
    method: 'get',
    path: '/health',
    summary: 'The health of each of the six services, over NATS',
    tag: 'operations',
    auth: 'none',
    answers: {
      200: { description: 'Every service answered ok', schema: gatewayHealthSchema },
      503: { description: 'A service is down or degraded', schema: gatewayHealthSchema },
    },
  },
  ...serviceRoutes('ingress'),
];

export const ingressOpenApi = (version: string) =>
  openApiDocument(
    {
      title: 'SecureGateway ingress',
      version,
      description:
        'The governed path for agents (tool calls, MCP) and the admin API. Every error is `{success: false, error: {code, message, details?}, trace_id}` with a stable code (docs/errors.md).',
    },
    INGRESS_ROUTES,
  );
