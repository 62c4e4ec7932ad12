import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { forProject, type ToolFile } from '@sg/config';
import {
  type ExecuteRequest,
  type ExecuteResult,
  GatewayError,
  type MaskingReport,
} from '@sg/contracts';
import { maskPii } from '@sg/redaction';
import { ConfigSync } from '@sg/messaging';
import { ENV } from '@sg/runtime';
import type { ExecutorEnv } from '../config/env.js';
import { UpstreamResilience } from '../resilience/index.js';
import { SECRET_PROVIDER, type SecretProvider } from '@sg/runtime';
import { SecretScope } from '../secrets/index.js';
import { prepareHttpCall, sendHttpCall } from './http-upstream.js';
import { callMcpUpstream, closeMcpClients } from './mcp-upstream.js';

/** A run that succeeded, as the service returns it (a failed run throws its GatewayError). */
export type RunResult = Omit<Extract<ExecuteResult, { ok: true }>, 'ok'>;

/**
 * Runs calls the policy allowed, against the upstream the registry names: secrets resolved
 * from the registry's references, the SSRF guard, and the tool's timeout, concurrency limit,
 * circuit breaker and (idempotent tools only) retries. The result it returns, and so the
 * recorded event, has every secret value used by the call scrubbed out.
 */
@Injectable()
export class ExecutionService implements OnApplicationShutdown {
  constructor(
    @Inject(ENV) private readonly env: ExecutorEnv,
    private readonly config: ConfigSync,
    @Inject(SECRET_PROVIDER) private readonly secrets: SecretProvider,
    private readonly resilience: UpstreamResilience,
  ) {}

  async execute(req: ExecuteRequest): Promise<RunResult> {
    const tool = this.config.files.tools.get(req.tool);
    if (!tool) {
      throw new GatewayError(
        'EXECUTOR.TOOL_UNAVAILABLE',
        `the executor has no registry entry for ${req.tool}; its config may be out of date`,
      );
    }
    const upstream = tool.upstream;
    if (upstream.type === 'sdk') {
      throw new GatewayError(
        'EXECUTOR.TOOL_UNAVAILABLE',
        `${req.tool} runs inside its own MCP server (the governed-tool SDK); call it there`,
      );
    }
    const started = performance.now();
    const scope = new SecretScope(this.secrets);
    if (upstream.type === 'mcp') {
      // Secrets in the registry's url, headers and stdio env are resolved here, never the agent's.
      const resolveAll = async (o: Record<string, string>) =>
        Object.fromEntries(
          await Promise.all(
            Object.entries(o).map(async ([k, v]) => [k, await scope.resolve(v)] as const),
          ),
        );
      const resolved = {
        ...upstream,
        url:
          upstream.url === undefined
            ? undefined
            : await scope.resolve(upstream.url, encodeURIComponent),
        headers: await resolveAll(upstream.headers),
        env: await resolveAll(upstream.env),
      };
      const answer = await this.resilience.run(req.tool, upstream, tool.idempotent, (ctx) =>
        callMcpUpstream(req.tool, resolved, req.arguments, this.env.MAX_RESPONSE_BYTES, {
          signal: ctx.signal,
          scrubText: (t) => scope.scrubText(t),
        }),
      );
      return {
        ...this.masked(req, tool, scope.scrub(answer.body)),
        upstream_status: answer.status,
        duration_ms: round(performance.now() - started),
      };
    }
    // Secrets are resolved once, before the breaker: a missing secret is not the upstream's fault.
    const prepared = await prepareHttpCall(upstream, req.arguments, scope);
    const answer = await this.resilience.run(req.tool, upstream, tool.idempotent, (ctx) =>
      sendHttpCall(req.tool, upstream, prepared, this.env.MAX_RESPONSE_BYTES, ctx.signal),
    );
    return {
      ...this.masked(req, tool, scope.scrub(answer.body)),
      upstream_status: answer.status,
      duration_ms: round(performance.now() - started),
    };
  }

  /** PII masking of the result (seed 003): the tool's level, else the project's. Counts only in the report. */
  private masked(
    req: ExecuteRequest,
    tool: ToolFile,
    result: unknown,
  ): { result: unknown; masking: MaskingReport } {
    const level =
      tool.pii_masking.level ??
      forProject(this.config.files.policies, req.project).pii_masking.level;
    const out = maskPii(result, { level, allowFields: tool.pii_masking.allow_fields });
    return {
      result: out.value,
      masking: {
        level,
        masked: nonZero(out.report.masked),
        rejected: nonZero(out.report.rejected),
      },
    };
  }

  async onApplicationShutdown() {
    await closeMcpClients();
  }
}

function nonZero(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
}

export function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
