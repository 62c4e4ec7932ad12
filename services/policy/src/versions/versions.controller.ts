import { Inject } from '@nestjs/common';
import {
  AUDIT_RAISE_ALERT_SUBJECT,
  type PolicyVersion,
  POLICY_ACTIVE_SUBJECT,
  POLICY_HISTORY_SUBJECT,
  POLICY_ROLLBACK_SUBJECT,
  POLICY_SAVE_SUBJECT,
  POLICY_SIGNING_KEY_SUBJECT,
  POLICY_VERSION_SUBJECT,
  type RequestOf,
} from '@sg/contracts';
import { BusClient, BusController, ConfigSync, MessagePattern, Payload } from '@sg/messaging';
import { LOGGER, type Logger, Metrics } from '@sg/runtime';
import { VersionPublisher } from './version-publisher.js';
import { VersionSigner } from './version-signer.js';
import { VersionStore } from './version-store.js';

/**
 * Policy versions on the bus (docs/policy-versions.md): the history, one version with its diff,
 * the versions that override the files, and saving or rolling back a version. A new version is
 * active here at once and on every instance through the announcement of the new config.
 */
@BusController()
export class VersionsController {
  /** Refused versions logged and counted (once each), and those whose alert was raised. */
  private readonly refusedSeen = new Set<string>();
  private readonly alerted = new Set<string>();
  private readonly refusedCount;

  constructor(
    private readonly store: VersionStore,
    config: ConfigSync,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly client: BusClient,
    private readonly publisher: VersionPublisher,
    private readonly signer: VersionSigner,
    metrics: Metrics,
  ) {
    this.refusedCount = metrics.counter({
      name: 'sg_policy_versions_refused_total',
      help: 'Policy versions not activated because their signature or content digest does not verify',
    });
    // This service reads the overriding versions from PostgreSQL itself, not over the bus.
    config.useVersionSource(async () => (await this.active()).versions);
  }

  @MessagePattern(POLICY_HISTORY_SUBJECT)
  history(@Payload() req: RequestOf<typeof POLICY_HISTORY_SUBJECT>) {
    return this.store.history(req);
  }

  @MessagePattern(POLICY_VERSION_SUBJECT)
  version(@Payload() req: RequestOf<typeof POLICY_VERSION_SUBJECT>) {
    return this.store.get(req.id);
  }

  /** The public key the versions are signed with, to check them without trusting the gateway. */
  @MessagePattern(POLICY_SIGNING_KEY_SUBJECT)
  signingKey() {
    return this.signer.publicKey;
  }

  @MessagePattern(POLICY_ACTIVE_SUBJECT)
  async active() {
    const { versions, refused } = await this.store.active();
    for (const v of refused) {
      if (!this.refusedSeen.has(v.id)) {
        this.refusedSeen.add(v.id);
        this.refusedCount.inc();
        this.logger.error(
          { policy_version: v.id, project: v.project, kind: v.kind },
          'a policy version does not verify (its signature or content changed in PostgreSQL): it is not activated, the last good version stays',
        );
      }
      if (!this.alerted.has(v.id)) void this.raiseAlert(v);
    }
    return { versions };
  }

  /** A critical `policy_tampered` alert, through the audit service to the SIEM; retried at the next look until it is raised. */
  private async raiseAlert(v: PolicyVersion): Promise<void> {
    this.alerted.add(v.id);
    try {
      await this.client.request(
        AUDIT_RAISE_ALERT_SUBJECT,
        {
          type: 'policy_tampered',
          project: v.project,
          key: v.id,
          summary: `policy version ${v.id} (${v.kind}/${v.project}.yaml) does not verify: its signature or content was changed in PostgreSQL. It is not activated; run npm run policy:verify -- --project ${v.project}`,
        },
        { traceId: `policy-tampered-${v.id.slice(0, 8)}`, project: v.project },
      );
    } catch (err) {
      this.alerted.delete(v.id);
      this.logger.warn(
        { policy_version: v.id, err: (err as Error).message },
        'the policy_tampered alert could not be raised yet; it will be at the next look',
      );
    }
  }

  @MessagePattern(POLICY_SAVE_SUBJECT)
  save(@Payload() req: RequestOf<typeof POLICY_SAVE_SUBJECT>) {
    return this.publisher.publish({
      project: req.project,
      kind: req.kind,
      content: req.content,
      author: req.author,
      source: 'api',
      reason: req.reason,
    });
  }

  @MessagePattern(POLICY_ROLLBACK_SUBJECT)
  async rollback(@Payload() req: RequestOf<typeof POLICY_ROLLBACK_SUBJECT>) {
    const target = await this.store.verifiedVersion(req.id, req.project);
    return this.publisher.publish({
      project: target.project,
      kind: target.kind,
      content: target.content,
      author: req.author,
      source: 'rollback',
      reason: `rollback to ${target.id}${req.reason ? `: ${req.reason}` : ''}`,
    });
  }
}
