import { Inject } from '@nestjs/common';
import { ALERT_RAISED, AUDIT_RAISE_ALERT_SUBJECT, type RequestOf } from '@sg/contracts';
import {
  BusController,
  Ctx,
  MessagePattern,
  NatsBus,
  Payload,
  type BusContext,
} from '@sg/messaging';
import { LOGGER, type Logger } from '@sg/runtime';
import { AlertStore } from './alert-store.js';
import { reportedAlert, reportedAlertId } from './signals.js';

/**
 * gw.audit.raise_alert.v1: an alert another service found (a policy version that does not
 * verify), stored, queued for the SIEM and published like the detectors' own. One per key: a
 * repeat answers the alert already raised.
 */
@BusController()
export class RaiseAlertController {
  constructor(
    private readonly alerts: AlertStore,
    private readonly bus: NatsBus,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @MessagePattern(AUDIT_RAISE_ALERT_SUBJECT)
  async raise(@Payload() req: RequestOf<typeof AUDIT_RAISE_ALERT_SUBJECT>, @Ctx() ctx: BusContext) {
    const alertId = reportedAlertId(req);
    const res = await this.alerts.raise(
      { project: req.project, type: req.type, key: req.key },
      alertId,
      0,
      false,
      (at) => reportedAlert(req, at),
    );
    if (res.raised) {
      this.logger.error(
        { alert_id: alertId, type: req.type, project: req.project },
        `alert: ${res.alert.summary}`,
      );
      await this.bus.publishConfirmed(
        ALERT_RAISED,
        res.alert,
        { ...ctx, project: req.project },
        alertId,
      );
    }
    return { alert_id: alertId, raised: res.raised };
  }
}
