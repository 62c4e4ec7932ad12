import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { eventEnvelopeSchema, TOOLCALL_COMPLETED, toolCallCompletedSchema } from '@sg/contracts';
import { CONSUME_EXPIRES_MS, NatsBus } from '@sg/messaging';
import { ENV, HealthService, LOGGER, type Logger } from '@sg/runtime';
import type { AuditEnv } from '../config/env.js';
import { isDataError } from '../store/event-store.js';
import { AnomalyService, type RepeatTally } from './anomaly.service.js';
import type { CompletedCall } from './signals.js';

/** The answer's fields the detectors read: the call's arguments, decision and run are not parsed. */
const completedSchema = eventEnvelopeSchema(
  toolCallCompletedSchema.omit({
    agent_version: true,
    user_id: true,
    arguments: true,
    decision: true,
    execution: true,
  }),
);

const BATCH = 100;
const FLUSH_MS = 20;
/** How long a failed event waits before JetStream offers it again (Redis or PostgreSQL away). */
const RETRY_MS = 2000;

/**
 * gw.evt.toolcall.completed.v1 -> the detectors. A durable pull consumer shared by every audit
 * instance (JetStream splits the work; the windows live in Redis). A message is acked after
 * the detectors ran and JetStream confirmed the alerts it raised; on a Redis, PostgreSQL or
 * JetStream error it is redelivered later, which is safe because every detector is
 * idempotent per event (and publishes again the alert that event raised).
 */
@Injectable()
export class AnomalyConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private messages?: ConsumerMessages;
  private buffer: JsMsg[] = [];
  private timer: NodeJS.Timeout | undefined;
  private working: Promise<void> = Promise.resolve();
  private lastError: string | null = null;

  constructor(
    private readonly bus: NatsBus,
    private readonly detectors: AnomalyService,
    private readonly health: HealthService,
    @Inject(ENV) private readonly env: AuditEnv,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async onApplicationBootstrap() {
    // Not ok while events fail: detection pauses (they wait in the stream), the gateway goes on.
    this.health.register('anomaly', async () =>
      this.lastError
        ? { ok: false, detail: `detection paused, events will be retried: ${this.lastError}` }
        : { ok: true },
    );
    // An update the server refuses (e.g. a changed deliver policy) stops the start with its reason.
    const consumer = await this.bus.durableConsumer({
      durable_name: this.env.ANOMALY_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      // Alerts are about what happens from now on: a first start does not page anyone about the
      // week of history in the stream (the audit trail has it). Once created, nothing is skipped.
      deliver_policy: DeliverPolicy.New,
      filter_subject: this.bus.subject(TOOLCALL_COMPLETED),
      ack_wait: nanos(30_000),
      // Unlimited redelivery: an outage of Redis or PostgreSQL delays detection, it loses nothing.
      max_deliver: -1,
      max_ack_pending: 5_000,
    });
    this.messages = await consumer.consume({
      max_messages: BATCH * 2,
      expires: CONSUME_EXPIRES_MS,
      callback: (m) => this.onMessage(m),
    });
  }

  private onMessage(m: JsMsg) {
    this.buffer.push(m);
    if (this.buffer.length >= BATCH) this.schedule(0);
    else if (!this.timer) this.schedule(FLUSH_MS);
  }

  private schedule(delay: number) {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.working = this.working.then(() => this.run()).catch((err: unknown) => this.failed(err));
    }, delay);
  }

  /** Runs the detectors on the buffered events in order, then acks them. */
  private async run(): Promise<void> {
    const batch = this.buffer;
    this.buffer = [];
    const repeats: RepeatTally = new Map();
    const done: JsMsg[] = [];
    let down = false;
    for (const m of batch) {
      const call = this.parse(m);
      if (!call) continue;
      if (down) {
        // Redis, PostgreSQL or JetStream just failed: the rest would wait for the same timeouts.
        m.nak(RETRY_MS);
        continue;
      }
      try {
        await this.detectors.detect(call, m.redelivered, repeats);
        done.push(m);
      } catch (err) {
        if (isDataError(err)) {
          // Redelivery cannot help; the event stays in the stream (and the audit trail).
          this.logger.error(
            { err: (err as Error).message, event_id: call.event_id, seq: m.seq },
            'anomaly detectors cannot handle this event; skipped',
          );
          m.term();
          continue;
        }
        down = true;
        this.failed(err);
        m.nak(RETRY_MS);
      }
    }
    try {
      await this.detectors.addRepeats(repeats);
    } catch (err) {
      // The alerts exist; only their repeat counters fall short. Redelivery would not count
      // these events again (they are in their windows already), so ack anyway.
      down = true;
      this.failed(err);
    }
    for (const m of done) m.ack();
    if (done.length > 0 && !down) this.lastError = null;
  }

  private parse(m: JsMsg): CompletedCall | null {
    let parsed;
    try {
      parsed = completedSchema.safeParse(m.json());
    } catch {
      parsed = null;
    }
    if (!parsed?.success) {
      this.logger.error(
        { subject: m.subject, seq: m.seq },
        'malformed toolcall.completed event dropped from the anomaly consumer',
      );
      m.term();
      return null;
    }
    return parsed.data;
  }

  private failed(err: unknown) {
    const message = ((err as Error).message ?? String(err)).slice(0, 200);
    if (message !== this.lastError)
      this.logger.error({ err: message }, 'anomaly detection failed; events will be retried');
    this.lastError = message;
  }

  async beforeApplicationShutdown() {
    await this.messages?.close();
    if (this.timer) clearTimeout(this.timer);
    this.working = this.working.then(() => this.run()).catch((err: unknown) => this.failed(err));
    await this.working;
  }
}
