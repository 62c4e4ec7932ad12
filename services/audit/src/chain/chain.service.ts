import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import {
  ALERT_RAISED,
  AUDIT_CHECKPOINTS_SUBJECT,
  AUDIT_VERIFY_SUBJECT,
  GatewayError,
  type RequestOf,
} from '@sg/contracts';
import { NatsBus } from '@sg/messaging';
import { ENV, HealthService, LOGGER, type Logger, type Pool } from '@sg/runtime';
import { AlertStore } from '../anomaly/alert-store.js';
import { chainBrokenAlert, chainBrokenAlertId } from '../anomaly/signals.js';
import type { AuditEnv } from '../config/env.js';
import { EventStore } from '../store/event-store.js';
import { PG } from '../store/pg.provider.js';
import {
  CHECKPOINT_COLUMNS,
  checkpointOf,
  CheckpointSigner,
  publicKeyPem,
  type CheckpointRow,
} from './checkpoint-signer.js';
import { decodeVerifyCursor } from '../query/cursor.js';
import { verifyChain } from './verify.js';

const EXPORT_PAGE = 1000;

/**
 * Signed checkpoints of every project's chain head (every AUDIT_CHECKPOINT_MS, when it moved),
 * their export, and chain verification over NATS.
 */
@Injectable()
export class ChainService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly signer: CheckpointSigner | null;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private lastError: string | null = null;
  /** The chain_seq last signed per project. */
  private readonly signed = new Map<string, number>();

  constructor(
    @Inject(PG) private readonly pool: Pool,
    private readonly store: EventStore,
    private readonly bus: NatsBus,
    private readonly health: HealthService,
    @Inject(ENV) private readonly env: AuditEnv,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly alerts: AlertStore,
  ) {
    this.signer = env.AUDIT_SIGNING_KEY_FILE
      ? CheckpointSigner.fromFile(env.AUDIT_SIGNING_KEY_FILE)
      : null;
  }

  onApplicationBootstrap() {
    if (this.signer)
      this.logger.info({ key_id: this.signer.keyId }, 'audit checkpoints are signed');
    else
      this.logger.warn(
        'AUDIT_SIGNING_KEY_FILE is not set: no signed checkpoints are made (the hash chain is still kept)',
      );
    // An append that finds a change has its alert raised at once, not at the next interval.
    this.store.onRewrite = () => {
      this.running = this.running
        .then(() => this.raiseRewrites())
        .catch((err: unknown) =>
          this.logger.warn(
            { err: (err as Error).message },
            'chain_broken alert not raised yet; retried at the next interval',
          ),
        );
    };
    this.timer = setInterval(() => {
      this.running = this.running
        .then(() => this.check())
        .catch((err: unknown) =>
          this.logger.warn(
            { err: (err as Error).message },
            'audit chain check failed; retried at the next interval',
          ),
        )
        .then(() => this.checkpoint())
        .catch(() => undefined);
    }, this.env.AUDIT_CHECKPOINT_MS);
    this.timer.unref();
    this.health.register('checkpoints', async () => ({
      ok: true,
      detail: this.signer
        ? (this.lastError ?? `signing with key ${this.signer.keyId}`)
        : 'disabled: set AUDIT_SIGNING_KEY_FILE',
    }));
  }

  /** gw.audit.verify.v1: one piece of the project's chain, walked within the time budget. */
  async verify({ project, cursor }: RequestOf<typeof AUDIT_VERIFY_SUBJECT>) {
    // A cursor that is not one of ours is the caller's mistake (400), not the store's.
    const after = cursor === undefined ? undefined : decodeVerifyCursor(project, cursor);
    try {
      return await verifyChain(this.pool, project, {
        ...(this.signer ? { publicKey: this.signer.publicKey } : {}),
        ...(after ? { after } : {}),
        deadline: Date.now() + this.env.AUDIT_VERIFY_BUDGET_MS,
      });
    } catch (err) {
      this.logger.error(
        { err: (err as Error).message, project },
        'audit verification failed to run',
      );
      throw new GatewayError(
        'AUDIT.STORE_UNAVAILABLE',
        'the audit store (PostgreSQL) is unavailable; retry the verification later',
      );
    }
  }

  /** gw.audit.checkpoints.v1: the signed checkpoints after a position, and the public key. */
  async checkpoints({ project, after_seq }: RequestOf<typeof AUDIT_CHECKPOINTS_SUBJECT>) {
    let rows;
    try {
      rows = await this.pool.query<CheckpointRow>(
        `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE project = $1 AND chain_seq > $2 ORDER BY chain_seq LIMIT ${EXPORT_PAGE}`,
        [project, after_seq],
      );
    } catch {
      throw new GatewayError(
        'AUDIT.STORE_UNAVAILABLE',
        'the audit store (PostgreSQL) is unavailable; retry later',
      );
    }
    return {
      project,
      public_key: this.signer ? publicKeyPem(this.signer.publicKey) : null,
      key_id: this.signer?.keyId ?? null,
      checkpoints: rows.rows.map((c) => checkpointOf(project, c)),
    };
  }

  /**
   * Compares the row this instance wrote last in each project with what PostgreSQL holds now,
   * then raises a `chain_broken` alert (stored, queued for the SIEM, published) for every row
   * found changed, here or by an append. A row rewritten together with the rows after it and the
   * head leaves a chain that verifies; only the hash remembered here tells. Returns the number
   * of alerts raised (a row already alerted on is not alerted again).
   */
  async check(): Promise<number> {
    await this.store.inspect(this.pool, [...this.store.written.keys()]);
    return this.raiseRewrites();
  }

  /** Raises the alert of each change in `store.rewritten` (stored, queued for the SIEM, published). */
  private async raiseRewrites(): Promise<number> {
    let raised = 0;
    for (const [project, found] of this.store.rewritten) {
      const build = (at: Date) => chainBrokenAlert(project, found, at);
      const alertId = chainBrokenAlertId(project, found);
      const res = await this.alerts.raise(
        { project, type: 'chain_broken', key: String(found.chain_seq) },
        alertId,
        0,
        false,
        build,
      );
      if (this.store.rewritten.get(project) === found) this.store.rewritten.delete(project);
      if (!res.raised) continue;
      raised++;
      this.logger.error(
        { alert_id: alertId, project, chain_seq: found.chain_seq },
        `alert: ${res.alert.summary}`,
      );
      // Stored and queued for the SIEM already; the event is for the trail and other listeners.
      await this.bus
        .publishConfirmed(
          ALERT_RAISED,
          res.alert,
          { traceId: `alert-${alertId}`, project },
          alertId,
        )
        .catch((err: unknown) =>
          this.logger.warn(
            { err: (err as Error).message, alert_id: alertId },
            'chain_broken alert not published; it is stored and queued for the SIEM',
          ),
        );
    }
    return raised;
  }

  /**
   * Signs, for every project this instance appended to since its last checkpoint, the newest row
   * it wrote (its hash as computed here, not as read back). Returns how many were signed.
   */
  async checkpoint(now: Date = new Date()): Promise<number> {
    if (!this.signer) return 0;
    try {
      let signed = 0;
      for (const [project, head] of this.store.written) {
        if (this.signed.get(project) === head.chain_seq) continue;
        const stored = await this.signer.signAndStore(
          this.pool,
          { project, chain_seq: head.chain_seq, hash: head.hash },
          now,
        );
        this.signed.set(project, head.chain_seq);
        if (stored) signed++;
      }
      this.lastError = null;
      return signed;
    } catch (err) {
      this.lastError = `last checkpoint failed: ${(err as Error).message}`;
      this.logger.warn(
        { err: (err as Error).message },
        'audit checkpoint failed; retried at the next interval',
      );
      throw err;
    }
  }

  /** Before the pool closes (EventStore ends it on shutdown). */
  async beforeApplicationShutdown() {
    if (this.timer) clearInterval(this.timer);
    this.store.onRewrite = undefined;
    await this.running;
    // A change an append found since the last interval is alerted on before the instance goes.
    if (this.store.rewritten.size > 0)
      await this.raiseRewrites().catch((err: unknown) =>
        this.logger.error(
          { err: (err as Error).message },
          'chain_broken alerts not raised at shutdown',
        ),
      );
  }
}
