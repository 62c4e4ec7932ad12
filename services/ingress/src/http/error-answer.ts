import { Inject, Injectable } from '@nestjs/common';
import { GatewayError } from '@sg/contracts';
import { answerError, fromFastifyError, LOGGER, type Logger } from '@sg/runtime';

export { fromFastifyError };
import { OAuthTokens } from '../auth/oauth.js';
import type { FastifyReply } from 'fastify';
import type { HttpAnswer } from '../toolcall/toolcall.service.js';

/** Sends an answer: its status, headers and body. */
export function send(reply: FastifyReply, answer: HttpAnswer) {
  return reply.status(answer.status).headers(answer.headers).send(answer.body);
}

/** Turns any error into the gateway's HTTP answer (answerError in @sg/runtime). */
@Injectable()
export class ErrorAnswers {
  constructor(
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly oauth: OAuthTokens,
  ) {}

  /** Headers an error's answer carries: a 401 says how to authenticate (WWW-Authenticate). */
  headersFor(error: GatewayError): Record<string, string> {
    return error.httpStatus === 401 ? { 'www-authenticate': this.oauth.challenge(error.code) } : {};
  }

  /** The GatewayError an error is answered with (5xx logged with the trace id). */
  gatewayError(err: unknown, traceId: string): GatewayError {
    return answerError(err, traceId, this.logger);
  }

  /** Sends the error's answer on `reply`. */
  send(reply: FastifyReply, err: unknown, traceId: string) {
    return send(reply, this.answer(err, traceId));
  }

  answer(err: unknown, traceId: string): HttpAnswer {
    const error = this.gatewayError(err, traceId);
    return {
      status: error.httpStatus,
      headers: { ...this.headersFor(error), 'x-trace-id': traceId },
      body: { success: false, error: error.toBody(), trace_id: traceId },
    };
  }
}
