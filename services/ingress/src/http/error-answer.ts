import { Inject, Injectable } from '@nestjs/common';
import { GatewayError } from '@sg/contracts';
import { answerError, LOGGER, type Logger } from '@sg/runtime';
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

/**
 * Maps an error raised before a controller ran (body parsing, size, unknown route) to a
 * gateway code. Our own JSON parser already throws GatewayErrors; Fastify's are told apart
 * by their code or status.
 */
export function fromFastifyError(err: {
  code?: string;
  statusCode?: number;
  message: string;
}): GatewayError | null {
  if (err instanceof GatewayError) return err;
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new GatewayError(
        'REQUEST.INVALID_JSON',
        'the body is not valid JSON; send a JSON object',
      );
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError(
        'REQUEST.TOO_LARGE',
        'the body is larger than the gateway accepts (BODY_LIMIT_BYTES)',
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError(
        'REQUEST.UNSUPPORTED_MEDIA_TYPE',
        'send the body with Content-Type: application/json',
      );
  }
  if (err instanceof SyntaxError || err.statusCode === 400) {
    return new GatewayError(
      'REQUEST.INVALID_JSON',
      'the body is not valid JSON; send a JSON object',
    );
  }
  if (err.statusCode === 413)
    return new GatewayError(
      'REQUEST.TOO_LARGE',
      'the body is larger than the gateway accepts (BODY_LIMIT_BYTES)',
    );
  if (err.statusCode === 415)
    return new GatewayError(
      'REQUEST.UNSUPPORTED_MEDIA_TYPE',
      'send the body with Content-Type: application/json',
    );
  if (err.statusCode === 404)
    return new GatewayError('REQUEST.NOT_FOUND', 'no such endpoint; see docs/api.md for the API');
  return null;
}
