import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import {
  applyVersions,
  ConfigFileError,
  dirSignature,
  loadGatewayFiles,
  type GatewayFiles,
  type OverridingVersion,
} from '@sg/config';
import { POLICY_ACTIVE_SUBJECT, POLICY_CHANGED, policyChangedSchema } from '@sg/contracts';
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

/** Where the policy versions that override the files come from (docs/policy-versions.md). */
export type VersionSource = () => Promise<OverridingVersion[]>;

/** How long a starting service waits for the overriding versions before it serves on the files alone. */
const VERSIONS_WAIT_MS = 10_000;
/** How often the overriding versions are fetched again, besides every announcement. */
const VERSIONS_REFRESH_MS = 30_000;

export interface ConfigSyncOptions {
  /** The policy service announces each new version on gw.evt.policy.changed.v1. */
  announce: boolean;
  /**
   * Apply the policy versions that override the files (services that read policies, contextual
   * policies or model_keys); off for services that read only tools or peers, and in tests that run
   * without a policy service.
   */
  versions?: boolean;
}

/**
 * The config directory, hot-reloaded: polled for edits, and reloaded at once when another
 * instance announces a new version. A file that fails validation is refused (file, line,
 * column, reason in the log) and the last good config stays active.
 *
 * Over the files go the policy versions that override them (saved through the API, rolled back,
 * proposed: docs/policy-versions.md), asked of the policy service (`gw.policy.active.v1`) at
 * start, at every announcement and every 30 s. A starting service is not ready until it has them
 * (at most 10 s), so it does not serve a file's policy that a newer version replaced.
 */
@Injectable()
export class ConfigSync implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private current: GatewayFiles;
  private signature: string;
  private readonly reloaders: Reloader[] = [];
  private timer: NodeJS.Timeout | undefined;
  private versionsTimer: NodeJS.Timeout | undefined;
  private lastError: string | null = null;
  private versions: OverridingVersion[] = [];
  /** The start's wait for the overriding versions is over (they came, or the wait timed out). */
  private versionsSettled = false;
  private versionsKey = '';
  private source: VersionSource = async () =>
    (
      await this.bus.request(
        POLICY_ACTIVE_SUBJECT,
        {},
        { traceId: `config-versions-${this.health.instance}`, project: 'default' },
        3000,
      )
    ).versions;

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

  /** The version that overrides a project file, if one does (its content is what runs). */
  activeVersion(project: string, kind: OverridingVersion['kind']): OverridingVersion | undefined {
    return this.versions.find((v) => v.project === project && v.kind === kind);
  }

  /** The policy service reads the overriding versions from PostgreSQL itself. */
  useVersionSource(source: VersionSource): void {
    this.source = source;
  }

  /**
   * Fetches the overriding versions; reloads when they changed. Throws when they cannot be
   * fetched (the active config stays).
   */
  async refreshVersions(why: string): Promise<string> {
    const next = await this.source();
    const key = next
      .map((v) => v.id)
      .sort()
      .join(',');
    if (key === this.versionsKey) return this.current.version;
    this.versions = next;
    this.versionsKey = key;
    return this.check(why, true);
  }

  /**
   * Fetches the overriding versions in the background: the service starts at once, and says it
   * is not ready (health `config`; `versionsReady` for the ingress, which refuses calls) until
   * they came, or 10 s passed and it serves on the files alone.
   */
  onApplicationBootstrap(): void {
    if (!this.options.versions) return;
    void this.settleVersions();
  }

  /** Whether the overriding versions are known (or the wait for them is over). */
  get versionsReady(): boolean {
    return !this.options.versions || this.versionsSettled;
  }

  private async settleVersions(): Promise<void> {
    const deadline = performance.now() + VERSIONS_WAIT_MS;
    for (;;) {
      try {
        await this.refreshVersions('policy versions at start');
        break;
      } catch (err) {
        if (performance.now() > deadline) {
          this.logger.error(
            { err: (err as Error).message },
            'the policy versions that override the files cannot be fetched: serving the files until they can',
          );
          break;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    this.versionsSettled = true;
    this.versionsTimer = setInterval(
      () =>
        void this.refreshVersions('policy versions refreshed').catch((err: Error) =>
          this.logger.warn({ err: err.message }, 'policy versions not refreshed'),
        ),
      VERSIONS_REFRESH_MS,
    );
    this.versionsTimer.unref();
  }

  /** Registers a reloader and runs it on the current files (a failure here stops the start). */
  register(reloader: Reloader): void {
    reloader(this.current)();
    this.reloaders.push(reloader);
  }

  onModuleInit() {
    this.health.register('config', async () => {
      // Not ready while a starting service waits for the versions that override its files.
      if (this.options.versions && !this.versionsSettled)
        return { ok: false, detail: 'waiting for the policy versions that override the files' };
      return this.lastError
        ? { ok: true, detail: `kept version ${this.current.version}; refused: ${this.lastError}` }
        : { ok: true };
    });
    const subject = this.bus.subject(POLICY_CHANGED);
    this.bus.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const announced = policyChangedSchema.parse((msg.json() as { data: unknown }).data);
          if (announced.version !== this.current.version) {
            this.check('announced by another instance');
            if (this.options.versions)
              void this.refreshVersions('announced by another instance').catch((e: Error) =>
                this.logger.warn({ err: e.message }, 'policy versions not refreshed'),
              );
          }
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

  /**
   * Reloads if the directory changed since the last look (or, `force`d, when the overriding
   * versions did). Returns the active version.
   */
  check(why: string, force = false): string {
    const signature = dirSignature(this.env.CONFIG_DIR);
    if (signature === this.signature && !force) return this.current.version;
    this.signature = signature;
    const previous = this.current.version;
    let files: GatewayFiles;
    let commits: Array<() => void>;
    try {
      const applied = applyVersions(loadGatewayFiles(this.env.CONFIG_DIR), this.versions);
      for (const r of applied.refused)
        this.logger.error(
          { policy_version: r.id, reason: r.reason },
          'a policy version that overrides a file is refused; the file stays',
        );
      files = applied.files;
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
    if (this.versionsTimer) clearInterval(this.versionsTimer);
  }
}
