import type { LoggerService } from '@nestjs/common';
import { GatewayError } from '@sg/contracts';
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

/**
 * Field paths that may hold a credential. pino censors them before a line is written, so a
 * handler that logs a whole request cannot leak a key.
 */
export const REDACT_PATHS = [
  'key',
  'api_key',
  'apiKey',
  'password',
  'secret',
  'token',
  'authorization',
  '*.key',
  '*.api_key',
  '*.apiKey',
  '*.password',
  '*.secret',
  '*.token',
  '*.authorization',
  'headers["x-api-key"]',
  'headers["x-admin-key"]',
  'headers["x-gateway-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["x-admin-key"]',
];

export function createLogger(service: string, opts: { level: string; pretty: boolean }): Logger {
  const options = {
    level: opts.level,
    base: { service },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  if (!opts.pretty) return pino(options);
  return pino(
    options,
    pretty({
      sync: true,
      singleLine: true,
      colorize: process.stdout.isTTY,
      ignore: 'pid,hostname,service',
      translateTime: 'HH:MM:ss.l',
    }),
  );
}

/**
 * How an exception is logged where it is caught: its class, message and stack. They go to the
 * log only, never to a caller (which gets a code and a trace id).
 */
export function errorFields(err: unknown): {
  err_class: string;
  err_message: string;
  stack?: string;
} {
  if (err instanceof Error)
    return { err_class: err.constructor.name, err_message: err.message, stack: err.stack };
  return { err_class: err === null ? 'null' : typeof err, err_message: String(err) };
}

/** Routes Nest's own messages (module init, routes) through pino. */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string) {
    this.logger.debug({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string) {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string) {
    this.logger.trace({ context }, String(message));
  }
}

const INTERNAL_MESSAGE = 'internal error; quote the trace_id to an operator';

/**
 * The GatewayError an error is answered with: a stable code and a message, never a stack trace.
 * Every 5xx is logged here with its trace id, the error's class and its stack, so an operator
 * handed a trace_id finds the cause.
 */
export function answerError(err: unknown, traceId: string, logger: Logger): GatewayError {
  if (err instanceof GatewayError) {
    if (err.httpStatus >= 500) {
      logger.warn(
        { trace_id: traceId, code: err.code, ...errorFields(err) },
        `answered ${err.httpStatus} ${err.code}: ${err.message}`,
      );
    }
    return err;
  }
  logger.error(
    { trace_id: traceId, code: 'GATEWAY.INTERNAL', ...errorFields(err) },
    'unexpected error, answered 500 GATEWAY.INTERNAL',
  );
  return new GatewayError('GATEWAY.INTERNAL', INTERNAL_MESSAGE);
}
