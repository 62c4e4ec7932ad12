import { Controller, Get, Injectable, Res } from '@nestjs/common';
import type { HealthReport, ServiceName } from '@sg/contracts';
import { hostname } from 'node:os';
import { Metrics } from './metrics.js';

export type HealthCheck = () => Promise<{ ok: boolean; detail?: string }>;

export const SERVICE_NAME = Symbol('SERVICE_NAME');

/** Collects each dependency's check; NATS, Redis and Postgres register theirs. */
@Injectable()
export class HealthService {
  private readonly checks = new Map<string, HealthCheck>();
  private readonly started = Date.now();
  readonly instance = `${hostname()}:${process.pid}`;
  service: ServiceName = 'ingress';

  register(name: string, check: HealthCheck) {
    this.checks.set(name, check);
  }

  async report(): Promise<HealthReport> {
    const entries = await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        try {
          return [name, await withTimeout(check(), 1000)] as const;
        } catch (err) {
          return [name, { ok: false, detail: (err as Error).message }] as const;
        }
      }),
    );
    const dependencies = Object.fromEntries(entries);
    return {
      service: this.service,
      instance: this.instance,
      status: entries.every(([, s]) => s.ok) ? 'ok' : 'degraded',
      uptime_s: Math.round((Date.now() - this.started) / 1000),
      dependencies,
    };
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e) => (clearTimeout(timer), reject(e)),
    );
  });
}

interface ReplyLike {
  status(code: number): ReplyLike;
  header(name: string, value: string): ReplyLike;
  send(body: unknown): unknown;
}

@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthService,
    private readonly metrics: Metrics,
  ) {}

  /** Prometheus' text format, for a scraper on the health port (the public port on ingress). */
  @Get('metrics')
  async scrape(@Res() reply: ReplyLike) {
    const body = await this.metrics.registry.metrics();
    return reply.status(200).header('content-type', this.metrics.registry.contentType).send(body);
  }

  @Get('healthz')
  async healthz(@Res() reply: ReplyLike) {
    const report = await this.health.report();
    return reply.status(report.status === 'ok' ? 200 : 503).send(report);
  }
}
