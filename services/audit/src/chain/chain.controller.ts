import { AUDIT_CHECKPOINTS_SUBJECT, AUDIT_VERIFY_SUBJECT, type RequestOf } from '@sg/contracts';
import { BusController, MessagePattern } from '@sg/messaging';
import { ChainService } from './chain.service.js';

/** Chain verification and the checkpoints' export, over NATS. */
@BusController()
export class ChainController {
  constructor(private readonly chain: ChainService) {}

  @MessagePattern(AUDIT_VERIFY_SUBJECT)
  verify(query: RequestOf<typeof AUDIT_VERIFY_SUBJECT>) {
    return this.chain.verify(query);
  }

  @MessagePattern(AUDIT_CHECKPOINTS_SUBJECT)
  checkpoints(query: RequestOf<typeof AUDIT_CHECKPOINTS_SUBJECT>) {
    return this.chain.checkpoints(query);
  }
}
