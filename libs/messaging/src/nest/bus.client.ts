import { ClientProxy, type ReadPacket, type WritePacket } from '@nestjs/microservices';
import type { RequestOf, RequestSubject, ResponseOf } from '@sg/contracts';
import { inSpan, SpanKind } from '@sg/runtime';
import type { MessageContext, NatsBus } from '../bus.js';

/** The data of a bus request packet: the payload, and what travels in its headers. */
export interface BusRequest<S extends RequestSubject = RequestSubject> {
  payload: RequestOf<S>;
  ctx: MessageContext;
  timeoutMs?: number;
}

/**
 * Nest's ClientProxy on the typed bus. `request(subject, payload, ctx)` is typed by the
 * contracts; `send` gives the same as an Observable. A failure is the GatewayError the bus
 * raised (the code the handler answered, or the bus's own: unavailable, timeout).
 */
export class BusClient extends ClientProxy {
  constructor(private readonly bus: NatsBus) {
    super();
  }

  /**
   * Asks `subject` and resolves to its validated response, in a client span. The Promise path
   * calls the bus at once; `send()` gives the same request as Nest's Observable (the hot path
   * skips RxJS's per-request subscriptions: bench/bus.mjs).
   */
  request<S extends RequestSubject>(
    subject: S,
    payload: RequestOf<S>,
    ctx: MessageContext,
    timeoutMs?: number,
  ): Promise<ResponseOf<S>> {
    // The handler's span is the client span's child (traceparent).
    return inSpan(
      subject,
      SpanKind.CLIENT,
      { 'messaging.system': 'nats', 'messaging.destination.name': subject },
      (otel) => this.bus.request(subject, payload, { ...ctx, otel }, timeoutMs),
      ctx.otel,
    );
  }

  /** The bus is connected by MessagingModule before any client can be used. */
  connect(): Promise<NatsBus> {
    return Promise.resolve(this.bus);
  }

  /** The bus is drained by MessagingModule at shutdown. */
  close(): void {}

  unwrap<T>(): T {
    return this.bus as T;
  }

  protected publish(
    packet: ReadPacket<BusRequest>,
    callback: (packet: WritePacket) => void,
  ): () => void {
    const { pattern, data } = packet;
    this.bus.request(pattern as RequestSubject, data.payload, data.ctx, data.timeoutMs).then(
      (response) => callback({ response, isDisposed: true }),
      (err: unknown) => callback({ err, isDisposed: true }),
    );
    // A reply that arrives after the caller unsubscribed is dropped by the observer.
    return () => undefined;
  }

  protected dispatchEvent(): Promise<never> {
    // Events go to JetStream with their id and headers: NatsBus.publish.
    return Promise.reject(new Error('publish events with NatsBus.publish'));
  }
}
