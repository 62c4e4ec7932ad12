import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { FILE_KINDS, PROJECT_FILE } from '@sg/config';
import { ConfigSync } from '@sg/messaging';
import { LOGGER, type Logger } from '@sg/runtime';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { VersionStore } from './version-store.js';

const RETRY_MS = 30_000;

/**
 * The config directory's files as versions: at start and after every reload this instance
 * accepted, each project's policies, contextual_policies and model_keys file whose content is
 * new is stored as a version with author and source `file` (docs/policy-versions.md). If the
 * store cannot be reached, it tries again every 30 s.
 */
@Injectable()
export class FileVersions implements OnApplicationShutdown {
  private retry: NodeJS.Timeout | undefined;

  constructor(
    config: ConfigSync,
    private readonly store: VersionStore,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    // After the reload is committed: only a config this instance accepted is recorded.
    config.register((files) => () => setImmediate(() => void this.recordAll(files.dir)));
  }

  onApplicationShutdown(): void {
    clearTimeout(this.retry);
  }

  async recordAll(dir: string): Promise<void> {
    clearTimeout(this.retry);
    try {
      for (const kind of FILE_KINDS) {
        const folder = join(dir, kind);
        if (!existsSync(folder)) continue;
        for (const entry of readdirSync(folder).sort()) {
          const m = PROJECT_FILE.exec(entry);
          if (!m || m[2]) continue; // previews are not versioned
          const file = join(folder, entry);
          const recorded = await this.store.record(
            {
              project: m[1]!,
              kind,
              content: readFileSync(file, 'utf8'),
              author: 'file',
              source: 'file',
              reason: `${kind}/${entry} edited`,
            },
            statSync(file).mtime,
          );
          if (recorded?.created)
            this.logger.info(
              { version: recorded.version.id, project: m[1], kind },
              'policy version recorded from the config directory',
            );
        }
      }
    } catch (err) {
      this.logger.warn(
        { err: (err as Error).message },
        `policy versions not recorded; trying again in ${RETRY_MS / 1000} s`,
      );
      this.retry = setTimeout(() => void this.recordAll(dir), RETRY_MS);
      this.retry.unref();
    }
  }
}
