/** NATS and HTTP header names shared by every service. */
export const Headers = {
  /** JetStream de-duplicates on it; always the event's own id. */
  msgId: 'Nats-Msg-Id',
  traceId: 'x-trace-id',
  traceparent: 'traceparent',
  projectId: 'x-project-id',
} as const;

/** Header names the ingress reads from agents (seed names, matched case-insensitively). */
export const HttpHeaders = {
  apiKey: 'x-api-key',
  authorization: 'authorization',
  adminKey: 'x-admin-key',
  projectId: 'x-project-id',
  traceId: 'x-trace-id',
  sessionId: 'x-session-id',
  userId: 'x-user-id',
  traceparent: 'traceparent',
  mcpSessionId: 'mcp-session-id',
  mcpProtocolVersion: 'mcp-protocol-version',
} as const;

export const TRACE_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;
