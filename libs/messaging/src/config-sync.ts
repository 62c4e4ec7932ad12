import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ConfigFileError, dirSignature, loadGatewayFiles, type GatewayFiles } from '@sg/config';
import { POLICY_CHANGED, policyChangedSchema } from '@sg/contracts';
import { ENV, HealthService, LOGGER, type Logger, uuidFrom } from '@sg/runtime';
import { NatsBus } from './bus.js';

export interface ConfigSyncEnv {
  CONFIG_DIR: string;
  CONFIG_POLL_MS: number;
}

/**
 * Compiles what a service needs from new files; throws if they cannot be used. Returns the
 * function that switches to them, called only once every reloader has compiled.
 */
export type Reloader = (files: GatewayFiles) => () => void;

export const CONFIG_SYNC_OPTIONS = Symbol('CONFIG_SYNC_OPTIONS');

export interface ConfigSyncOptions {
  /** The policy service announces each new version on gw.evt.policy.changed.v1. */
  announce: boolean;
}

/**
 * The config directory, hot-reloaded: polled for edits, and reloaded at once when another
 * instance announces a new version. A file that fails validation is refused (file, line,
 * column, reason in the log) and the last good config stays active.
 */
@Injectable()
export class ConfigSync implements OnModuleInit, OnApplicationShutdown {
  private current: GatewayFiles;
  private signature: string;
  private readonly reloaders: Reloader[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastError: string | null = null;

  constructor(
    private readonly bus: NatsBus,
    private readonly health: HealthService,
    @Inject(ENV) private readonly env: ConfigSyncEnv,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(CONFIG_SYNC_OPTIONS) private readonly options: ConfigSyncOptions,
  ) {
    this.signature = dirSignature(env.CONFIG_DIR);
    this.current = loadGatewayFiles(env.CONFIG_DIR);
  }

  get files(): GatewayFiles {
    return this.current;
  }

  get version(): string {
    return this.current.version;
  }

  /** Registers a reloader and runs it on the current files (a failure here stops the start). */
  register(reloader: Reloader): void {
    reloader(this.current)();
    this.reloaders.push(reloader);
  }

  onModuleInit() {
    this.health.register('config', async () =>
      this.lastError
        ? { ok: true, detail: `kept version ${this.current.version}; refused: ${this.lastError}` }
        : { ok: true },
    );
    const subject = this.bus.subject(POLICY_CHANGED);
    this.bus.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const announced = policyChangedSchema.parse((msg.json() as { data: unknown }).data);
          if (announced.version !== this.current.version)
            this.check('announced by another instance');
        } catch {
          // Not an announcement we understand: the poll still finds real edits.
        }
      },
    });
    if (this.env.CONFIG_POLL_MS > 0) {
      this.timer = setInterval(() => this.check('file change'), this.env.CONFIG_POLL_MS);
      this.timer.unref();
    }
  }

  /** Reloads if the directory changed since the last look. Returns the active version. */
  check(why: string): string {
    const signature = dirSignature(this.env.CONFIG_DIR);
    if (signature === this.signature) return this.current.version;
    this.signature = signature;
    const previous = this.current.version;
    let files: GatewayFiles;
    let commits: Array<() => void>;
    try {
      files = loadGatewayFiles(this.env.CONFIG_DIR);
      if (files.version === previous) {
        // Back to the active contents (a bad edit reverted): nothing is refused any more.
        this.lastError = null;
        return previous;
      }
      commits = this.reloaders.map((r) => r(files));
    } catch (err) {
      this.lastError = err instanceof ConfigFileError ? err.message : (err as Error).message;
      this.logger.error(
        { reason: this.lastError, version: previous },
        `config refused (${this.lastError}); the last good config stays active`,
      );
      return previous;
    }
    for (const commit of commits) commit();
    this.current = files;
    this.lastError = null;
    this.logger.info(
      { version: files.version, previous_version: previous, why },
      'config reloaded',
    );
    if (this.options.announce) {
      // One id per version: when every instance announces the same edit, JetStream keeps one.
      const eventId = uuidFrom(`policy-changed:${files.version}`);
      this.bus.publish(
        POLICY_CHANGED,
        { version: files.version, previous_version: previous, instance: this.health.instance },
        { traceId: `config-${files.version}`, project: 'default' },
        eventId,
      );
    }
    return files.version;
  }

  onApplicationShutdown() {
    if (this.timer) clearInterval(this.timer);
  }
}
