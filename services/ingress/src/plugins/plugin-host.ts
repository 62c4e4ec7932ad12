import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import {
  DEFAULT_PLUGIN_SETTINGS,
  type GatewayFiles,
  PLUGIN_NAME_PATTERN,
  type PluginSettings,
} from '@sg/config';
import {
  type Decision,
  type PluginAnswer,
  pluginAnswerSchema,
  type PluginCall,
  type RuleTraceEntry,
} from '@sg/contracts';
import { ConfigSync, NatsBus } from '@sg/messaging';
import { LOGGER, type Logger, Metrics } from '@sg/runtime';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

const WORKER = new URL('./plugin-worker.js', import.meta.url);

interface Plugin {
  name: string;
  settings: PluginSettings;
  /** Local: the module's file URL with its content hash (a changed file is a new module). */
  url: string | null;
}

interface Running {
  worker: Worker;
  ready: Promise<void>;
  pending: Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>;
}

class PluginError extends Error {}

/**
 * The plugins (docs/plugins.md), run after policy allowed a call, in name order: local ES
 * modules of plugins/ each in its own worker thread (loaded once, loaded again when the file
 * changes), and remote ones on `gw.plugin.<name>.v1`. A plugin may deny the call, annotate it, or
 * do nothing. A crash, a timeout or a bad answer denies the call, unless the plugin is set to
 * `on_error: allow`; either way it is logged and counted.
 */
@Injectable()
export class PluginHost implements OnApplicationShutdown {
  private plugins: Plugin[] = [];
  private readonly running = new Map<string, Running>();
  private seq = 0;
  private readonly calls;

  constructor(
    config: ConfigSync,
    private readonly bus: NatsBus,
    @Inject(LOGGER) private readonly logger: Logger,
    metrics: Metrics,
  ) {
    this.calls = metrics.counter({
      name: 'sg_plugin_calls_total',
      help: 'Plugin calls by plugin and outcome (pass, deny, annotate, error)',
      labelNames: ['plugin', 'outcome'],
    });
    config.register((files) => {
      const next = discover(files);
      return () => this.swap(next);
    });
  }

  get active(): boolean {
    return this.plugins.length > 0;
  }

  onApplicationShutdown(): void {
    for (const name of [...this.running.keys()]) this.stop(name);
  }

  /**
   * The decision after the plugins: unchanged, annotated, or denied (`plugin:<name>` in
   * rule_trace and reasoning). Only an allowed decision is given to the plugins.
   */
  async apply(decision: Decision, call: PluginCall): Promise<Decision> {
    let annotations: Record<string, unknown> | undefined;
    const trace: RuleTraceEntry[] = [];
    for (const p of this.plugins) {
      let answer: PluginAnswer;
      try {
        answer = await this.ask(p, call);
      } catch (err) {
        const why = (err as Error).message.slice(0, 300);
        this.calls.inc({ plugin: p.name, outcome: 'error' });
        this.logger.error({ plugin: p.name, err: why, tool: call.tool }, `plugin ${p.name} failed`);
        if (p.settings.on_error === 'allow') {
          trace.push({
            check: `plugin:${p.name}`,
            outcome: 'pass',
            detail: `failed (${why}); on_error: allow`,
          });
          continue;
        }
        return denied(
          decision,
          [...trace, { check: `plugin:${p.name}`, outcome: 'fail', detail: why }],
          'POLICY.PLUGIN_FAILED',
          `Plugin ${p.name} failed (${why}), so the call is denied.`,
          annotations,
        );
      }
      if (answer?.deny) {
        this.calls.inc({ plugin: p.name, outcome: 'deny' });
        return denied(
          decision,
          [...trace, { check: `plugin:${p.name}`, outcome: 'fail', detail: answer.deny }],
          'POLICY.PLUGIN_DENIED',
          `Denied by plugin ${p.name}: ${answer.deny}`,
          annotations,
        );
      }
      if (answer?.annotate) {
        (annotations ??= {})[p.name] = answer.annotate;
        this.calls.inc({ plugin: p.name, outcome: 'annotate' });
      } else this.calls.inc({ plugin: p.name, outcome: 'pass' });
      trace.push({ check: `plugin:${p.name}`, outcome: 'pass' });
    }
    return {
      ...decision,
      rule_trace: [...decision.rule_trace, ...trace],
      ...(annotations ? { annotations } : {}),
    };
  }

  private async ask(p: Plugin, call: PluginCall): Promise<PluginAnswer> {
    const raw = p.url === null ? await this.askRemote(p, call) : await this.askLocal(p, call);
    const parsed = pluginAnswerSchema.safeParse(raw ?? null);
    if (!parsed.success)
      throw new PluginError(
        'it answered something other than null, {deny: "reason"} or {annotate: {...}}',
      );
    return parsed.data;
  }

