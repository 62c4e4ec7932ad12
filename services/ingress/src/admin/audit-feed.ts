import type { ServerResponse } from 'node:http';
import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import {
  AUDIT_FEED_DEMAND_INTERVAL_MS,
  AUDIT_FEED_DEMAND_SUBJECT,
  AUDIT_STORED_SUBJECT,
  type AuditRecord,
  auditStoredSchema,
  type AuditStreamFilter,
  GatewayError,
} from '@sg/contracts';
import { NatsBus } from '@sg/messaging';
import { ENV, LOGGER, type Logger, Metrics } from '@sg/runtime';
import type { IngressEnv } from '../config/env.js';
import { callFrame, commentFrame, endFrame, matchesFilter } from './audit-stream.js';

/** A client whose socket has not drained for this long is closed: it is not reading. */
const DRAIN_TIMEOUT_MS = 5000;
/** The longest wait for NATS to confirm the subscription before a stream opens. */
const SUBSCRIBE_TIMEOUT_MS = 3000;

type Subscription = ReturnType<NatsBus['nc']['subscribe']>;

/** What a stream is opened with (after its admin, its filters and its place were checked). */
export interface StreamOptions {
  filter: AuditStreamFilter;
  /** Who reads it, for the log. */
  principal: string;
  /**
   * Checks the stream's credential again on every keep-alive tick; throws a GatewayError when
   * it no longer holds (a dashboard session ended or expired, a key removed, a role withdrawn).
   */
  recheck: () => Promise<void>;
}

/** A place for one stream, taken before the stream opens. */
export interface Ticket {
  /** Resolves once the shared subscription is live on the NATS server. */
  ready: Promise<void>;
  /** Gives the place back: the stream opened (attach), or it did not. Once only. */
  release(): void;
}

/** One open stream. */
class Client {
  private closed = false;
  private drainTimer: NodeJS.Timeout | undefined;
  private readonly keepAlive: NodeJS.Timeout;
  private rechecking = false;

  constructor(
    private readonly res: ServerResponse,
    readonly options: StreamOptions,
    private readonly feed: AuditFeed,
    keepAliveMs: number,
    private readonly maxBuffered: number,
  ) {
    this.keepAlive = setInterval(() => this.tick(), keepAliveMs);
    this.keepAlive.unref();
    res.once('close', () => this.close());
  }

  get filter(): AuditStreamFilter {
    return this.options.filter;
  }

  /**
   * Writes a frame. A client that is not reading is dropped rather than buffered for: its
   * socket did not drain within DRAIN_TIMEOUT_MS, or more than `maxBuffered` bytes wait.
   */
  send(frame: string): void {
    if (this.closed) return;
    const flowing = this.res.write(frame);
    if (this.res.writableLength > this.maxBuffered) return this.drop('buffer_full');
    if (flowing || this.drainTimer) return;
    this.drainTimer = setTimeout(() => this.drop('not_draining'), DRAIN_TIMEOUT_MS);
    this.res.once('drain', () => {
      clearTimeout(this.drainTimer);
      this.drainTimer = undefined;
    });
  }

  /** Ends the stream with an `end` event saying why. */
  end(code: string, message: string): void {
    if (this.closed) return;
    this.res.end(endFrame(code, message));
    this.close();
  }

  private drop(reason: 'buffer_full' | 'not_draining'): void {
    if (this.closed) return;
    this.feed.dropped(this, reason);
    this.res.destroy();
    this.close();
  }

  private tick(): void {
    this.send(commentFrame('keep-alive'));
    if (this.rechecking || this.closed) return;
    this.rechecking = true;
    this.options
      .recheck()
      .catch((err: unknown) => {
        const e =
          err instanceof GatewayError
            ? err
            : new GatewayError('GATEWAY.INTERNAL', 'the credential could not be checked again');
        this.end(e.code, `${e.message}; the stream was closed`);
      })
      .finally(() => (this.rechecking = false));
  }

  /** Stops its timers and leaves the feed (the socket is closed or being closed). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepAlive);
    clearTimeout(this.drainTimer);
    this.feed.remove(this);
  }
}

/**
 * The live audit feed of this ingress process (GET /api/audit/stream): one core NATS
 * subscription on `gw.audit.stored.v1`, held while at least one stream is open, and the open
 * streams, each with its filters. A record is validated once and framed once, whatever the
 * number of clients it goes to. At most AUDIT_STREAM_MAX_CLIENTS streams at once. While
 * subscribed, it tells the audit service it wants the feed (`gw.audit.stored.demand.v1`): at
 * once, before the first stream opens, and every AUDIT_FEED_DEMAND_INTERVAL_MS.
 */
@Injectable()
export class AuditFeed implements BeforeApplicationShutdown {
  private readonly clients = new Set<Client>();
  /** Places taken by streams that are not open yet. */
  private pending = 0;
  private subscription: Subscription | undefined;
  private demand: NodeJS.Timeout | undefined;
  private live: Promise<void> = Promise.resolve();
  private readonly gauge;
  private readonly drops;

