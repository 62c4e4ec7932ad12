import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { ENV, LOGGER, type Logger, type Pool } from '@sg/runtime';
import type { AuditEnv } from '../config/env.js';
import { EventStore } from '../store/event-store.js';
import { ensurePartitions } from '../store/partitions.js';
import { PG } from '../store/pg.provider.js';
import { ChainService } from './chain.service.js';
import { dropExpiredPartitions, type RetentionResult } from './retention.js';

const DAY_MS = 86_400_000;

/**
 * Partition upkeep, at start and daily: creates the coming months' partitions of audit_events,
 * and with AUDIT_RETENTION_DAYS drops the expired ones that a signed checkpoint covers.
 */
@Injectable()
export class RetentionService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    @Inject(PG) private readonly pool: Pool,
    private readonly store: EventStore,
    private readonly chain: ChainService,
    @Inject(ENV) private readonly env: AuditEnv,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap() {
    const run = () => {
      this.running = this.running.then(() => this.maintain()).catch(() => undefined);
    };
    run();
    this.timer = setInterval(run, DAY_MS);
    this.timer.unref();
  }

  /** Creates the partitions ahead, then applies retention. Never throws: logs and waits a day. */
  async maintain(now: Date = new Date()): Promise<RetentionResult | null> {
    try {
      await ensurePartitions(this.pool, now);
    } catch (err) {
      this.logger.error(
        { err: (err as Error).message },
        'audit partitions not created ahead; rows go to audit_events_default until they are',
      );
    }
    const days = this.env.AUDIT_RETENTION_DAYS;
    if (days === 0) return null;
    const signer = this.chain.signer;
    if (!signer) {
      this.logger.warn(
        'AUDIT_RETENTION_DAYS is set but AUDIT_SIGNING_KEY_FILE is not: no partition is dropped without a signed checkpoint',
      );
      return null;
    }
    try {
      const result = await dropExpiredPartitions(
        this.pool,
        this.store,
        signer,
        new Date(now.getTime() - days * DAY_MS),
      );
      for (const d of result.dropped)
        this.logger.info(
          { partition: d.partition, rows: d.rows, through: d.through, ms: d.ms },
          'audit partition dropped by retention; verification starts after its last rows',
        );
      if (result.kept)
        this.logger.warn(
          result.kept,
          'an expired audit partition is kept (and the ones after it) until the reason is gone',
        );
      return result;
    } catch (err) {
      this.logger.error(
        { err: (err as Error).message },
        'audit retention failed; retried tomorrow',
      );
      return null;
    }
  }

  async beforeApplicationShutdown() {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
