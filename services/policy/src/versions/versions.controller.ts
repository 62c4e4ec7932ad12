import { POLICY_HISTORY_SUBJECT, POLICY_VERSION_SUBJECT, type RequestOf } from '@sg/contracts';
import { BusController, MessagePattern, Payload } from '@sg/messaging';
import { VersionStore } from './version-store.js';

/** Policy versions for the admin API: the history of a project, one version with its diff. */
@BusController()
export class VersionsController {
  constructor(private readonly store: VersionStore) {}

  @MessagePattern(POLICY_HISTORY_SUBJECT)
  history(@Payload() req: RequestOf<typeof POLICY_HISTORY_SUBJECT>) {
    return this.store.history(req);
  }

  @MessagePattern(POLICY_VERSION_SUBJECT)
  version(@Payload() req: RequestOf<typeof POLICY_VERSION_SUBJECT>) {
    return this.store.get(req.id);
  }
}