  private async askRemote(p: Plugin, call: PluginCall): Promise<unknown> {
    let msg;
    try {
      msg = await this.bus.nc.request(
        this.bus.subject(`gw.plugin.${p.name}.v1`),
        JSON.stringify(call),
        {
          timeout: p.settings.timeout_ms,
        },
      );
    } catch (err) {
      throw new PluginError(`no answer on gw.plugin.${p.name}.v1 (${(err as Error).message})`);
    }
    try {
      return msg.json();
    } catch {
      throw new PluginError('its answer is not JSON');
    }
  }

  private async askLocal(p: Plugin, call: PluginCall): Promise<unknown> {
    const r = this.running.get(p.name) ?? this.start(p);
    const timeout = p.settings.timeout_ms;
    let timer: NodeJS.Timeout | undefined;
    const id = ++this.seq;
    try {
      return await new Promise((resolve, reject) => {
        timer = setTimeout(() => {
          // A stuck plugin cannot be interrupted: its worker goes, a new one starts next time.
          this.stop(p.name);
          reject(new PluginError(`no answer within ${timeout} ms`));
        }, timeout);
        r.ready.then(() => {
          r.pending.set(id, { resolve, reject });
          r.worker.postMessage({ id, ...call });
        }, reject);
      });
    } finally {
      clearTimeout(timer);
      r.pending.delete(id);
    }
  }

  private start(p: Plugin): Running {
    const worker = new Worker(WORKER, {
      workerData: { url: p.url },
      resourceLimits: { maxOldGenerationSizeMb: 128 },
      stdout: false,
      stderr: false,
    });
    const pending: Running['pending'] = new Map();
    let settle!: { resolve: () => void; reject: (e: Error) => void };
    const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    ready.catch(() => undefined);
    const r: Running = { worker, ready, pending };
    worker.on(
      'message',
      (m: { ready?: boolean; error?: string; id?: number; ok?: boolean; out?: unknown }) => {
        if (m.ready !== undefined) {
          if (m.ready) settle.resolve();
          else {
            settle.reject(new PluginError(`it cannot be loaded: ${m.error}`));
            this.stop(p.name);
          }
          return;
        }
        const waiting = pending.get(m.id!);
        if (!waiting) return;
        if (m.ok) waiting.resolve(m.out);
        else waiting.reject(new PluginError(`it threw: ${m.error}`));
      },
    );
    const gone = (why: string) => {
      settle.reject(new PluginError(why));
      for (const w of pending.values()) w.reject(new PluginError(why));
      pending.clear();
      if (this.running.get(p.name) === r) this.running.delete(p.name);
    };
    worker.on('error', (err) => gone(`it crashed: ${err.message}`));
    worker.on('exit', (code) => gone(`its worker exited (${code})`));
    this.running.set(p.name, r);
    return r;
  }

  private stop(name: string): void {
    const r = this.running.get(name);
    if (!r) return;
    this.running.delete(name);
    void r.worker.terminate();
  }

  /** A new set of plugins: workers of changed or removed plugins go; the others stay. */
  private swap(next: Plugin[]): void {
    const keep = new Set(next.map((p) => `${p.name}\u0000${p.url}`));
    for (const p of this.plugins) if (!keep.has(`${p.name}\u0000${p.url}`)) this.stop(p.name);
    this.plugins = next;
    if (next.length) this.logger.info({ plugins: next.map((p) => p.name) }, 'plugins loaded');
  }
}

function denied(
  d: Decision,
  trace: RuleTraceEntry[],
  code: 'POLICY.PLUGIN_DENIED' | 'POLICY.PLUGIN_FAILED',
  reason: string,
  annotations: Record<string, unknown> | undefined,
): Decision {
  return {
    ...d,
    allowed: false,
    code,
    reason,
    requires_approval: false,
    rule_trace: [...d.rule_trace, ...trace],
    reasoning: [...d.reasoning, reason],
    ...(annotations ? { annotations } : {}),
  };
}

/** plugins/*.mjs|.js of the config directory, and plugins.yaml's settings and remote plugins, in name order. */
function discover(files: GatewayFiles): Plugin[] {
  const settings = files.plugins?.plugins ?? {};
  const out = new Map<string, Plugin>();
  const dir = join(files.dir, 'plugins');
  if (existsSync(dir)) {
    for (const entry of readdirSync(dir).sort()) {
      const m = /^(.+)\.(mjs|js)$/.exec(entry);
      if (!m || !PLUGIN_NAME_PATTERN.test(m[1]!)) continue;
      const file = join(dir, entry);
      const hash = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16);
      const s = settings[m[1]!];
      if (s?.remote) continue;
      out.set(m[1]!, {
        name: m[1]!,
        settings: s ?? DEFAULT_PLUGIN_SETTINGS,
        url: `${pathToFileURL(file).href}?v=${hash}`,
      });
    }
  }
  for (const [name, s] of Object.entries(settings))
    if (s.remote) out.set(name, { name, settings: s, url: null });
  return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}
