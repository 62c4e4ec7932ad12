import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import { GatewayError } from '@sg/contracts';
import { type IncomingHttpHeaders, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { answerError, type Logger } from './logger.js';
import { newTraceId, traceIdFrom } from './trace.js';

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
    case 'FST_ERR_BAD_URL':
      return new GatewayError(
        'REQUEST.INVALID_URL',
        'the path has a malformed percent-encoding; encode it as UTF-8 (encodeURIComponent)',
      );
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new GatewayError(
        'REQUEST.URI_TOO_LONG',
        'a path parameter is longer than 100 characters; no id of the API is that long',
      );
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

function sendError(reply: FastifyReply, error: GatewayError, traceId: string) {
  void reply
    .status(error.httpStatus)
    .header('x-trace-id', traceId)
    .send({ success: false, error: error.toBody(), trace_id: traceId });
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
    sendError(reply, answerError(known ?? exception, traceId, this.logger), traceId);
  }
}

/** The gateway's error for what Node refuses before a request exists: headers too large, not HTTP, too slow. */
function clientError(code: string | undefined): GatewayError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new GatewayError(
        'REQUEST.HEADERS_TOO_LARGE',
        'the request headers are larger than 16 KiB; send fewer or shorter headers',
      );
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new GatewayError(
        'REQUEST.TIMEOUT',
        'the request did not arrive within HTTP_REQUEST_TIMEOUT_MS; send it whole, without pauses',
      );
    default:
      return new GatewayError(
        'REQUEST.MALFORMED',
        'the request is not HTTP/1.1 the gateway can read; check the request line and headers',
      );
  }
}

/**
 * Fastify's answers before routing (a bad percent-encoding, a path parameter over 100
 * characters) and Node's before a request exists (headers over 16 KiB, not HTTP, past the
 * request deadline), in the gateway's code and shape instead of the framework's. Both are
 * Fastify options, so runService passes them to every service's adapter.
 */
export function frameworkErrorOptions(logger: Logger) {
  return {
    frameworkErrors(error: Error, req: { headers: IncomingHttpHeaders }, reply: object) {
      const traceId = traceIdFrom(req.headers['x-trace-id'], req.headers.traceparent);
      // Typed `object`: Fastify types this reply by the route's generics, and there is no route yet.
      sendError(
        reply as FastifyReply,
        answerError(knownError(error) ?? error, traceId, logger),
        traceId,
      );
    },
    clientErrorHandler(err: Error & { code?: string }, socket: Socket) {
      // A reset connection has no one to answer.
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const traceId = newTraceId();
      const answer = clientError(err.code);
      if (socket.writable) {
        const body = JSON.stringify({ success: false, error: answer.toBody(), trace_id: traceId });
        socket.write(
          `HTTP/1.1 ${answer.httpStatus} ${STATUS_CODES[answer.httpStatus]}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
            `X-Trace-Id: ${traceId}\r\nConnection: close\r\n\r\n${body}`,
        );
      }
      socket.destroy(err);
    },
  };
}
