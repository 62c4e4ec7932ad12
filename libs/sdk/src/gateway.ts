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
  /** The end user the call was decided for (X-User-Id), sent again with the report. */
  user_id: string;
}

/** One run of an authorized call, as the handler left it (its result already masked). */
export interface Run {
  status: 'ok' | 'error';
  duration_ms: number;
  result?: unknown;
  error?: string;
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

/** The gateway keeps a run's result up to this size, and only the size of a larger one. */
const RESULT_MAX_BYTES = 64 * 1024;
/** The longest error message /api/sdk/complete takes. */
const ERROR_MAX_CHARS = 2000;
/** Before the report's one retry: long enough for a restarting ingress, short for the caller. */
const RETRY_DELAY_MS = 200;

/**
 * The two calls the SDK makes to the ingress: `authorize` before the tool runs, `complete`
 * after. Every failure to get the gateway's decision is a refusal: a tool never runs without
 * the gateway's yes.
 */
export class GatewayClient {
  private readonly url: string;
  private readonly apiKey: string;
  private readonly project: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: GatewayOptions = {}) {
    const needsEnv = !options.url || !options.apiKey || options.project === undefined;
    const env = needsEnv ? gatewayFromEnv() : undefined;
    const url = options.url || env?.url;
    const apiKey = options.apiKey || env?.apiKey;
    if (!url) throw new Error('@sg/sdk: set the gateway URL (option url, or SG_GATEWAY_URL)');
    if (!URL.canParse(url)) throw new Error('@sg/sdk: the gateway URL is not a URL');
    if (!apiKey) throw new Error('@sg/sdk: set the agent key (option apiKey, or SG_API_KEY)');
    this.url = url.replace(/\/+$/, '');
    this.apiKey = apiKey;
    this.project = options.project ?? env?.project;
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** The gateway's decision on one call; throws MCPSecurityError unless it may run now. */
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
        // The gateway takes ids up to 128 characters; a longer MCP session id is left out.
        ...(call.sessionId && call.sessionId.length <= 128 ? { session_id: call.sessionId } : {}),
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
        user_id: call.userId,
      };
    if (answer.status === 202) {
      const approvalId = String(b.approval_id);
      throw new MCPSecurityError({
        code: 'APPROVAL_REQUIRED',
        failed_policy: 'requires_approval',
        reason: `this call needs a person's approval first: approval ${approvalId}, open until ${String(b.expires_at)}`,
        suggestions: [
          `Ask an approver to approve ${approvalId}; this server cannot run the call once it is approved, so call again then.`,
        ],
        trace_id: traceId,
        approval_id: approvalId,
      });
    }
    const error = (b.error ?? {}) as { code?: string; message?: string };
    const decision = (b.decision ?? {}) as Decision;
    if (answer.status >= 500)
      throw new MCPSecurityError({
        code: 'GATEWAY.SERVICE_UNAVAILABLE',
        failed_policy: 'gateway',
        reason: `the gateway could not decide (${answer.status}${error.code ? ` ${error.code}` : ''}${error.message ? `: ${error.message}` : ''}), so the call is refused`,
        suggestions: decision.suggestions?.length
          ? decision.suggestions
          : ['Retry shortly; if it goes on, an operator should check the gateway.'],
        trace_id: traceId,
      });
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
   * Reports the run of an authorized call. Tried twice; a report that still fails is returned as
   * an Error for the caller to log (the decision is audited already: what is lost is the run's
   * record). Never throws.
   */
  async complete(grant: Grant, run: Run): Promise<Error | null> {
    const body = { audit_id: grant.audit_id, ...fitForReport(run) };
    const headers = { 'x-trace-id': grant.trace_id, 'x-user-id': grant.user_id };
    let last: Error | null = null;
    for (let attempt = 1; attempt <= 2; attempt++) {
      if (attempt > 1) await new Promise((r) => setTimeout(r, RETRY_DELAY_MS));
      try {
        const answer = await this.post('/api/sdk/complete', body, headers);
        if (answer.status === 202) return null;
        const code = (answer.body.error as { code?: string } | undefined)?.code ?? '';
        last = new Error(`the gateway did not record the run: ${answer.status} ${code}`);
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
      throw unavailable(err, 'cannot be reached');
    }
    try {
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    } catch (err) {
      throw unavailable(err, `answered ${res.status} without a readable JSON body`);
    }
  }
}

/** The gateway could not be asked: the tool does not run (fail closed). */
function unavailable(err: unknown, what: string): MCPSecurityError {
  const timeout = (err as Error).name === 'TimeoutError';
  return new MCPSecurityError({
    code: 'GATEWAY.SERVICE_UNAVAILABLE',
    failed_policy: 'gateway',
    reason: `the gateway ${timeout ? 'did not answer in time' : what}, so the call is refused`,
    suggestions: ['Retry shortly; if it goes on, an operator should check the gateway.'],
    trace_id: null,
  });
}

/**
 * The run as the gateway takes it: an error message of at most 2000 characters, and a result
 * larger than the gateway keeps replaced by its size, so that the report itself is not refused
 * for its size (413) and the run goes unrecorded.
 */
function fitForReport(run: Run): Run {
  const fitted: Run = { ...run };
  if (fitted.error !== undefined && fitted.error.length > ERROR_MAX_CHARS)
    fitted.error = `${fitted.error.slice(0, ERROR_MAX_CHARS - 1)}…`;
  if (!('result' in fitted)) return fitted;
  let text: string | undefined;
  try {
    text = JSON.stringify(fitted.result);
  } catch {
    // A BigInt or a cycle: the run is still recorded, without its result.
    fitted.result = { result_not_sent: true, reason: 'not serializable as JSON' };
    return fitted;
  }
  const bytes = Buffer.byteLength(text ?? 'null');
  if (bytes > RESULT_MAX_BYTES) fitted.result = { result_not_sent: true, result_bytes: bytes };
  return fitted;
}
