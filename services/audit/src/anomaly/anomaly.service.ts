import { Inject, Injectable } from '@nestjs/common';
import { forProject } from '@sg/config';
import { ALERT_RAISED, type Alert } from '@sg/contracts';
import { ConfigSync, NatsBus } from '@sg/messaging';
import { LOGGER, type Logger } from '@sg/runtime';
import { AlertStore } from './alert-store.js';
import {
  alertIdOf,
  firstSeenAlert,
  firstSeenSignals,
  windowAlert,
  windowSignals,
  type CompletedCall,
  type FirstSeenSignal,
  type WindowSignal,
} from './signals.js';
import { WindowStore } from './window-store.js';

/** Repeats counted during cooldowns, per alert id, folded into PostgreSQL once per batch. */
export type RepeatTally = Map<string, number>;

/** Names known to be recorded in audit_seen; a positive cache is always safe. */
const SEEN_CACHE_MAX = 100_000;

/**
 * Runs every detector on one completed call. Idempotent per event: windows count an event id
 * once, repeats count only fresh events, audit_seen inserts a name once, and the alert an
 * event raises has an id derived from the event's, so a redelivery finds it. An alert is
 * committed, then published and confirmed by JetStream (alert_id as event id, so a second
 * publish stores nothing), then its cooldown is written to Redis: a crash between any two
 * steps leaves the event unacked, and its redelivery publishes the alert it raised. Throws on
 * Redis, PostgreSQL or JetStream errors (the consumer then redelivers the event later).
 */
@Injectable()
export class AnomalyService {
  private readonly seen = new Set<string>();

  constructor(
    private readonly windows: WindowStore,
    private readonly alerts: AlertStore,
    private readonly bus: NatsBus,
    private readonly config: ConfigSync,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** `redelivered`: JetStream delivered this message before (the last attempt may have crashed). */
  async detect(call: CompletedCall, redelivered: boolean, repeats: RepeatTally): Promise<void> {
    // Read per event: the policy files are hot-reloaded.
    const cfg = forProject(this.config.files.policies, call.project).anomalies;
    for (const s of windowSignals(call, cfg))
      await this.window(call, s, cfg.cooldown_s, redelivered, repeats);
    for (const s of firstSeenSignals(call, cfg)) await this.firstSeen(call, s, redelivered);
  }

  async addRepeats(repeats: RepeatTally): Promise<void> {
    if (repeats.size > 0) await this.alerts.addRepeats(repeats);
  }

  private async window(
    call: CompletedCall,
    s: WindowSignal,
    cooldownS: number,
    redelivered: boolean,
    repeats: RepeatTally,
  ) {
    const ref = { project: call.project, type: s.type, key: s.key };
    const alertId = alertIdOf(call.event_id, s.type, s.key);
    const seen = await this.windows.observe(
      ref,
      { eventId: call.event_id, traceId: call.trace_id, atMs: Date.parse(call.occurred_at) },
      s.window_s,
      s.need,
    );
    if (redelivered || !seen.fresh) {
      // Seen before: it may have raised its alert and crashed before the publish, whatever the
      // window or the cooldown short-cut say now.
      const own = await this.alerts.get(alertId);
      if (own) {
        await this.publish(own);
        await this.windows.cool(
          ref,
          own.alert_id,
          Date.parse(own.raised_at) + cooldownS * 1000 - Date.now(),
        );
        return;
      }
    }
    if (seen.count < s.need) return;
    if (seen.cooling) {
      // The usual case in a flood: no transaction, the repeat joins the batch's tally.
      if (seen.fresh) repeats.set(seen.cooling, (repeats.get(seen.cooling) ?? 0) + 1);
      return;
    }
    const res = await this.alerts.raise(ref, alertId, cooldownS, seen.fresh, (raisedAt) =>
      windowAlert(call, s, {
        alert_id: alertId,
        raised_at: raisedAt,
        count: seen.count,
        trace_ids: seen.traceIds,
      }),
    );
    // Its own alert too: another delivery of this event may have raised it a moment ago.
    if (res.raised || res.alert.alert_id === alertId) await this.publish(res.alert);
    // Only once published: the short-cut skips PostgreSQL for the events after this one.
    await this.windows.cool(ref, res.alert.alert_id, res.coolsAt.getTime() - Date.now());
  }

  private async firstSeen(call: CompletedCall, s: FirstSeenSignal, redelivered: boolean) {
    const cacheKey = `${call.project}\u0000${s.kind}\u0000${s.name}`;
    if (this.seen.has(cacheKey) && !redelivered) return;
    const alertId = alertIdOf(call.event_id, s.type, s.name);
    const res = await this.alerts.firstSeen(
      call.project,
      s.kind,
      s.name,
      s.alert
        ? (raisedAt) => firstSeenAlert(call, s, { alert_id: alertId, raised_at: raisedAt })
        : null,
    );
    // A redelivery finds the name recorded; if it was this event that raised the alert, the
    // publish may not have happened.
    const alert = res.alert ?? (!res.isNew && redelivered ? await this.alerts.get(alertId) : null);
    if (alert) await this.publish(alert);
    if (this.seen.size >= SEEN_CACHE_MAX) this.seen.clear();
    this.seen.add(cacheKey);
  }

  /** Resolves once JetStream stored the alert; rejects otherwise (the event is retried). */
  private async publish(alert: Alert) {
    await this.bus.publishConfirmed(
      ALERT_RAISED,
      alert,
      { traceId: alert.trace_ids.at(-1) ?? `alert-${alert.alert_id}`, project: alert.project },
      alert.alert_id,
    );
    this.logger.warn(
      {
        alert_id: alert.alert_id,
        type: alert.type,
        severity: alert.severity,
        project: alert.project,
        // Not `key`: the logger redacts fields of that name.
        alert_key: alert.key,
      },
      `alert: ${alert.summary}`,
    );
  }
}
