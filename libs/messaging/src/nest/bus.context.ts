import { BaseRpcContext } from '@nestjs/microservices';
import type { MessageContext } from '../bus.js';

/**
 * What a bus handler gets as its `@Ctx()`: the message's trace id, project and traceparent
 * (from its headers), and the contract subject it arrived on.
 */
export class BusContext extends BaseRpcContext<[subject: string, message: MessageContext]> {
  readonly traceId: string;
  readonly project: string;
  readonly traceparent: string | undefined;

  constructor(
    readonly subject: string,
    message: MessageContext,
  ) {
    super([subject, message]);
    this.traceId = message.traceId;
    this.project = message.project;
    this.traceparent = message.traceparent;
  }
}
