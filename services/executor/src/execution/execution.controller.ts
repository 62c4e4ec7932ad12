import { Inject, type OnModuleInit } from '@nestjs/common';
import {
  callOutcome,
  type CallRecord,
  EXECUTE_SUBJECT,
  type ExecuteRequest,
  type ExecuteResult,
  type Execution,
  GatewayError,
  httpStatusOf,
  TOOLCALL_COMPLETED,
  TOOLCALL_EXECUTED,
} from '@sg/contracts';
import {
  BusController,
  Ctx,
  Payload,
  MessagePattern,
  NatsBus,
  type MessageContext,
} from '@sg/messaging';
import { ENV, errorFields, LOGGER, type Logger } from '@sg/runtime';
import type { ExecutorEnv } from '../config/env.js';
import { ExecutionService, round } from './execution.service.js';

/** Results larger than this are left out of the recorded event (its size is recorded instead). */
export const EVENT_RESULT_LIMIT_BYTES = 64 * 1024;

export function resultForEvent(result: unknown): {
  result?: unknown;
  result_bytes: number;
  result_truncated: boolean;
} {
  const bytes = Buffer.byteLength(JSON.stringify(result ?? null));
  return bytes <= EVENT_RESULT_LIMIT_BYTES
    ? { result, result_bytes: bytes, result_truncated: false }
    : { result_bytes: bytes, result_truncated: true };
}

/**
 * gw.executor.execute.v1: run the call, record it, answer. The record is published before the
 * answer, so a run is audited even if the caller dies meanwhile: with the caller's call record,
 * the call's one toolcall.completed (ADR 0011); without it, a toolcall.executed of the run.
 */
@BusController()
export class ExecutionController implements OnModuleInit {
  constructor(
    private readonly bus: NatsBus,
    private readonly execution: ExecutionService,
    @Inject(ENV) private readonly env: ExecutorEnv,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onModuleInit() {
    const room = this.bus.maxPayload - 16 * 1024;
    if (this.env.MAX_RESPONSE_BYTES > room) {
      throw new Error(
        `MAX_RESPONSE_BYTES (${this.env.MAX_RESPONSE_BYTES}) must be at most ${room}: results travel in one NATS message (max_payload ${this.bus.maxPayload})`,
      );
    }
  }

  @MessagePattern(EXECUTE_SUBJECT)
  async execute(
    @Payload() req: ExecuteRequest,
    @Ctx() ctx: MessageContext,
  ): Promise<ExecuteResult> {
    const started = performance.now();
    let answer: ExecuteResult;
    let execution: Execution;
    try {
      const out = await this.execution.execute(req);
      answer = { ok: true, ...out };
      execution = {
        status: 'ok',
        duration_ms: out.duration_ms,
        upstream_status: out.upstream_status,
        error_code: null,
        ...resultForEvent(out.result),
        ...(out.masking ? { masking: out.masking } : {}),
      };
    } catch (err) {
      if (!(err instanceof GatewayError)) {
        this.logger.error(
          {
            trace_id: ctx.traceId,
            tool: req.tool,
            ...errorFields(err),
          },
          'execution failed unexpectedly',
        );
      }
      const error =
        err instanceof GatewayError
          ? err
          : new GatewayError(
              'GATEWAY.INTERNAL',
              'internal error; quote the trace_id to an operator',
            );
      const upstreamStatus =
        (error.details as { upstream_status?: number } | undefined)?.upstream_status ?? null;
      const duration = round(performance.now() - started);
      answer = {
        ok: false,
        error: error.toBody(),
        upstream_status: upstreamStatus,
        duration_ms: duration,
      };
      execution = {
        status: 'error',
        duration_ms: duration,
        upstream_status: upstreamStatus,
        error_code: error.code,
      };
    }
    if (req.record) this.record(req, req.record, execution, answer, started, ctx);
    else
      this.bus.publish(
        TOOLCALL_EXECUTED,
        {
          agent_id: req.agent_id,
          request_id: req.request_id,
          tool: req.tool,
          arguments: req.arguments,
          ...execution,
        },
        ctx,
      );
    return answer;
  }

  /** The call's toolcall.completed, as the ingress would have recorded this answer. */
  private record(
    req: ExecuteRequest,
    record: CallRecord,
    execution: Execution,
    answer: ExecuteResult,
    started: number,
    ctx: MessageContext,
  ) {
    const status = answer.ok ? 200 : httpStatusOf(answer.error.code);
    this.bus.publish(
      TOOLCALL_COMPLETED,
      {
        channel: record.channel,
        agent_id: req.agent_id,
        session_id: req.session_id,
        request_id: req.request_id,
        tool: req.tool,
        outcome: callOutcome(status, false),
        http_status: status,
        code: answer.ok ? null : answer.error.code,
        risk_score: record.decision.risk_score,
        duration_ms: round(record.elapsed_ms + performance.now() - started),
        agent_version: record.agent_version,
        user_id: record.user_id,
        arguments: req.arguments,
        decision: record.decision,
        execution,
      },
      ctx,
      record.audit_id,
    );
  }
}
