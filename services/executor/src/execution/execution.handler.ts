import { Injectable, type OnModuleInit } from '@nestjs/common';
import { EXECUTE_SUBJECT, GatewayError, TOOLCALL_EXECUTED } from '@sg/contracts';
import { NatsBus } from '@sg/messaging';
import { ExecutionService, round } from './execution.service.js';

/** gw.executor.execute.v1: run the call, publish what happened, answer. */
@Injectable()
export class ExecutionHandler implements OnModuleInit {
  constructor(
    private readonly bus: NatsBus,
    private readonly execution: ExecutionService,
  ) {}

  onModuleInit() {
    this.bus.handle(EXECUTE_SUBJECT, async (req, ctx) => {
      const started = performance.now();
      const base = { agent_id: req.agent_id, request_id: req.request_id, tool: req.tool };
      try {
        const out = await this.execution.execute(req);
        this.bus.publish(TOOLCALL_EXECUTED, { ...base, status: 'ok', duration_ms: out.duration_ms, upstream_status: out.upstream_status, error_code: null, result: out.result }, ctx);
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
