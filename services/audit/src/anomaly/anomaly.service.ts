import { Inject, Injectable } from '@nestjs/common';
import { forProject } from '@sg/config';
import { ALERT_RAISED, type Alert } from '@sg/contracts';
import { ConfigSync, NatsBus } from '@sg/messaging';
import { LOGGER, type Logger } from '@sg/runtime';
import { AlertStore } from './alert-store.js';
import {
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
 * once, repeats count only fresh events, audit_seen inserts a name once, and alerts are
 * published with their alert_id as event id. Throws on Redis or PostgreSQL errors (the
 * consumer then redelivers the event later).
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
    for (const s of windowSignals(call, cfg)) await this.window(call, s, cfg.cooldown_s, repeats);
    for (const s of firstSeenSignals(call, cfg)) await this.firstSeen(call, s, redelivered);
  }

  async addRepeats(repeats: RepeatTally): Promise<void> {
    if (repeats.size > 0) await this.alerts.addRepeats(repeats);
  }

  private async window(
    call: CompletedCall,
    s: WindowSignal,
    cooldownS: number,
    repeats: RepeatTally,
  ) {
    const ref = { project: call.project, type: s.type, key: s.key };
    const seen = await this.windows.observe(
      ref,
      { eventId: call.event_id, traceId: call.trace_id, atMs: Date.parse(call.occurred_at) },
      s.window_s,
      s.need,
    );
    if (seen.count < s.need) return;
    if (seen.cooling) {
      // The usual case in a flood: no transaction, the repeat joins the batch's tally.
      if (seen.fresh) repeats.set(seen.cooling, (repeats.get(seen.cooling) ?? 0) + 1);
      return;
    }
    const res = await this.alerts.raise(ref, cooldownS, seen.fresh, (alertId, raisedAt) =>
      windowAlert(call, s, {
        alert_id: alertId,
        raised_at: raisedAt,
        count: seen.count,
        trace_ids: seen.traceIds,
      }),
    );
    // A redelivery of the event that raised it (crash after COMMIT): publish again; the alert
    // id is the Nats-Msg-Id, so JetStream keeps one copy if the first publish got through.
    if (res.raised || (!seen.fresh && res.alert.trace_ids.includes(call.trace_id)))
      this.publish(res.alert);
    await this.windows.cool(ref, res.alert.alert_id, res.coolsAt.getTime() - Date.now());
  }

  private async firstSeen(call: CompletedCall, s: FirstSeenSignal, redelivered: boolean) {
    const cacheKey = `${call.project}\u0000${s.kind}\u0000${s.name}`;
    if (this.seen.has(cacheKey) && !redelivered) return;
    const res = await this.alerts.firstSeen(
      call.project,
      s.kind,
      s.name,
      s.alert
        ? (alertId, raisedAt) => firstSeenAlert(call, s, { alert_id: alertId, raised_at: raisedAt })
        : null,
    );
    if (res.alert) this.publish(res.alert);
    else if (!res.isNew && redelivered && s.alert) {
      const prior = await this.alerts.latest({ project: call.project, type: s.type, key: s.name });
      if (prior?.trace_ids.includes(call.trace_id)) this.publish(prior);
    }
    if (this.seen.size >= SEEN_CACHE_MAX) this.seen.clear();
    this.seen.add(cacheKey);
  }

  private publish(alert: Alert) {
    this.bus.publish(
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
        key: alert.key,
      },
      `alert: ${alert.summary}`,
    );
  }
}