  constructor(
    private readonly bus: NatsBus,
    @Inject(ENV) private readonly env: IngressEnv,
    @Inject(LOGGER) private readonly logger: Logger,
    metrics: Metrics,
  ) {
    this.gauge = metrics.gauge({
      name: 'sg_audit_stream_clients',
      help: 'Open GET /api/audit/stream connections of this process',
    });
    this.drops = metrics.counter({
      name: 'sg_audit_stream_dropped_total',
      help: 'Audit stream clients closed because they did not read fast enough, by reason',
      labelNames: ['reason'] as const,
    });
  }

  /** Open streams. */
  get size(): number {
    return this.clients.size;
  }

  /**
   * Takes a place for one stream and makes sure the subscription is there. Throws 503
   * AUDIT.STREAM_LIMIT when every place is taken, GATEWAY.SERVICE_UNAVAILABLE without NATS.
   */
  reserve(): Ticket {
    const max = this.env.AUDIT_STREAM_MAX_CLIENTS;
    if (this.clients.size + this.pending >= max)
      throw new GatewayError(
        'AUDIT.STREAM_LIMIT',
        max === 0
          ? 'audit streams are turned off on this gateway instance (AUDIT_STREAM_MAX_CLIENTS=0); page GET /api/audit/records instead'
          : `this gateway instance serves ${max} audit streams already (AUDIT_STREAM_MAX_CLIENTS); close one, or retry later`,
        { max_clients: max },
      );
    if (!this.bus.reachable)
      throw new GatewayError(
        'GATEWAY.SERVICE_UNAVAILABLE',
        'the message bus (NATS) is unreachable, so the live audit feed cannot be followed; retry shortly',
      );
    this.pending++;
    this.subscribe();
    let settled = false;
    return {
      ready: this.live,
      release: () => {
        if (settled) return;
        settled = true;
        this.pending--;
        this.unsubscribeIfIdle();
      },
    };
  }

  /** Opens a stream on its place: from now on it gets every record its filters let through. */
  attach(ticket: Ticket, res: ServerResponse, options: StreamOptions): void {
    const client = new Client(
      res,
      options,
      this,
      this.env.AUDIT_STREAM_KEEPALIVE_MS,
      Math.max(2 * 1024 * 1024, 2 * this.bus.maxPayload),
    );
    // Added before the place is given back, so the subscription is kept.
    this.clients.add(client);
    ticket.release();
    this.gauge.set(this.clients.size);
    // The client may have gone while the stream was being opened: its close came too early.
    if (res.destroyed || res.socket?.destroyed !== false) client.close();
  }

  /** @internal A client that closed. */
  remove(client: Client): void {
    if (!this.clients.delete(client)) return;
    this.gauge.set(this.clients.size);
    this.unsubscribeIfIdle();
  }

  /** @internal A client closed for not reading. */
  dropped(client: Client, reason: 'buffer_full' | 'not_draining'): void {
    this.drops.inc({ reason });
    this.logger.warn(
      { principal: client.options.principal, reason },
      'audit stream client does not read fast enough; closed',
    );
  }

  beforeApplicationShutdown(): void {
    for (const c of [...this.clients])
      c.end('GATEWAY.SERVICE_UNAVAILABLE', 'this gateway instance is shutting down; reconnect');
    this.stopFeed();
  }

  private subscribe(): void {
    if (this.subscription) return;
    this.subscription = this.bus.nc.subscribe(this.bus.subject(AUDIT_STORED_SUBJECT), {
      callback: (err, msg) => {
        if (err) {
          this.logger.warn({ err: err.message }, 'audit feed subscription error');
          return;
        }
        let data: unknown;
        try {
          data = msg.json();
        } catch {
          data = undefined;
        }
        const parsed = auditStoredSchema.safeParse(data);
        if (!parsed.success) {
          this.logger.debug('malformed message on the audit feed; ignored');
          return;
        }
        this.deliver(parsed.data);
      },
    });
    const ask = () => this.bus.nc.publish(this.bus.subject(AUDIT_FEED_DEMAND_SUBJECT));
    ask();
    this.demand = setInterval(ask, AUDIT_FEED_DEMAND_INTERVAL_MS);
    this.demand.unref();
    // A PING after the SUB (and the first demand): its PONG says the server has both.
    let timer: NodeJS.Timeout | undefined;
    this.live = Promise.race([
      this.bus.nc.flush(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new GatewayError(
                'GATEWAY.SERVICE_UNAVAILABLE',
                'the message bus (NATS) did not confirm the audit feed subscription; retry shortly',
              ),
            ),
          SUBSCRIBE_TIMEOUT_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    // Streams that wait on it handle its failure; nothing else does.
    this.live.catch(() => undefined);
  }

  private unsubscribeIfIdle(): void {
    if (this.clients.size > 0 || this.pending > 0) return;
    this.stopFeed();
  }

  private stopFeed(): void {
    clearInterval(this.demand);
    this.demand = undefined;
    this.subscription?.unsubscribe();
    this.subscription = undefined;
  }

  private deliver(record: AuditRecord): void {
    let frame: string | undefined;
    for (const c of this.clients)
      if (matchesFilter(c.filter, record)) c.send((frame ??= callFrame(record)));
  }
}
