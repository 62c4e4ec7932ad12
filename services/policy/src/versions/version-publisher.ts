import { Inject, Injectable } from '@nestjs/common';
import { GatewayError } from '@sg/contracts';
import { ConfigSync } from '@sg/messaging';
import { ENV, LOGGER, type Logger } from '@sg/runtime';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PolicyEnv } from '../config/env.js';
import { VersionSigner } from './version-signer.js';
import { type NewVersion, storedContent, VersionStore } from './version-store.js';

/** Saving a version: signed, stored, written back if asked, active here and announced. */
@Injectable()
export class VersionPublisher {
  constructor(
    private readonly store: VersionStore,
    private readonly signer: VersionSigner,
    private readonly config: ConfigSync,
    @Inject(ENV) private readonly env: PolicyEnv,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Stores a version, writes it back to its file if asked, and makes it active everywhere. */
  async publish(v: NewVersion) {
    if (!this.signer.keyId)
      throw new GatewayError(
        'POLICY.SIGNING_KEY_MISSING',
        `versions are saved signed: set the secret ${this.env.POLICY_SIGNING_SECRET} (an Ed25519 key) for the policy service`,
      );
    const saved = (await this.store.record(v))!;
    if (saved.created) {
      if (this.env.FILE_WRITEBACK) this.writeBack(v);
      // Active here now; announced to every instance by the reload.
      await this.config.refreshVersions(`policy version ${saved.version.id} (${v.source})`);
    }
    return saved;
  }

  /** FILE_WRITEBACK: the file gets the version's content (model_keys with hashed keys). */
  private writeBack(v: NewVersion): void {
    try {
      const dir = join(this.env.CONFIG_DIR, v.kind);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${v.project}.yaml`), storedContent(v.kind, v.content));
    } catch (err) {
      this.logger.error(
        { project: v.project, kind: v.kind, err: (err as Error).message },
        'FILE_WRITEBACK: the version is active, but its file was not written',
      );
    }
  }
}
