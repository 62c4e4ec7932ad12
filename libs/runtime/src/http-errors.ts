import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import { GatewayError } from '@sg/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { answerError, type Logger } from './logger.js';
import { traceIdFrom } from './trace.js';

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

/**
 * The gateway error of an error raised before the handlers ran, or null for any other error.
 * Nest wraps Fastify's own errors in an HttpException; their code is on the cause.
 */
export function knownError(exception: unknown): GatewayError | null {
  const raw = exception as {
    code?: string;
    statusCode?: number;
    message: string;
    cause?: { code?: string };
  };
  return (
    fromFastifyError(raw) ??
    (exception instanceof HttpException || raw.cause
      ? fromFastifyError({
          code: raw.code ?? raw.cause?.code,
          statusCode: exception instanceof HttpException ? exception.getStatus() : raw.statusCode,
          message: raw.message,
        })
      : null)
  );
}

/**
 * A service's answer to an error raised before its handlers (body parsing, size, an unknown
 * route) or one they let escape: the gateway's code and error shape,
 * `{success: false, error: {code, message}, trace_id}`, never the framework's. Anything else is
 * a 500 GATEWAY.INTERNAL, logged with its trace id. runService sets it on every service; the
 * ingress sets its own over it, which also audits refused tool calls.
 */
@Catch()
export class GatewayErrorFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost) {
    const http = host.switchToHttp();
    const req = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const known = knownError(exception);
    const traceId = traceIdFrom(req.headers['x-trace-id'], req.headers.traceparent);
    const error = answerError(known ?? exception, traceId, this.logger);
    void reply
      .status(error.httpStatus)
      .header('x-trace-id', traceId)
      .send({ success: false, error: error.toBody(), trace_id: traceId });
  }
}
