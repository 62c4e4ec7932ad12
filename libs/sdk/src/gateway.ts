import { gatewayFromEnv } from './config/env.js';
import { MCPSecurityError } from './errors.js';

/** Where the gateway is and who this server is to it (its agent key). */
export interface GatewayOptions {
  /** The ingress, e.g. `https://gw.example.com`. Default: SG_GATEWAY_URL. */
  url?: string | undefined;
  /** This server's agent key (a model_keys entry). Default: SG_API_KEY. */
  apiKey?: string | undefined;
  /** X-Project-ID. Default: SG_PROJECT_ID, else the gateway's `default`. */
  project?: string | undefined;
  /** Per HTTP call to the gateway. Default 5000 ms. */
  timeoutMs?: number;
}

/** What /api/sdk/authorize allowed: the ids the run is reported under. */
export interface Grant {
  audit_id: string;
  trace_id: string;
  risk_score: number | null;
}

interface Decision {
  reason?: string;
  suggestions?: string[];
  rule_trace?: Array<{ check: string; outcome: string }>;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * The two calls the SDK makes to the ingress (docs/api.md): `authorize` before the tool runs,
 * `complete` after. Every failure to reach the gateway is a refusal: a tool never runs without
 * the gateway's yes.
 */
export class GatewayClient {
  private readonly url: string;
  private readonly apiKey: string;
  private readonly project: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: GatewayOptions = {}) {
    const env = gatewayFromEnv();
    const url = options.url ?? env.url;
    const apiKey = options.apiKey ?? env.apiKey;
    if (!url) throw new Error('@sg/sdk: set the gateway URL (option url, or SG_GATEWAY_URL)');
    if (!apiKey) throw new Error('@sg/sdk: set the agent key (option apiKey, or SG_API_KEY)');
    this.url = url.replace(/\/$/, '');
    this.apiKey = apiKey;
    this.project = options.project ?? env.project;
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** The gateway's decision on one call; throws MCPSecurityError unless it is allowed to run now. */
  async authorize(call: {
    tool: string;
    arguments: Record<string, unknown>;
    userId: string;
    sessionId?: string | undefined;
    requiresPii: boolean;
  }): Promise<Grant> {
    const answer = await this.post(
      '/api/sdk/authorize',
      {
        tool: call.tool,
        arguments: call.arguments,
        ...(call.sessionId ? { session_id: call.sessionId } : {}),
        requires_pii: call.requiresPii,
      },
      { 'x-user-id': call.userId },
    );
    const b = answer.body;
    const traceId = typeof b.trace_id === 'string' ? b.trace_id : null;
    if (answer.status === 200 && b.status === 'authorized' && typeof b.audit_id === 'string')
      return {
        audit_id: b.audit_id,
        trace_id: traceId ?? '',
        risk_score: typeof b.risk_score === 'number' ? b.risk_score : null,
      };
    const decision = (b.decision ?? {}) as Decision;
    if (answer.status === 202)
      throw new MCPSecurityError({
        code: 'APPROVAL_REQUIRED',
        failed_policy: 'requires_approval',
        reason: `this call needs a person's approval first (approval ${String(b.approval_id)}, until ${String(b.expires_at)})`,
        suggestions: ['Ask an approver to approve it, then call again.'],
        trace_id: traceId,
        approval_id: String(b.approval_id),
      });
    const error = (b.error ?? {}) as { code?: string; message?: string };
    throw new MCPSecurityError({
      code: error.code ?? `HTTP_${answer.status}`,
      failed_policy:
        decision.rule_trace?.find((t) => t.outcome === 'fail')?.check ??
        (error.code?.startsWith('AUTH.') ? 'authentication' : 'gateway'),
      reason: error.message ?? decision.reason ?? `the gateway answered ${answer.status}`,
      suggestions: decision.suggestions ?? [],
      trace_id: traceId,
    });
  }

  /**
   * Reports the run of an authorized call, once. Tried twice; a report that still fails is
   * returned as an Error (the decision is already audited; the run's record is what is lost).
   */
  async complete(
    grant: Grant,
    run: { status: 'ok' | 'error'; duration_ms: number; result?: unknown; error?: string },
  ): Promise<Error | null> {
    let last: Error | null = null;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const answer = await this.post(
          '/api/sdk/complete',
          { audit_id: grant.audit_id, ...run },
          { 'x-trace-id': grant.trace_id },
        );
        if (answer.status === 202) return null;
        const code = (answer.body.error as { code?: string } | undefined)?.code;
        last = new Error(`the gateway refused the run's report: ${answer.status} ${code ?? ''}`);
        if (answer.status < 500) return last;
      } catch (err) {
        last = err as Error;
      }
    }
    return last;
  }

  private async post(
    path: string,
    body: unknown,
    headers: Record<string, string>,
  ): Promise<Answer> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-api-key': this.apiKey,
          ...(this.project ? { 'x-project-id': this.project } : {}),
          ...headers,
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw unreachable(err);
    }
    let parsed: Record<string, unknown>;
    try {
      parsed = (await res.json()) as Record<string, unknown>;
    } catch (err) {
      throw unreachable(err);
    }
    return { status: res.status, body: parsed };
  }
}

/** The gateway could not be asked: the tool does not run (fail closed). */
function unreachable(err: unknown): MCPSecurityError {
  const timeout = (err as Error).name === 'TimeoutError';
  return new MCPSecurityError({
    code: 'GATEWAY.SERVICE_UNAVAILABLE',
    failed_policy: 'gateway',
    reason: timeout
      ? 'the gateway did not answer in time, so the call is refused'
      : 'the gateway cannot be reached, so the call is refused',
    suggestions: ['Retry shortly; an operator should check the gateway.'],
    trace_id: null,
  });
}
