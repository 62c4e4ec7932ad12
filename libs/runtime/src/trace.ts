import { randomBytes } from 'node:crypto';
import { TRACE_ID_PATTERN } from '@sg/contracts';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/** A W3C trace id (32 hex digits), also used as the gateway's trace_id. */
export function newTraceId(): string {
  return randomBytes(16).toString('hex');
}

export function newSpanId(): string {
  return randomBytes(8).toString('hex');
}

export function traceparentFor(traceId: string): string {
  const w3cTraceId = /^[0-9a-f]{32}$/.test(traceId) ? traceId : newTraceId();
  return `00-${w3cTraceId}-${newSpanId()}-01`;
}

/**
 * The trace id of an incoming request: the caller's X-Trace-Id if it is well formed, else the
 * trace id of its traceparent, else a new one. Malformed values are ignored, never echoed.
 */
export function traceIdFrom(traceIdHeader: unknown, traceparentHeader: unknown): string {
  if (typeof traceIdHeader === 'string' && TRACE_ID_PATTERN.test(traceIdHeader)) return traceIdHeader;
  if (typeof traceparentHeader === 'string') {
    const match = TRACEPARENT.exec(traceparentHeader);
    if (match && !/^0+$/.test(match[1]!)) return match[1]!;
  }
  return newTraceId();
}
