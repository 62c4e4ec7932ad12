import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { context, trace } from '@opentelemetry/api';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { finalize, Observable, tap } from 'rxjs';
import { headerOf } from './request-parts.js';
import { traceIdFrom } from './trace.js';
import { extractContext, failSpan, startRequestSpan, tracingOn } from './tracing.js';

const UNTRACED = new Set(['/healthz', '/metrics']);

const headerGetter = {
  get: (h: FastifyRequest['headers'], key: string) => headerOf(h, key),
  keys: (h: FastifyRequest['headers']) => Object.keys(h),
};

/**
 * The tracing of a public HTTP port's controllers: one server span per request, whose trace id
 * is the gateway's trace id for the request (X-Trace-Id, else the caller's traceparent, else a
 * new one), active while the controller runs, so what it does (the decision, the bus requests)
 * is part of the call's trace.
 */
@Injectable()
export class HttpTracingInterceptor implements NestInterceptor {
  intercept(execution: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = execution.switchToHttp();
    const req = http.getRequest<FastifyRequest>();
    const route = req.routeOptions.url ?? 'unmatched';
    // Probes and scrapes every few seconds would bury the calls' traces.
    if (!tracingOn() || UNTRACED.has(route)) return next.handle();
    const traceId = traceIdFrom(
      headerGetter.get(req.headers, 'x-trace-id'),
      headerGetter.get(req.headers, 'traceparent'),
    );
    const incoming = extractContext(req.headers, headerGetter);
    const span = startRequestSpan(`${req.method} ${route}`, traceId, incoming, {
      'http.request.method': req.method,
      'http.route': route,
      'sg.trace_id': traceId,
    });
    const ctx = trace.setSpan(incoming, span);
    return new Observable<unknown>((subscriber) =>
      context.with(ctx, () => next.handle().subscribe(subscriber)),
    ).pipe(
      tap({ error: (err: unknown) => failSpan(span, err) }),
      finalize(() => {
        span.setAttribute('http.response.status_code', http.getResponse<FastifyReply>().statusCode);
        span.end();
      }),
    );
  }
}
