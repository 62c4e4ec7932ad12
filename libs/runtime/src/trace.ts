import { randomBytes } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { TRACE_ID_PATTERN } from '@sg/contracts';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/**
 * Random bytes as hex, cut from a pool filled 4 KiB at a time (as crypto.randomUUID does): a
 * call takes two ids, and a randomBytes() of its own for each cost about 3 % of the ingress.
 */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let used = 0;
function randomHex(bytes: number): string {
  if (used + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES);
    used = 0;
  }
  used += bytes;
  return pool.toString('hex', used - bytes, used);
}

/** A W3C trace id (32 hex digits), also used as the gateway's trace_id. */
export function newTraceId(): string {
  return randomHex(16);
}

export function newSpanId(): string {
  return randomHex(8);
}

/**
 * The trace id of an incoming request: the caller's X-Trace-Id if it is well formed, else the
 * trace id of its traceparent, else that of the request's span (which took a new one), else a
 * new one. Malformed values are ignored, never echoed.
 */
export function traceIdFrom(traceIdHeader: unknown, traceparentHeader: unknown): string {
  if (typeof traceIdHeader === 'string' && TRACE_ID_PATTERN.test(traceIdHeader))
    return traceIdHeader;
  if (typeof traceparentHeader === 'string') {
    const match = TRACEPARENT.exec(traceparentHeader);
    if (match && !/^0+$/.test(match[1]!)) return match[1]!;
  }
  const active = trace.getActiveSpan()?.spanContext();
  return active && trace.isSpanContextValid(active) ? active.traceId : newTraceId();
}
