import { Inject, Injectable } from '@nestjs/common';
import { loadGatewayFiles, type ToolFile } from '@sg/config';
import { type ExecuteRequest, type ExecuteResult, GatewayError } from '@sg/contracts';
import { ENV } from '@sg/runtime';
import type { ExecutorEnv } from '../config/env.js';
import { callHttpUpstream } from './http-upstream.js';

/** Runs calls the policy allowed, against the upstream the registry names. */
@Injectable()
export class ExecutionService {
  private readonly tools: ReadonlyMap<string, ToolFile>;

  constructor(@Inject(ENV) private readonly env: ExecutorEnv) {
    this.tools = loadGatewayFiles(env.CONFIG_DIR).tools;
  }

  async execute(req: ExecuteRequest): Promise<ExecuteResult> {
    const tool = this.tools.get(req.tool);
    if (!tool) {
      throw new GatewayError('EXECUTOR.TOOL_UNAVAILABLE', `the executor has no registry entry for ${req.tool}; its config may be out of date`);
    }
    const started = performance.now();
    const answer = await callHttpUpstream(req.tool, tool.upstream, req.arguments, this.env.MAX_RESPONSE_BYTES);
    return { result: answer.body, upstream_status: answer.status, duration_ms: round(performance.now() - started) };
  }
}

export function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
