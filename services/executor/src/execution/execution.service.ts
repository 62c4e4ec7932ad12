import { Inject, Injectable } from '@nestjs/common';
import { type ExecuteRequest, type ExecuteResult, GatewayError } from '@sg/contracts';
import { ConfigSync } from '@sg/messaging';
import { ENV } from '@sg/runtime';
import type { ExecutorEnv } from '../config/env.js';
import { callHttpUpstream } from './http-upstream.js';

/** Runs calls the policy allowed, against the upstream the registry names. */
@Injectable()
export class ExecutionService {
  constructor(
    @Inject(ENV) private readonly env: ExecutorEnv,
    private readonly config: ConfigSync,
  ) {}

  async execute(req: ExecuteRequest): Promise<ExecuteResult> {
    const tool = this.config.files.tools.get(req.tool);
    if (!tool) {
      throw new GatewayError('EXECUTOR.TOOL_UNAVAILABLE', `the executor has no registry entry for ${req.tool}; its config may be out of date`);
    }
    if (tool.upstream.type !== 'http') {
      throw new GatewayError('EXECUTOR.TOOL_UNAVAILABLE', `${req.tool} uses an ${tool.upstream.type} upstream, which this executor cannot call yet`);
    }
    const started = performance.now();
    const answer = await callHttpUpstream(req.tool, tool.upstream, req.arguments, this.env.MAX_RESPONSE_BYTES);
    return { result: answer.body, upstream_status: answer.status, duration_ms: round(performance.now() - started) };
  }
}

export function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
