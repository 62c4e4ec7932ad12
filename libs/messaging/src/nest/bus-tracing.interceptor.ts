import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { context, failSpan, SpanKind, trace, tracer, tracingOn } from '@sg/runtime';
import { finalize, Observable, tap } from 'rxjs';
import type { BusContext } from './bus.context.js';

/**
 * The tracing of every bus handler: a server span, child of the caller's span (from the
 * message's traceparent), active while the handler runs, so its upstream calls and the events
 * it publishes are children of it.
 */
@Injectable()
export class BusTracingInterceptor implements NestInterceptor {
  intercept(execution: ExecutionContext, next: CallHandler): Observable<unknown> {
    // Off (the default), the caller's context in BusContext.otel is passed on as it came.
    if (!tracingOn()) return next.handle();
    const bus = execution.switchToRpc().getContext<BusContext>();
    const parent = bus.otel ?? context.active();
    const span = tracer().startSpan(
      bus.subject,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.destination.name': bus.subject,
          'sg.trace_id': bus.traceId,
          'sg.project': bus.project,
        },
      },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    bus.otel = ctx;
    // Subscribed inside the span's context: Nest calls the handler when the stream is subscribed.
    return new Observable<unknown>((subscriber) =>
      context.with(ctx, () => next.handle().subscribe(subscriber)),
    ).pipe(
      tap({ error: (err: unknown) => failSpan(span, err) }),
      finalize(() => span.end()),
    );
  }
}
