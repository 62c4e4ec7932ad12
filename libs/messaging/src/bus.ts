import { randomUUID } from 'node:crypto';
import {
  connect,
  headers as natsHeaders,
  nanos,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
} from '@nats-io/transport-node';
import {
  type Consumer,
  type ConsumerConfig,
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import {
  EVENTS_STREAM,
  EVENTS_WILDCARD,
  type ErrorBody,
  errorBodySchema,
  type EventDataOf,
  type EventEnvelope,
  type EventSubject,
  GatewayError,
  Headers,
  REQUESTS,
  type RequestOf,
  type RequestSubject,
  type ResponseOf,
  type ServiceName,
} from '@sg/contracts';
import {
  context,
  type Context,
  extractContext,
  injectContext,
  type Logger,
  tracingOn,
} from '@sg/runtime';
import { NoResponders, ReplyInbox, ReplyTimeout, Turn } from './reply-inbox.js';

/** Who and what a message belongs to; travels in headers on every message. */
export interface MessageContext {
  traceId: string;
  project: string;
  /** The OpenTelemetry context the message belongs to; its traceparent travels in the headers. */
  otel?: Context;
}

/** W3C trace context in NATS headers. */
export const natsHeaderSetter = {
  set: (h: MsgHdrs, key: string, value: string) => h.set(key, value),
};
export const natsHeaderGetter = {
  get: (h: MsgHdrs | undefined, key: string) => h?.get(key) || undefined,
  keys: (h: MsgHdrs | undefined) => (h ? h.keys() : []),
};

export interface BusOptions {
  /** NATS_URL: one server, or several (the nodes of a cluster) separated by commas. */
  url: string;
  /** Prefix of every subject and of the stream name; '' in production. */
  prefix: string;
  service: ServiceName;
  logger: Logger;
  requestTimeoutMs: number;
  /** JetStream replicas of GW_EVENTS: 1 on one node, 3 on a production cluster. */
  streamReplicas?: number;
}

type Reply<T> = { ok: true; data: T } | { ok: false; error: ErrorBody };

/**
 * A request that reached no handler: NATS was disconnected, or no instance of the service
 * listens. Nothing can have acted on it, so a caller may treat it as never sent.
 */
export class UndeliveredError extends GatewayError {}

/** An event ready for JetStream: wire subject, Nats-Msg-Id, envelope bytes and headers. */
interface EncodedEvent {
  subject: string;
  eventId: string;
  payload: Uint8Array;
  headers: MsgHdrs;
  /** Larger than an event may be: the server would refuse it, so it is never sent. */
  tooLarge: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const PUBLISH_TIMEOUT_MS = 5000;
/**
 * How long an event is retried before it counts as lost. When the node that leads GW_EVENTS
 * dies, a publish times out, then gets "no responders" at once until the survivors have
 * elected a new leader: publishing resumed 5-11 s after a kill -9 on a 3-node nats-server 2.9
 * cluster (tests/e2e/test/nats-cluster.test.ts). Five attempts with 0.2-1.6 s between them
 * gave up 3 s after the first fast failure, and lost 1,513 events in one such failover.
 * A window, not a count, so fast failures cannot use the retries up; far inside the 10-minute
 * dedupe window, so a retry still never stores an event twice.
 */
const PUBLISH_RETRY_WINDOW_MS = 30_000;
const PUBLISH_BACKOFF_MS = { first: 200, max: 2000 };
/**
 * How long a consumer's pull request lives (`expires` of consume()). A pull that a dead cluster
 * node held is only replaced when it expires: with the client's default of 30 s, a consumer
 * whose leader died read nothing for up to 40 s (tests/e2e/test/nats-cluster.test.ts). Five
 * seconds costs one pull request per consumer every 5 s when idle.
 */
export const CONSUME_EXPIRES_MS = 5000;
/** Room left in a message for headers and the reply/event envelope. */
const ENVELOPE_HEADROOM = 8 * 1024;

/**
 * Typed NATS access for one service: request/reply typed by the contracts and validated with
 * zod where each message is received (the handler parses the request, the requester the
 * reply), and events to JetStream with their id as Nats-Msg-Id. No subject string is built
 * elsewhere.
 */
export class NatsBus {
  private readonly pending = new Set<Promise<unknown>>();
  /** Durable consumers this process reads with (their lag is a metric). */
  readonly durables = new Set<string>();
  private lostEvents = 0;
  private readonly replies: ReplyInbox;
  private readonly turn = new Turn();
  /** False between a disconnect and the reconnect: requests then fail at once instead of waiting out their timeout. */
  private connected = true;

  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    private readonly opts: BusOptions,
  ) {
    this.replies = new ReplyInbox(nc, this.turn);
  }

  static async connect(opts: BusOptions): Promise<NatsBus> {
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: natsServers(opts.url),
        name: `sg-${opts.service}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        timeout: 3000,
        // An Error (with its stack) per request and per timer cost about a tenth of each hot-path
        // process's CPU; our failures are mapped to codes, so the async stacks are never shown.
        noAsyncTraces: true,
      });
    } catch (err) {
      throw new Error(
        `cannot reach NATS at ${opts.url} (${(err as Error).message}). Start it with: nats-server -js, or set NATS_URL`,
      );
    }
    const bus = new NatsBus(nc, jetstream(nc), opts);
    void bus.watchStatus();
    return bus;
  }

  get streamName(): string {
    return this.opts.prefix ? `${this.opts.prefix}_${EVENTS_STREAM}` : EVENTS_STREAM;
  }

  /** False while the connection is down (between a disconnect and the reconnect). */
  get reachable(): boolean {
    return this.connected && !this.nc.isClosed();
  }

  /** Largest message the server accepts (max_payload); requests, replies and events must fit. */
  get maxPayload(): number {
    return this.nc.info?.max_payload ?? 1024 * 1024;
  }

  /** The wire subject of a contract subject. */
  subject(subject: string): string {
    return this.opts.prefix ? `${this.opts.prefix}.${subject}` : subject;
  }

  /** The contract subject of a wire subject (inverse of subject()). */
  contractSubject(wire: string): string {
    return this.opts.prefix && wire.startsWith(`${this.opts.prefix}.`)
      ? wire.slice(this.opts.prefix.length + 1)
      : wire;
  }

  async jsm(): Promise<JetStreamManager> {
    return jetstreamManager(this.nc);
  }

  /**
   * Creates GW_EVENTS or brings it to the settings below. Chosen on purpose (see
   * docs/adr/0002-event-stream.md): file storage, a 10-minute dedupe window (publishers retry
   * with the same Nats-Msg-Id well within it; the audit store is idempotent beyond it).
   */
  async ensureStream(): Promise<void> {
    await untilAnswered(`the stream ${this.streamName}`, () => this.ensureStreamOnce());
  }

  private async ensureStreamOnce(): Promise<void> {
    const jsm = await this.jsm();
    const config = {
      name: this.streamName,
      subjects: [this.subject(EVENTS_WILDCARD)],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      num_replicas: this.opts.streamReplicas ?? 1,
      duplicate_window: nanos(10 * 60_000),
      max_age: nanos(7 * 24 * 3600_000),
    };
    try {
      await jsm.streams.info(config.name);
      await jsm.streams.update(config.name, config);
    } catch (err) {
      if (!/stream not found/i.test((err as Error).message)) throw err;
      try {
        await jsm.streams.add(config);
      } catch (addErr) {
        // Another service created it between our info and add.
        if (!/already in use/i.test((addErr as Error).message)) throw addErr;
      }
    }
  }

  /**
   * The durable consumer `config.durable_name` on the events stream (made sure to exist):
   * created, or updated to `config`. A change the server refuses (such as another deliver
   * policy) stops the caller with the server's reason rather than running with the old settings.
   */
  async durableConsumer(
    config: Partial<ConsumerConfig> & { durable_name: string },
  ): Promise<Consumer> {
    await this.ensureStream();
    const jsm = await this.jsm();
    await untilAnswered(`the consumer ${config.durable_name}`, async () => {
      const exists = await jsm.consumers.info(this.streamName, config.durable_name).then(
        () => true,
        (err: Error) => {
          if (transient(err)) throw err;
          return false;
        },
      );
      if (exists) await jsm.consumers.update(this.streamName, config.durable_name, config);
      else await jsm.consumers.add(this.streamName, config);
    });
    this.durables.add(config.durable_name);
    return this.js.consumers.get(this.streamName, config.durable_name);
  }

  /** Sends a request and returns the validated answer, or throws a GatewayError with a stable code. */
  async request<S extends RequestSubject>(
    subject: S,
    payload: RequestOf<S>,
    ctx: MessageContext,
    timeoutMs = this.opts.requestTimeoutMs,
  ): Promise<ResponseOf<S>> {
    const contract = REQUESTS[subject];
    // Typed by the contract here and validated where it is received: one parse per hop.
    const body = encoder.encode(JSON.stringify(payload));
    if (body.byteLength > this.maxPayload - ENVELOPE_HEADROOM) {
      throw new GatewayError(
        'REQUEST.TOO_LARGE',
        `the request is larger than the ${this.maxPayload - ENVELOPE_HEADROOM} bytes the gateway passes on; send less data`,
      );
    }
    if (!this.connected) {
      throw new UndeliveredError(
        'GATEWAY.SERVICE_UNAVAILABLE',
        `the message bus (NATS) is unreachable, so the ${serviceOf(subject)} service cannot be asked; retry shortly`,
      );
    }
    let msg: Msg;
    try {
      msg = await this.replies.request(
        this.subject(subject),
        body,
        this.headersFor(ctx),
        timeoutMs,
      );
    } catch (err) {
      throw this.requestFailure(subject, err, timeoutMs);
    }
    let reply: Reply<unknown>;
    try {
      reply = JSON.parse(decoder.decode(msg.data)) as Reply<unknown>;
    } catch {
      throw new GatewayError(
        'GATEWAY.INTERNAL',
        `${serviceOf(subject)} answered something that is not JSON`,
      );
    }
    if (reply && reply.ok === false) {
      const error = errorBodySchema.safeParse(reply.error);
      throw error.success
        ? GatewayError.fromBody(error.data)
        : new GatewayError('GATEWAY.INTERNAL', `${serviceOf(subject)} answered a malformed error`);
    }
    const data = contract.response.safeParse(reply?.data);
    if (!data.success) {
      this.opts.logger.error({ subject, issues: data.error.issues.slice(0, 3) }, 'malformed reply');
      throw new GatewayError(
        'GATEWAY.INTERNAL',
        `${serviceOf(subject)} answered a malformed reply`,
      );
    }
    return data.data as ResponseOf<S>;
  }

  /**
   * Answers `subject` in the service's queue group. A malformed request is answered with
   * MESSAGE.INVALID; a thrown GatewayError with its code; anything else with GATEWAY.INTERNAL
   * (logged here, never sent).
   */
  handle<S extends RequestSubject>(
    subject: S,
    handler: (payload: RequestOf<S>, ctx: MessageContext) => Promise<ResponseOf<S>>,
    queue: string = this.opts.service,
  ): void {
    const contract = REQUESTS[subject];
    this.nc.subscribe(this.subject(subject), {
      queue,
      callback: (err, msg) => {
        if (err) {
          this.opts.logger.error({ subject, err: err.message }, 'subscription error');
          return;
        }
        void this.dispatch(msg, contract, handler);
      },
    });
  }

  private async dispatch<S extends RequestSubject>(
    msg: Msg,
    contract: (typeof REQUESTS)[S],
    handler: (payload: RequestOf<S>, ctx: MessageContext) => Promise<ResponseOf<S>>,
  ): Promise<void> {
    if (!msg.reply) return;
    let reply: Reply<unknown>;
    let parsed: ReturnType<typeof contract.request.safeParse> | undefined;
    try {
      parsed = contract.request.safeParse(JSON.parse(decoder.decode(msg.data)));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) {
      const issue = parsed?.error.issues[0];
      reply = {
        ok: false,
        error: {
          code: 'MESSAGE.INVALID',
          message: issue
            ? `${issue.path.join('.') || 'message'}: ${issue.message}`
            : 'message is not JSON',
        },
      };
    } else {
      try {
        const data = await handler(parsed.data as RequestOf<S>, contextOf(msg.headers));
        // Validated by the requester, which acts on it (request()).
        reply = { ok: true, data };
      } catch (err) {
        if (err instanceof GatewayError) reply = { ok: false, error: err.toBody() };
        else {
          this.opts.logger.error(
            { subject: msg.subject, err: (err as Error).message },
            'handler failed',
          );
          reply = {
            ok: false,
            error: { code: 'GATEWAY.INTERNAL', message: 'internal error; see the service log' },
          };
        }
      }
    }
    let bytes = encoder.encode(JSON.stringify(reply));
    if (bytes.byteLength > this.maxPayload) {
      this.opts.logger.error(
        { subject: msg.subject, bytes: bytes.byteLength },
        'reply larger than max_payload',
      );
      const error = {
        code: 'MESSAGE.TOO_LARGE',
        message: `the answer (${bytes.byteLength} bytes) is larger than a message may be (${this.maxPayload})`,
      };
      bytes = encoder.encode(JSON.stringify({ ok: false, error }));
    }
    this.turn.send(() => {
      try {
        msg.respond(bytes);
      } catch (err) {
        this.opts.logger.warn({ err: (err as Error).message }, 'could not reply');
      }
    });
  }

  /**
   * Publishes an event to JetStream without making the caller wait. The event id is its
   * Nats-Msg-Id, so the retries below can never store it twice.
   */
  publish<S extends EventSubject>(
    subject: S,
    data: EventDataOf<S>,
    ctx: MessageContext,
    eventId: string = randomUUID(),
  ): string {
    const event = this.encodeEvent(subject, data, ctx, eventId);
    if (event.tooLarge) {
      // Retrying cannot help; producers keep their events small (results are truncated).
      this.lostEvents++;
      this.opts.logger.error(
        { subject, event_id: eventId, bytes: event.payload.byteLength },
        'event larger than max_payload, not stored',
      );
      return eventId;
    }
    const attempt = async () => {
      const giveUpAt = Date.now() + PUBLISH_RETRY_WINDOW_MS;
      let backoff = PUBLISH_BACKOFF_MS.first;
      for (;;) {
        try {
          await this.store(event);
          return;
        } catch (err) {
          if (Date.now() + backoff > giveUpAt || this.nc.isClosed()) {
            this.lostEvents++;
            this.opts.logger.error(
              { subject, event_id: eventId, err: (err as Error).message },
              'event not stored in JetStream',
            );
            return;
          }
          await new Promise((r) => setTimeout(r, backoff));
          backoff = Math.min(backoff * 2, PUBLISH_BACKOFF_MS.max);
        }
      }
    };
    const p = attempt();
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    return eventId;
  }

  /**
   * Publishes an event and resolves once JetStream has stored it (or already had it: the event
   * id is its Nats-Msg-Id). One attempt; rejects if the event is too large or not acknowledged,
   * so a caller that must not lose it retries with the same id.
   */
  async publishConfirmed<S extends EventSubject>(
    subject: S,
    data: EventDataOf<S>,
    ctx: MessageContext,
    eventId: string,
  ): Promise<void> {
    const event = this.encodeEvent(subject, data, ctx, eventId);
    if (event.tooLarge) {
      throw new GatewayError(
        'MESSAGE.TOO_LARGE',
        `event ${eventId} on ${subject} is ${event.payload.byteLength} bytes, more than the ${this.maxPayload - ENVELOPE_HEADROOM} an event may be`,
      );
    }
    try {
      await this.store(event);
    } catch (err) {
      throw new GatewayError(
        'GATEWAY.SERVICE_UNAVAILABLE',
        `JetStream did not confirm event ${eventId} on ${subject} (${(err as Error).message}); retry later`,
      );
    }
  }

  /** Events that could not be stored after every retry (exposed in health). */
  get eventsLost(): number {
    return this.lostEvents;
  }

  /** Waits for in-flight event publishes, then drains the connection. */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.pending]),
      new Promise((r) => (timer = setTimeout(r, 5000))),
    ]);
    clearTimeout(timer);
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => undefined);
  }

  /** The envelope of an event, encoded, with its headers. */
  private encodeEvent<S extends EventSubject>(
    subject: S,
    data: EventDataOf<S>,
    ctx: MessageContext,
    eventId: string,
  ): EncodedEvent {
    const envelope: EventEnvelope<EventDataOf<S>> = {
      event_id: eventId,
      occurred_at: preciseNow(),
      trace_id: ctx.traceId,
      project: ctx.project,
      source: this.opts.service,
      // Typed by the contract; the audit validates what it stores (a second parse of our own
      // event on the hot path cost more than the policy decision itself).
      data,
    };
    const payload = encoder.encode(JSON.stringify(envelope));
    return {
      subject: this.subject(subject),
      eventId,
      payload,
      headers: this.headersFor(ctx),
      tooLarge: payload.byteLength > this.maxPayload - ENVELOPE_HEADROOM,
    };
  }

  /** One JetStream publish: resolves on the stream's acknowledgement (also of a duplicate). */
  private async store(e: EncodedEvent): Promise<void> {
    e.headers.set(Headers.msgId, e.eventId);
    const msg = await this.replies.request(e.subject, e.payload, e.headers, PUBLISH_TIMEOUT_MS);
    let ack: { seq?: unknown; error?: { description?: string } };
    try {
      ack = JSON.parse(decoder.decode(msg.data)) as typeof ack;
    } catch {
      throw new Error('JetStream answered something that is not JSON');
    }
    if (ack.error || typeof ack.seq !== 'number')
      throw new Error(ack.error?.description ?? 'JetStream did not acknowledge the event');
  }

  private headersFor(ctx: MessageContext): MsgHdrs {
    const h = natsHeaders();
    h.set(Headers.traceId, ctx.traceId);
    if (tracingOn()) injectContext(ctx.otel ?? context.active(), h, natsHeaderSetter);
    h.set(Headers.projectId, ctx.project);
    return h;
  }

  private requestFailure(subject: string, err: unknown, timeoutMs: number): GatewayError {
    const service = serviceOf(subject);
    if (err instanceof NoResponders) {
      return new UndeliveredError(
        'GATEWAY.SERVICE_UNAVAILABLE',
        `the ${service} service is not running; start it and retry`,
      );
    }
    if (err instanceof ReplyTimeout) {
      return new GatewayError(
        'GATEWAY.SERVICE_TIMEOUT',
        `the ${service} service did not answer within ${timeoutMs} ms; retry later`,
      );
    }
    this.opts.logger.warn({ subject, err: (err as Error).message }, 'request failed');
    return new GatewayError(
      'GATEWAY.SERVICE_UNAVAILABLE',
      `the message bus is unavailable; retry later`,
    );
  }

  private async watchStatus() {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect') {
        this.connected = s.type === 'reconnect';
        this.opts.logger.warn(`NATS ${s.type}`);
      }
    }
  }
}

/**
 * A JetStream API error that passes: no answer while a clustered stream or consumer has no
 * leader yet (several services creating or scaling one R3 stream at once, a node that died).
 */
function transient(err: Error): boolean {
  return (
    err.name === 'TimeoutError' ||
    /timeout|no responders|temporarily unavailable|no suitable peers|leader/i.test(err.message)
  );
}

/** How long a service waits at start for JetStream to answer its stream and consumer setup. */
const SETUP_WINDOW_MS = 60_000;

/** Runs `step` again while it fails transiently, for up to SETUP_WINDOW_MS. */
async function untilAnswered(what: string, step: () => Promise<void>): Promise<void> {
  const giveUpAt = Date.now() + SETUP_WINDOW_MS;
  for (let wait = 250; ; wait = Math.min(wait * 2, 2000)) {
    try {
      return await step();
    } catch (err) {
      if (!transient(err as Error) || Date.now() + wait > giveUpAt)
        throw new Error(`JetStream did not set up ${what}: ${(err as Error).message}`, {
          cause: err,
        });
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** The servers of a NATS_URL: `nats://a:4222, nats://b:4222` is two. */
function natsServers(url: string): string[] {
  return url
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function serviceOf(subject: string): string {
  return subject.split('.')[1] ?? 'a';
}

function contextOf(h: MsgHdrs | undefined): MessageContext {
  return {
    traceId: h?.get(Headers.traceId) || 'unknown',
    project: h?.get(Headers.projectId) || 'default',
    ...(tracingOn() ? { otel: extractContext(h, natsHeaderGetter) } : {}),
  };
}

/** ISO time with microseconds, so events of one call sort by time even within a millisecond. */
function preciseNow(): string {
  const now = performance.timeOrigin + performance.now();
  const ms = Math.floor(now);
  const micros = Math.floor((now - ms) * 1000)
    .toString()
    .padStart(3, '0');
  return new Date(ms).toISOString().replace('Z', `${micros}Z`);
}
