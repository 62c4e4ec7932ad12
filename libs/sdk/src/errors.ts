/** What the gateway said about a refused call (the fields of seed 003's MCPSecurityError, and more). */
export interface Refusal {
  /** The gateway's stable code: POLICY.*, AUTH.*, APPROVAL_REQUIRED, GATEWAY.SERVICE_UNAVAILABLE… */
  code: string;
  /** The check that failed (rate_limit, tenant_access, pii_permission, complexity, …), `requires_approval`, `authentication`, `request` (a user id the SDK cannot send), or `gateway` (it could not decide). */
  failed_policy: string;
  reason: string;
  suggestions: string[];
  trace_id: string | null;
  /** For a call that waits for a person's approval. */
  approval_id?: string;
}

/**
 * A call the gateway refused, or could not decide (then the tool does not run either: fail
 * closed). Its message says the code, the reason, the suggestions and the trace id, so a model
 * that reads it knows what to do.
 */
export class MCPSecurityError extends Error {
  readonly code: string;
  readonly failed_policy: string;
  readonly suggestions: string[];
  readonly trace_id: string | null;
  readonly approval_id: string | undefined;

  constructor(refusal: Refusal) {
    const lines = [`SecureGateway refused the call (${refusal.code}): ${refusal.reason}`];
    if (refusal.suggestions.length)
      lines.push('Suggestions:', ...refusal.suggestions.map((s) => `- ${s}`));
    if (refusal.trace_id) lines.push(`trace_id: ${refusal.trace_id}`);
    super(lines.join('\n'));
    this.name = 'MCPSecurityError';
    this.code = refusal.code;
    this.failed_policy = refusal.failed_policy;
    this.suggestions = refusal.suggestions;
    this.trace_id = refusal.trace_id;
    this.approval_id = refusal.approval_id;
  }

  /** The same as MCP structuredContent. */
  toJSON() {
    return {
      error: { code: this.code, message: this.message },
      failed_policy: this.failed_policy,
      suggestions: this.suggestions,
      trace_id: this.trace_id,
      ...(this.approval_id ? { approval_id: this.approval_id } : {}),
    };
  }
}
