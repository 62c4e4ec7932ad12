import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { TOOLCALL_COMPLETED } from '@sg/contracts';
import { CONSUME_EXPIRES_MS, NatsBus } from '@sg/messaging';
import { ENV, HealthService, LOGGER, type Logger } from '@sg/runtime';
import type { AnalyticsEnv } from '../config/env.js';
import { AggregateStore } from '../store/aggregate-store.js';
import type { Counted } from './fold.js';
import { COUNTED_SUBJECTS, countedOf, type Envelope } from './parse.js';

/** How long a batch that failed (PostgreSQL away) waits before JetStream offers it again. */
const RETRY_MS = 2000;

/** PostgreSQL refused a value (SQLSTATE class 22: a malformed uuid, a date out of range...). */
function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('22');
}

/**
 * toolcall.completed and shadow.evaluated → the aggregates. Durable pull consumers
 * (ANALYTICS_CONSUMER for the calls, `<it>_shadow` for the shadow decisions) shared by every
 * analytics instance (JetStream splits the work). A batch is acked once its transaction
 * committed; on a PostgreSQL error it is redelivered later, which counts nothing twice
 * (AggregateStore counts each event id once). A batch refused for its data is counted one event
 * at a time, and the event PostgreSQL refuses is skipped and logged. On its first creation the
 * consumer delivers the whole stream: together with the backfill from audit_events, nothing
 * recorded is missed.
 */
@Injectable()
export class AnalyticsConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly messages: ConsumerMessages[] = [];
  private buffer: JsMsg[] = [];
  private timer: NodeJS.Timeout | undefined;
  private working: Promise<void> = Promise.resolve();
  private lastError: string | null = null;
  private readonly subjects: Map<string, string>;

  constructor(
    private readonly bus: NatsBus,
    private readonly store: AggregateStore,
    private readonly health: HealthService,
    @Inject(ENV) private readonly env: AnalyticsEnv,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.subjects = new Map(COUNTED_SUBJECTS.map((s) => [bus.subject(s), s]));
  }

  /** Why counting is paused (the aggregates lag behind the stream), or null. */
  get failing(): string | null {
    return this.lastError;
  }

  async onApplicationBootstrap() {
    // Not ok while batches fail: the aggregates lag (the events wait in the stream).
    this.health.register('aggregates', async () =>
      this.lastError
        ? { ok: false, detail: `counting paused, events will be retried: ${this.lastError}` }
        : { ok: true },
    );
    // One durable consumer per subject (a consumer with several filter subjects needs NATS 2.10).
    for (const [subject, name] of this.subjects) {
      const consumer = await this.bus.durableConsumer({
        durable_name:
          name === TOOLCALL_COMPLETED
            ? this.env.ANALYTICS_CONSUMER
            : `${this.env.ANALYTICS_CONSUMER}_shadow`,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: subject,
        ack_wait: nanos(30_000),
        max_deliver: -1,
        max_ack_pending: 10_000,
      });
      this.messages.push(
        await consumer.consume({
          max_messages: this.env.ANALYTICS_BATCH_SIZE * 2,
          expires: CONSUME_EXPIRES_MS,
          callback: (m) => this.onMessage(m),
        }),
      );
    }
  }

  private onMessage(m: JsMsg) {
    this.buffer.push(m);
    if (this.buffer.length >= this.env.ANALYTICS_BATCH_SIZE) this.schedule(0);
    else if (!this.timer) this.schedule(this.env.ANALYTICS_FLUSH_MS);
  }

  private schedule(delay: number) {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.working = this.working.then(() => this.run());
    }, delay);
  }

  private async run(): Promise<void> {
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length === 0) return;
    const parsed = batch.map((m) => ({ m, counted: this.parse(m) }));
    try {
      await this.store.count(parsed.flatMap((p) => (p.counted ? [p.counted] : [])));
      for (const m of batch) m.ack();
      this.lastError = null;
    } catch (err) {
      if (isDataError(err)) return this.runOneByOne(parsed);
      this.retryLater(err, batch);
    }
  }

  /**
   * A batch PostgreSQL refused for its data (an event that fits the schema but not a column):
   * each event on its own, so that the one it cannot take is skipped instead of holding back
   * every batch it is redelivered in, forever.
   */
  private async runOneByOne(parsed: { m: JsMsg; counted: Counted | null }[]): Promise<void> {
    for (const [i, { m, counted }] of parsed.entries()) {
      try {
        if (counted) await this.store.count([counted]);
        m.ack();
      } catch (err) {
        if (!isDataError(err))
          return this.retryLater(
            err,
            parsed.slice(i).map((p) => p.m),
          );
        this.logger.warn(
          { subject: m.subject, seq: m.seq, err: (err as Error).message.slice(0, 200) },
          'an event PostgreSQL cannot count was skipped',
        );
        m.ack();
      }
    }
    this.lastError = null;
  }

  private retryLater(err: unknown, messages: JsMsg[]) {
    const message = ((err as Error).message ?? String(err)).slice(0, 200);
    if (message !== this.lastError)
      this.logger.error({ err: message }, 'counting events failed; they will be retried');
    this.lastError = message;
    for (const m of messages) m.nak(RETRY_MS);
  }

  /** An event that does not fit its schema is skipped (acked with the batch) and logged. */
  private parse(m: JsMsg): Counted | null {
    const subject = this.subjects.get(m.subject);
    let counted: Counted | null = null;
    try {
      counted = subject ? countedOf(subject, m.json<Envelope>()) : null;
    } catch {
      counted = null;
    }
    if (!counted)
      this.logger.warn(
        { subject: m.subject, seq: m.seq },
        'an event the aggregates cannot read was skipped',
      );
    return counted;
  }

  async beforeApplicationShutdown() {
    await Promise.all(this.messages.map((m) => m.close()));
    if (this.timer) clearTimeout(this.timer);
    this.working = this.working.then(() => this.run());
    await this.working;
  }
}
