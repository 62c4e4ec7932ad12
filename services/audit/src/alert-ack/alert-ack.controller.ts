import { Inject } from '@nestjs/common';
import { AUDIT_ACK_ALERT_SUBJECT, type RequestOf } from '@sg/contracts';
import { BusController, Ctx, MessagePattern, Payload, type BusContext } from '@sg/messaging';
import { LOGGER, type Logger } from '@sg/runtime';
import { storeAnswer } from '../query/store-answer.js';
import { AlertAckService } from './alert-ack.service.js';

/** gw.audit.ack_alert.v1: parse, delegate, map PostgreSQL failures. */
@BusController()
export class AlertAckController {
  constructor(
    private readonly acks: AlertAckService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @MessagePattern(AUDIT_ACK_ALERT_SUBJECT)
  async ack(@Payload() req: RequestOf<typeof AUDIT_ACK_ALERT_SUBJECT>, @Ctx() ctx: BusContext) {
    const alert = await storeAnswer(
      this.logger,
      () => this.acks.acknowledge(req, ctx),
      'the audit store refused the acknowledgement (a name or note it cannot store); send plain text',
    );
    this.logger.info(
      { alert_id: alert.alert_id, project: alert.project, by: req.by },
      'alert acknowledged',
    );
    return alert;
  }
}
