import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  type IdGenerator,
  ParentBasedSampler,
  type Sampler,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace';
import { newSpanId, newTraceId } from './trace.js';

export { type Context, context, SpanKind, trace } from '@opentelemetry/api';

/** Tracing settings: the standard OTEL_* variables, read once at start (docs/observability.md). */
export interface TracingEnv {
  /** `none` (the default: no spans are made or sent), `otlp` or `console`. */
  OTEL_TRACES_EXPORTER: 'none' | 'otlp' | 'console';
  /** Unset: 10 % of new traces, and whatever an incoming traceparent decided (parent-based). */
  OTEL_TRACES_SAMPLER?:
    | 'always_on'
    | 'always_off'
    | 'traceidratio'
    | 'parentbased_always_on'
    | 'parentbased_always_off'
    | 'parentbased_traceidratio';
  /** The ratio of the traceidratio samplers (default 1). */
  OTEL_TRACES_SAMPLER_ARG?: number;
}

/** The fraction of new traces sampled when OTEL_TRACES_SAMPLER is not set. */
export const DEFAULT_SAMPLE_RATIO = 0.1;

/**
 * Trace ids of new traces: the gateway's own trace id when one is waiting (`next`), so
 * the trace's id is the trace_id every answer, event and audit row carries.
 */
class GatewayIds implements IdGenerator {
  next: string | undefined;
  generateTraceId(): string {
    const id = this.next ?? newTraceId();
    this.next = undefined;
    return id;
  }
  generateSpanId(): string {
    return newSpanId();
  }
}

const ids = new GatewayIds();
/** Whether spans are made (startTracing started the SDK); when not, the span helpers step aside. */
let recording = false;

export function tracingOn(): boolean {
  return recording;
}

const W3C_TRACE_ID = /^[0-9a-f]{32}$/;

/** The tracer of every SecureGateway span. */
export const tracer = () => trace.getTracer('securegateway');

/**
 * Starts OpenTelemetry for one service, first thing in its runService. Spans are made and
 * exported only when OTEL_TRACES_EXPORTER names an exporter (or a test gives span processors);
 * off, the span helpers, the interceptors and the NATS headers step aside: nothing is made,
 * sent or propagated. The W3C propagator is registered either way. The OTLP exporter reads the
 * OTEL_EXPORTER_OTLP_* variables itself.
 */
export function startTracing(
  service: string,
  env: TracingEnv,
  /** Where spans go instead of the exporter of OTEL_TRACES_EXPORTER (tests: in memory). */
  spanProcessors?: SpanProcessor[],
): { shutdown(): Promise<void> } {
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  if (env.OTEL_TRACES_EXPORTER === 'none' && !spanProcessors)
    return { shutdown: async () => undefined };
  const sdk = new NodeSDK({
    serviceName: `sg-${service}`,
    instrumentations: [],
    ...(spanProcessors ? { spanProcessors } : {}),
    metricReaders: [],
    logRecordProcessors: [],
    textMapPropagator: new W3CTraceContextPropagator(),
    idGenerator: ids,
    sampler: samplerOf(env),
  });
  sdk.start();
  recording = true;
  return {
    shutdown: async () => {
      recording = false;
      await sdk.shutdown();
    },
  };
}

/** The sampler the settings name, as the OTel specification defines the names. */
export function samplerOf(env: TracingEnv): Sampler {
  const ratio = new TraceIdRatioBasedSampler(env.OTEL_TRACES_SAMPLER_ARG ?? 1);
  switch (env.OTEL_TRACES_SAMPLER) {
    case undefined:
      return new ParentBasedSampler({
        root: new TraceIdRatioBasedSampler(DEFAULT_SAMPLE_RATIO),
      });
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
  }
}

/**
 * Starts a trace's first span in this gateway with the gateway's trace id as the trace's id
 * (when it is a W3C id; a caller's X-Trace-Id of another shape keeps its own trace), or as a
 * child of the caller's traceparent.
 */
export function startRequestSpan(
  name: string,
  traceId: string,
  incoming: Context,
  attributes: Record<string, string>,
): Span {
  const parent = trace.getSpanContext(incoming);
  if (parent && parent.traceId === traceId) {
    return tracer().startSpan(name, { kind: SpanKind.SERVER, attributes }, incoming);
  }
  if (W3C_TRACE_ID.test(traceId)) ids.next = traceId;
  try {
    return tracer().startSpan(name, { kind: SpanKind.SERVER, root: true, attributes });
  } finally {
    ids.next = undefined;
  }
}

/** Runs `fn` inside a span that is a child of `parent` (the active context when omitted). */
export async function inSpan<T>(
  name: string,
  kind: SpanKind,
  attributes: Record<string, string | number>,
  fn: (ctx: Context) => Promise<T>,
  parent: Context = context.active(),
): Promise<T> {
  if (!recording) return fn(parent);
  const span = tracer().startSpan(name, { kind, attributes }, parent);
  const ctx = trace.setSpan(parent, span);
  try {
    return await context.with(ctx, () => fn(ctx));
  } catch (err) {
    failSpan(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/** Marks a span failed with the error's code (a GatewayError's) or class; never its message. */
export function failSpan(span: Span, err: unknown): void {
  const code = (err as { code?: unknown })?.code;
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message:
      typeof code === 'string' ? code : err instanceof Error ? err.constructor.name : 'error',
  });
}

/** Writes a context's traceparent (and tracestate) into headers, W3C's propagator. */
export function injectContext<C>(ctx: Context, carrier: C, setter: TextMapSetter<C>): void {
  propagation.inject(ctx, carrier, setter);
}

/** Reads a traceparent (and tracestate) from headers; the root context when there is none. */
export function extractContext<C>(carrier: C, getter: TextMapGetter<C>): Context {
  return propagation.extract(ROOT_CONTEXT, carrier, getter);
}
