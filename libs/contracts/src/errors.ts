import { z } from 'zod';

/**
 * Every error code a caller or a peer service can see, with the HTTP status the ingress
 * answers for it. Codes are stable API: add new ones, never rename.
 */
export const ERROR_CODES = {
  'REQUEST.INVALID_BODY': 400,
  'REQUEST.INVALID_JSON': 400,
  'REQUEST.UNSUPPORTED_MEDIA_TYPE': 415,
  'REQUEST.TOO_LARGE': 413,
  /** JSON nested deeper than JSON_MAX_DEPTH, with more keys than JSON_MAX_KEYS, or a longer string than JSON_MAX_STRING. */
  'REQUEST.JSON_TOO_DEEP': 400,
  'REQUEST.JSON_TOO_MANY_KEYS': 400,
  'REQUEST.JSON_STRING_TOO_LONG': 400,
  'REQUEST.NOT_FOUND': 404,
  /** The path has a malformed percent-encoding (`%ZZ`, an invalid UTF-8 sequence). */
  'REQUEST.INVALID_URL': 400,
  /** A path parameter longer than 100 characters (no id of the API is that long). */
  'REQUEST.URI_TOO_LONG': 414,
  /** The request's headers are larger than Node's limit (16 KiB in all). */
  'REQUEST.HEADERS_TOO_LARGE': 431,
  /** The request line or headers are not HTTP the server can read. */
  'REQUEST.MALFORMED': 400,
  /** The request (headers and body) did not arrive within HTTP_REQUEST_TIMEOUT_MS. */
  'REQUEST.TIMEOUT': 408,
  'REQUEST.INVALID_PROJECT': 400,
  /** A well-formed X-Project-ID naming a project that has no config file: missing, not malformed. */
  'REQUEST.UNKNOWN_PROJECT': 404,
  'REQUEST.INVALID_TRACE_ID': 400,
  'AUTH.MISSING_KEY': 401,
  'AUTH.INVALID_KEY': 401,
  'AUTH.IDENTITY_MISMATCH': 403,
  'AUTH.ADMIN_KEY_REQUIRED': 401,
  'AUTH.ADMIN_DISABLED': 503,
  /** The admin is known, but none of its roles may do this (docs/admins.md). */
  'AUTH.ADMIN_ROLE_REQUIRED': 403,
  /** A dashboard session cookie that is unknown, expired or logged out: log in again. */
  'AUTH.SESSION_INVALID': 401,
  /** A write with a dashboard session cookie needs its X-CSRF-Token (from the login answer). */
  'AUTH.CSRF_TOKEN_INVALID': 403,
  /** The agent's model_keys entry has require_signature and the call is not signed. */
  'AUTH.SIGNATURE_REQUIRED': 401,
  /** Signature or Signature-Input malformed, a required component or parameter not covered, a Content-Digest that does not match the body, or a signature that does not verify. */
  'AUTH.SIGNATURE_INVALID': 401,
  /** The signature's keyid names no signing key of the project. */
  'AUTH.SIGNATURE_UNKNOWN_KEY': 401,
  /** The signature's `created` is more than 300 s from the gateway's clock, or its `expires` has passed. */
  'AUTH.SIGNATURE_EXPIRED': 401,
  /** The signature's nonce was used before, within the window. */
  'AUTH.NONCE_REPLAYED': 401,
  /** Redis, where used nonces are kept, cannot be reached: signed calls are refused. */
  'AUTH.NONCE_STORE_UNAVAILABLE': 503,
  /** The shared key of an HMAC signing key (`{{secret:NAME}}`) is not in the secret store. */
  'AUTH.SIGNING_KEY_UNAVAILABLE': 503,
  /** An OAuth bearer token that does not verify (signature, issuer, audience, expiry) or maps to no agent. */
  'AUTH.TOKEN_INVALID': 401,
  /** The issuer's JWKS cannot be fetched: bearer tokens cannot be checked. */
  'AUTH.TOKEN_ISSUER_UNAVAILABLE': 503,
  'POLICY.TOOL_NOT_REGISTERED': 403,
  'POLICY.TOOL_NOT_ALLOWED': 403,
  'POLICY.ARGUMENTS_INVALID': 400,
  'POLICY.RATE_LIMITED': 429,
  'POLICY.FORBIDDEN_FIELD': 403,
  'POLICY.TENANT_NOT_GRANTED': 403,
  'POLICY.PII_NOT_GRANTED': 403,
  'POLICY.TOO_COMPLEX': 403,
  'POLICY.SESSION_LIMIT': 403,
  'POLICY.FORBIDDEN_SEQUENCE': 403,
  'POLICY.OUTSIDE_TIME_WINDOW': 403,
  'POLICY.SUSPICIOUS_INPUT': 403,
  'POLICY.RISK_TOO_HIGH': 403,
  'POLICY.EVALUATION_FAILED': 503,
  'POLICY.DEPENDENCY_UNAVAILABLE': 503,
  /** A plugin denied the call after policy allowed it (rule_trace names it: plugin:<name>). */
  'POLICY.PLUGIN_DENIED': 403,
  /** A plugin crashed, timed out or answered nonsense, and fails closed (on_error: deny). */
  'POLICY.PLUGIN_FAILED': 503,
  /** No policy version has this id. */
  'POLICY.VERSION_NOT_FOUND': 404,
  /** A version id that is not a UUID from the history (a path, a name): never looked up. */
  'POLICY.INVALID_VERSION_ID': 400,
  /** POST /api/policy: the YAML has problems (listed in details, with line and column); nothing was saved, the active version stays. */
  'POLICY.LINT_FAILED': 422,
  /** Saving a version needs the policy signing key (the secret POLICY_SIGNING_KEY): every version the gateway activates is signed. */
  'POLICY.SIGNING_KEY_MISSING': 503,
  /** POST /api/propose_policy: the YAML cannot be read safely or does not fit the policy schema (problems in details, with line and column). */
  'POLICY.PROPOSAL_INVALID': 400,
  /** POST /api/propose_policy: this agent's model_keys entry lacks `can_propose: true`. */
  'POLICY.PROPOSALS_NOT_ALLOWED': 403,
  'POLICY.PROPOSAL_NOT_FOUND': 404,
  /** The proposal was approved or rejected already. */
  'POLICY.PROPOSAL_NOT_PENDING': 409,
  /** A rollback to a version whose signature does not verify (changed in PostgreSQL): refused. */
  'POLICY.VERSION_UNVERIFIED': 409,
  /** PostgreSQL, where policy versions are kept, cannot be reached. */
  'POLICY.VERSION_STORE_UNAVAILABLE': 503,
  'EXECUTOR.TOOL_UNAVAILABLE': 503,
  'EXECUTOR.UPSTREAM_TIMEOUT': 504,
  'EXECUTOR.UPSTREAM_UNREACHABLE': 502,
  'EXECUTOR.UPSTREAM_ERROR': 502,
  'EXECUTOR.SECRET_MISSING': 503,
  'EXECUTOR.CIRCUIT_OPEN': 503,
  'EXECUTOR.SSRF_REFUSED': 403,
  /** The MCP server now advertises another description or schema for a pinned tool (or no longer advertises it): refused until an admin reviews it and pins it again. */
  'EXECUTOR.TOOL_PIN_MISMATCH': 409,
  'AUDIT.TRACE_NOT_FOUND': 404,
  'APPROVAL.NOT_FOUND': 404,
  'APPROVAL.NOT_PENDING': 409,
  'APPROVAL.EXPIRED': 410,
  /** A person rejected the approval a call waited on (reported to an MCP client that calls again). */
  'APPROVAL.REJECTED': 403,
  /** Four-eyes (admins.yaml `four_eyes`): the principal who requested the call cannot approve it. */
  'APPROVAL.FOUR_EYES': 403,
  'APPROVAL.STORE_UNAVAILABLE': 503,
  'REQUEST.DUPLICATE_IN_PROGRESS': 409,
  'REQUEST.IDEMPOTENCY_CONFLICT': 409,
  'AUDIT.STORE_UNAVAILABLE': 503,
  'AUDIT.INVALID_QUERY': 400,
  'AUDIT.INVALID_CURSOR': 400,
  /** GET /api/audit/stream: this ingress process serves AUDIT_STREAM_MAX_CLIENTS streams already. */
  'AUDIT.STREAM_LIMIT': 503,
  'AUDIT.SESSION_NOT_FOUND': 404,
  /** POST /api/alerts/:id/ack: no alert has this id (or it is not a UUID from GET /api/alerts). */
  'ALERT.NOT_FOUND': 404,
  /** POST /api/alerts/:id/ack: the alert was acknowledged already; the first acknowledgement stays. */
  'ALERT.ALREADY_ACKNOWLEDGED': 409,
  /** The analytics service's PostgreSQL cannot be reached. */
  'ANALYTICS.STORE_UNAVAILABLE': 503,
  /** A query parameter of an analytics endpoint is unknown, repeated or malformed (each named in details). */
  'ANALYTICS.INVALID_QUERY': 400,
  /** POST /api/simulate {project, session_id}: no recorded calls of that session in the project. */
  'ANALYTICS.SESSION_NOT_FOUND': 404,
  /** POST /api/simulate: the candidate policy YAML has problems (listed in details, with line and column). */
  'ANALYTICS.CANDIDATE_INVALID': 422,
  'MESSAGE.INVALID': 400,
  'MESSAGE.UNKNOWN_SUBJECT': 400,
  'MESSAGE.TOO_LARGE': 502,
  /** MCP Streamable HTTP (`/mcp`): a request after initialize without its Mcp-Session-Id. */
  'MCP.SESSION_REQUIRED': 400,
  /** An Mcp-Session-Id the gateway does not know, or a session that was ended or expired. */
  'MCP.SESSION_NOT_FOUND': 404,
  /** The session was opened by another agent or project than the one whose key came with it. */
  'MCP.SESSION_FORBIDDEN': 403,
  'MCP.UNSUPPORTED_PROTOCOL_VERSION': 400,
  /** An Origin (or, on a loopback bind, a Host) that is not allowed: DNS-rebinding protection. */
  'MCP.ORIGIN_FORBIDDEN': 403,
  /** The Accept header leaves out application/json or text/event-stream. */
  'MCP.NOT_ACCEPTABLE': 406,
  /** Redis, which holds the MCP sessions, cannot be reached. */
  'MCP.SESSION_STORE_UNAVAILABLE': 503,
  /** /api/sdk/complete: no open authorization with this audit_id (unknown, another agent's, or older than 10 minutes). */
  'SDK.GRANT_NOT_FOUND': 404,
  /** /api/sdk/authorize: the registry entry does not match the governed tool (not `upstream.type: sdk`, or the tool says it returns personal data and the entry lacks `pii: true`). */
  'SDK.REGISTRY_MISMATCH': 409,
  /** POST /forward: X-Gateway-Id names no peer of trusted_peers.yaml (or federation is off). */
  'FEDERATION.UNKNOWN_PEER': 401,
  /** POST /forward: the via chain already holds this gateway (a loop), or the call crossed more than max_hops gateways. */
  'FEDERATION.LOOP_DETECTED': 508,
  /** POST /forward: the peer may not call this tool, or not in this project (trusted_peers.yaml allow). */
  'FEDERATION.NOT_ALLOWED': 403,
  /** POST /forward: the peer sent more calls than its rate_limit in trusted_peers.yaml. */
  'FEDERATION.RATE_LIMITED': 429,
  /** forward_to (or a `<peer_id>/<tool>` name) is not a peer id: a URL, a host, or malformed. Only peers of trusted_peers.yaml are reached. */
  'FEDERATION.INVALID_TARGET': 400,
  /** forward_to names no peer of this gateway's trusted_peers.yaml (or federation is off here). */
  'FEDERATION.UNKNOWN_TARGET': 403,
  /** The peer's catalogue (`GET /federation/tools`) does not offer this tool to this gateway. */
  'FEDERATION.TOOL_NOT_OFFERED': 403,
  /** The local policy asks for an approval of a peer's tool: approvals of forwarded calls are taken by the peer that runs the tool. */
  'FEDERATION.APPROVAL_UNSUPPORTED': 403,
  /** The peer could not be reached (connection refused or reset, DNS, TLS), or answered something that is not the protocol. */
  'FEDERATION.PEER_UNREACHABLE': 502,
  /** The peer gave no answer within its timeout_ms. */
  'FEDERATION.PEER_TIMEOUT': 504,
  /** The peer's circuit breaker is open after repeated failures, or the federation service is not running: nothing was sent. */
  'FEDERATION.PEER_UNAVAILABLE': 503,
  /** The peer refused this gateway itself (its signature, key or peer entry: 401); an operator must fix the pair's configuration. */
  'FEDERATION.PEER_REJECTED': 502,
  /** The peer failed (a 5xx of its own); its code is in details. */
  'FEDERATION.PEER_ERROR': 502,
  'GATEWAY.SERVICE_UNAVAILABLE': 503,
  'GATEWAY.SERVICE_TIMEOUT': 503,
  'GATEWAY.INTERNAL': 500,
  /** /dash was asked for, but this ingress has no built dashboard (npm run build builds apps/dash). */
  'GATEWAY.DASHBOARD_NOT_BUILT': 503,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_CODES;

export const errorCodeSchema = z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]);

export function httpStatusOf(code: ErrorCode): number {
  return ERROR_CODES[code];
}

/** The error body every HTTP answer and every failed NATS reply carries. */
export const errorBodySchema = z.object({
  code: errorCodeSchema,
  message: z.string(),
  details: z.unknown().optional(),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

/**
 * The one error class of the gateway. It crosses NATS as an ErrorBody (instanceof does not
 * survive serialisation), so code and message are all a receiver may rely on.
 */
export class GatewayError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'GatewayError';
  }

  get httpStatus(): number {
    return httpStatusOf(this.code);
  }

  toBody(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }

  static fromBody(body: ErrorBody): GatewayError {
    return new GatewayError(body.code, body.message, body.details);
  }
}
