import { MessagePattern as NestMessagePattern } from '@nestjs/microservices';

// A handler names its payload and its BusContext with Nest's own parameter decorators.
export { Ctx, Payload } from '@nestjs/microservices';
import type { RequestOf, RequestSubject, ResponseOf } from '@sg/contracts';
import type { BusContext } from './bus.context.js';

/** A method that may answer `S`: it takes the request of S and resolves to its response. */
type RequestHandler<S extends RequestSubject> = (
  payload: RequestOf<S>,
  ctx: BusContext,
) => ResponseOf<S> | Promise<ResponseOf<S>>;

/**
 * Nest's `@MessagePattern`, typed by the contracts: the subject must be a request subject of
 * `REQUESTS`, and the method must take its request and return its response, or it does not
 * compile. The bus transport validates each request against the contract before the method
 * runs.
 */
export function MessagePattern<S extends RequestSubject>(subject: S) {
  const decorate = NestMessagePattern(subject);
  return <M extends RequestHandler<S>>(
    target: object,
    key: string | symbol,
    descriptor: TypedPropertyDescriptor<M>,
  ): void => {
    decorate(target, key, descriptor);
  };
}
