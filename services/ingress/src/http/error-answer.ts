import { GatewayError } from '@sg/contracts';
import type { HttpAnswer } from '../toolcall/toolcall.service.js';

/** The HTTP answer for any error: a stable code and a message, never a stack trace. */
export function errorAnswer(err: unknown, traceId: string): HttpAnswer {
  const error =
    err instanceof GatewayError
      ? err
      : new GatewayError('GATEWAY.INTERNAL', 'internal error; quote the trace_id to an operator');
  return {
    status: error.httpStatus,
    headers: { 'x-trace-id': traceId },
    body: { success: false, error: error.toBody(), trace_id: traceId },
  };
}

/** Maps Fastify's own request errors (body parsing, size) to gateway codes. */
export function fromFastifyError(err: {
  code?: string;
  statusCode?: number;
  message: string;
}): GatewayError {
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
    return new GatewayError('REQUEST.NOT_FOUND', 'no such endpoint; see the README for the API');
  return new GatewayError('GATEWAY.INTERNAL', 'internal error; quote the trace_id to an operator');
}
