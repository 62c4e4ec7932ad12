import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { GatewayError } from '@sg/contracts';
import { Metrics } from '@sg/runtime';
import { type Observable, tap } from 'rxjs';
import type { BusContext } from './bus.context.js';

/**
 * The metrics of every bus handler: answers by subject and code ('ok', or the code of the
 * error it threw), and the time each took.
 */
@Injectable()
export class BusMetricsInterceptor implements NestInterceptor {
  private readonly answers;
  private readonly latency;

  constructor(metrics: Metrics) {
    this.answers = metrics.counter({
      name: 'sg_bus_requests_total',
      help: "Requests answered by this service's bus handlers, by subject and code",
      labelNames: ['subject', 'code'],
    });
    this.latency = metrics.histogram({
      name: 'sg_bus_request_duration_seconds',
      help: "Time this service's bus handlers took, by subject",
      labelNames: ['subject'],
    });
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const { subject } = context.switchToRpc().getContext<BusContext>();
    const started = performance.now();
    const done = (code: string) => {
      this.answers.inc({ subject, code });
      this.latency.observe({ subject }, (performance.now() - started) / 1000);
    };
    return next.handle().pipe(
      tap({
        next: () => done('ok'),
        error: (err: unknown) => done(err instanceof GatewayError ? err.code : 'GATEWAY.INTERNAL'),
      }),
    );
  }
}
