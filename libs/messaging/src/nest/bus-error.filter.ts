import { type ArgumentsHost, Catch, Inject, type RpcExceptionFilter } from '@nestjs/common';
import { GatewayError } from '@sg/contracts';
import { errorFields, LOGGER, type Logger } from '@sg/runtime';
import { type Observable, throwError } from 'rxjs';
import type { BusContext } from './bus.context.js';

/**
 * The error mapping of every bus handler: a GatewayError crosses the wire with its code; any
 * other exception is logged here, with the trace id, the subject, its class and its stack,
 * and answered as GATEWAY.INTERNAL, so no message or stack leaves the service.
 */
@Catch()
export class BusErrorFilter implements RpcExceptionFilter<unknown> {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): Observable<never> {
    if (exception instanceof GatewayError) return throwError(() => exception);
    const ctx = host.switchToRpc().getContext<BusContext>();
    this.logger.error(
      {
        trace_id: ctx.traceId,
        subject: ctx.subject,
        code: 'GATEWAY.INTERNAL',
        ...errorFields(exception),
      },
      `unexpected error in the ${ctx.subject} handler, answered GATEWAY.INTERNAL`,
    );
    return throwError(
      () =>
        new GatewayError('GATEWAY.INTERNAL', 'internal error; quote the trace_id to an operator'),
    );
  }
}
