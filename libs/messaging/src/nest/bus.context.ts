import { BaseRpcContext } from '@nestjs/microservices';
import type { Context } from '@sg/runtime';
import type { MessageContext } from '../bus.js';

/**
 * What a bus handler gets as its `@Ctx()`: the message's trace id and project (from its
 * headers), the contract subject it arrived on, and its OpenTelemetry context: the caller's,
 * then the handler's own span once BusTracingInterceptor has started it, so that what the
 * handler sends or publishes with this context continues its trace.
 */
export class BusContext
  extends BaseRpcContext<[subject: string, message: MessageContext]>
  implements MessageContext
{
  readonly traceId: string;
  readonly project: string;
  otel: Context | undefined;

  constructor(
    readonly subject: string,
    message: MessageContext,
  ) {
    super([subject, message]);
    this.traceId = message.traceId;
    this.project = message.project;
    this.otel = message.otel;
  }
}
