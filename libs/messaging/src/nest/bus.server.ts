import { type CustomTransportStrategy, type MessageHandler, Server } from '@nestjs/microservices';
import { REQUESTS, type RequestSubject, type ResponseOf } from '@sg/contracts';
import { isObservable, lastValueFrom } from 'rxjs';
import type { NatsBus } from '../bus.js';
import { BusContext } from './bus.context.js';

/**
 * Nest's transport for the typed bus: every `@MessagePattern(subject)` method of a controller
 * answers that subject in the service's queue group. The bus does the wire work (the request
 * validated against its contract before the method runs, the reply or the error's code sent
 * back); Nest runs the method with its guards, interceptors, pipes and exception filters.
 */
export class BusServer extends Server implements CustomTransportStrategy {
  constructor(private readonly bus: NatsBus) {
    super();
  }

  listen(callback: (err?: unknown) => void): void {
    try {
      for (const [pattern, handler] of this.messageHandlers) {
        if (handler.isEventHandler) {
          throw new Error(`@EventPattern(${pattern}): events are read by JetStream consumers`);
        }
        if (!(pattern in REQUESTS)) {
          throw new Error(`@MessagePattern(${pattern}) is not a request subject of the contracts`);
        }
        this.answer(pattern as RequestSubject, handler);
      }
      callback();
    } catch (err) {
      callback(err);
    }
  }

  private answer(subject: RequestSubject, handler: MessageHandler): void {
    this.bus.handle(subject, async (payload, message) => {
      const result: unknown = await handler(payload, new BusContext(subject, message));
      // An exception comes out of the exception filter (BusErrorFilter) as the stream's error.
      // The method's type was checked against the contract by @MessagePattern.
      return (isObservable(result) ? lastValueFrom(result) : result) as ResponseOf<typeof subject>;
    });
  }

  close(): void {
    // The subscriptions end when MessagingModule drains the bus at shutdown, after in-flight
    // requests are answered.
  }

  on(): never {
    throw new Error('the bus transport has no events to listen to');
  }

  unwrap<T>(): T {
    return this.bus as T;
  }
}
