import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { EXECUTE_SUBJECT, GatewayError, TOOLCALL_EXECUTED } from '@sg/contracts';
import { NatsBus } from '@sg/messaging';
import { ENV } from '@sg/runtime';
import type { ExecutorEnv } from '../config/env.js';
import { ExecutionService, round } from './execution.service.js';

/** Results larger than this are left out of the executed event (its size is recorded instead). */
export const EVENT_RESULT_LIMIT_BYTES = 64 * 1024;

export function resultForEvent(result: unknown): { result?: unknown; result_bytes: number; result_truncated: boolean } {
  const bytes = Buffer.byteLength(JSON.stringify(result ?? null));
  return bytes <= EVENT_RESULT_LIMIT_BYTES ? { result, result_bytes: bytes, result_truncated: false } : { result_bytes: bytes, result_truncated: true };
}

/** gw.executor.execute.v1: run the call, publish what happened, answer. */
@Injectable()
export class ExecutionHandler implements OnModuleInit {
  constructor(
    private readonly bus: NatsBus,
    private readonly execution: ExecutionService,
    @Inject(ENV) private readonly env: ExecutorEnv,
  ) {}

  onModuleInit() {
    const room = this.bus.maxPayload - 16 * 1024;
    if (this.env.MAX_RESPONSE_BYTES > room) {
      throw new Error(`MAX_RESPONSE_BYTES (${this.env.MAX_RESPONSE_BYTES}) must be at most ${room}: results travel in one NATS message (max_payload ${this.bus.maxPayload})`);
    }
    this.bus.handle(EXECUTE_SUBJECT, async (req, ctx) => {
      const started = performance.now();
      const base = { agent_id: req.agent_id, request_id: req.request_id, tool: req.tool, arguments: req.arguments };
      try {
        const out = await this.execution.execute(req);
        this.bus.publish(TOOLCALL_EXECUTED, { ...base, status: 'ok', duration_ms: out.duration_ms, upstream_status: out.upstream_status, error_code: null, ...resultForEvent(out.result), ...(out.masking ? { masking: out.masking } : {}) }, ctx);
        return out;
      } catch (err) {
        const code = err instanceof GatewayError ? err.code : 'GATEWAY.INTERNAL';
        const upstreamStatus = (err as GatewayError).details as { upstream_status?: number } | undefined;
        this.bus.publish(TOOLCALL_EXECUTED, { ...base, status: 'error', duration_ms: round(performance.now() - started), upstream_status: upstreamStatus?.upstream_status ?? null, error_code: code }, ctx);
        throw err;
      }
    });
  }
}
