import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { EVENTS_WILDCARD, eventEnvelopeSchema } from '@sg/contracts';
import { ConfigSync, CONSUME_EXPIRES_MS, NatsBus, natsHeaderGetter } from '@sg/messaging';
import {
  ENV,
  extractContext,
  failSpan,
  LOGGER,
  type Logger,
  Metrics,
  SpanKind,
  tracer,
  tracingOn,
} from '@sg/runtime';
import { z } from 'zod';
import type { AuditEnv } from '../config/env.js';
import { EventStore, isDataError, storableJson, type EventRow } from '../store/event-store.js';
import { LiveFeed } from './live-feed.js';
import { auditMaskOptions, redactEventData } from './redact.js';

const envelopeSchema = eventEnvelopeSchema(z.unknown());

/**
 * GW_EVENTS -> audit_events. A durable pull consumer shared by every audit instance; a
 * message is acked only after its row is committed, and the insert is idempotent on event_id,
 * so a crash at any point loses nothing and stores nothing twice. Event data is masked and
 * redacted (./redact.ts) before it is chained and stored. Each committed call is then announced
 * on the live feed (./live-feed.ts), which never throws and is never waited for.
 */
@Injectable()
export class IngestService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private messages?: ConsumerMessages;
  private buffer: JsMsg[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly batchSize;
  private readonly insertLatency;
  private readonly live: LiveFeed;

  constructor(
    private readonly bus: NatsBus,
    private readonly store: EventStore,
    private readonly config: ConfigSync,
    @Inject(ENV) private readonly env: AuditEnv,
    @Inject(LOGGER) private readonly logger: Logger,
    metrics: Metrics,
  ) {
    this.batchSize = metrics.histogram({
      name: 'sg_audit_batch_events',
      help: 'Events per audit insert batch',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    });
    this.insertLatency = metrics.histogram({
      name: 'sg_audit_insert_duration_seconds',
      help: 'Time to chain and insert one batch of audit events in PostgreSQL',
    });
    this.live = new LiveFeed(bus, logger, metrics);
  }

  async onApplicationBootstrap() {
    this.live.listen();
    const consumer = await this.bus.durableConsumer({
      durable_name: this.env.AUDIT_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: this.bus.subject(EVENTS_WILDCARD),
      ack_wait: nanos(30_000),
      // Unlimited redelivery: an event is never dropped because PostgreSQL was down a while.
      max_deliver: -1,
      // Back-pressure: JetStream delivers no more than this many unacked events to all
      // instances together, so none waits in a buffer until its ack_wait runs out.
      max_ack_pending: this.env.AUDIT_BATCH_SIZE * 4,
    });
    this.messages = await consumer.consume({
      max_messages: this.env.AUDIT_BATCH_SIZE * 2,
      expires: CONSUME_EXPIRES_MS,
      callback: (m) => this.onMessage(m),
    });
  }

  private onMessage(m: JsMsg) {
    this.buffer.push(m);
    if (this.buffer.length >= this.env.AUDIT_BATCH_SIZE) this.scheduleFlush(0);
    else if (!this.timer) this.scheduleFlush(this.env.AUDIT_FLUSH_MS);
  }

  private scheduleFlush(delay: number) {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushing = this.flushing.then(() => this.flush());
    }, delay);
  }

  /** Writes what is buffered, AUDIT_BATCH_SIZE events per transaction. */
  private async flush(): Promise<void> {
    // Events keep arriving while a batch is written; they wait for the next one.
    while (this.buffer.length > 0)
      await this.write(this.buffer.splice(0, this.env.AUDIT_BATCH_SIZE));
  }

  /** Appends one batch, then acks; on a database error, naks for redelivery. */
  private async write(batch: JsMsg[]): Promise<void> {
    const rows: EventRow[] = [];
    const good: JsMsg[] = [];
    for (const m of batch) {
      const row = this.toRow(m);
      if (row) {
        rows.push(row);
        good.push(m);
      }
    }
    // Each event's span, a child of the span that published it (its traceparent), ends when the
    // event is stored: the last span of a call's trace.
    const spans = (tracingOn() ? good : []).map((m) =>
      tracer().startSpan(
        `audit ingest ${this.bus.contractSubject(m.subject)}`,
        { kind: SpanKind.CONSUMER, attributes: { 'messaging.system': 'nats' } },
        extractContext(m.headers, natsHeaderGetter),
      ),
    );
    try {
      const started = performance.now();
      await this.store.append(rows);
      this.insertLatency.observe((performance.now() - started) / 1000);
      this.batchSize.observe(rows.length);
      for (const m of good) m.ack();
      this.live.announce(rows);
    } catch (err) {
      if (!isDataError(err)) {
        this.logger.error(
          { err: (err as Error).message, events: good.length },
          'audit insert failed; events will be redelivered',
        );
        for (const m of good) m.nak(1000);
        for (const span of spans) failSpan(span, err);
        return;
      }
      // One row PostgreSQL refuses fails its whole batch: store the others one by one.
      for (let i = 0; i < rows.length; i++) await this.insertOne(rows[i]!, good[i]!);
    } finally {
      for (const span of spans) span.end();
    }
  }

  private async insertOne(row: EventRow, m: JsMsg) {
    try {
      await this.store.append([row]);
      m.ack();
      this.live.announce([row]);
    } catch (err) {
      if (isDataError(err)) {
        // Redelivery cannot help; the event stays in the stream for an operator to inspect.
        this.logger.error(
          { err: (err as Error).message, event_id: row.event_id, seq: m.seq },
          'event PostgreSQL cannot store; set aside',
        );
        m.term();
      } else {
        m.nak(1000);
      }
    }
  }

  private toRow(m: JsMsg): EventRow | null {
    let parsed;
    try {
      parsed = envelopeSchema.safeParse(m.json());
    } catch {
      parsed = null;
    }
    if (!parsed?.success) {
      // A malformed event can never be stored; terminating it keeps it from blocking the rest.
      this.logger.error(
        { subject: m.subject, seq: m.seq },
        'malformed event dropped from the audit consumer',
      );
      m.term();
      return null;
    }
    const e = parsed.data;
    let data: unknown;
    try {
      const tool = (e.data as { tool?: unknown } | null)?.tool;
      data = storableJson(
        redactEventData(
          e.data,
          auditMaskOptions(
            this.config.files,
            e.project,
            typeof tool === 'string' ? tool : undefined,
          ),
        ),
      );
    } catch (err) {
      // Only a value JSON cannot hold (it came through JSON, so this is not expected): never store it unmasked.
      this.logger.error(
        { subject: m.subject, seq: m.seq, err: (err as Error).message },
        'event data cannot be masked; dropped from the audit consumer',
      );
      m.term();
      return null;
    }
    return {
      // PostgreSQL gives uuids back in lower case; the skip check in append() compares them so.
      event_id: e.event_id.toLowerCase(),
      subject: this.bus.contractSubject(m.subject),
      source: e.source,
      project: e.project,
      trace_id: e.trace_id,
      occurred_at: new Date(e.occurred_at).toISOString(),
      stream_seq: m.seq,
      data,
    };
  }

  async beforeApplicationShutdown() {
    await this.messages?.close();
    if (this.timer) clearTimeout(this.timer);
    this.flushing = this.flushing.then(() => this.flush());
    await this.flushing;
  }
}
