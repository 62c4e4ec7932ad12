import { Injectable } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  collectDefaultMetrics,
  Counter,
  type CounterConfiguration,
  Gauge,
  type GaugeConfiguration,
  Histogram,
  type HistogramConfiguration,
  Registry,
} from 'prom-client';
import type { HealthService } from './health.js';

/** Latency buckets in seconds, from half a millisecond to ten seconds. */
export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * The process's Prometheus registry, served at GET /metrics on the service's HTTP port, with
 * Node's default metrics. Each metric is made once, by the provider that owns what it counts;
 * names carry the `sg_` prefix and no label takes unbounded values (no trace or session ids).
 */
@Injectable()
export class Metrics {
  readonly registry = new Registry();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** The counter of this name: made on the first call, the same one after (providers made per module share it). */
  counter<L extends string>(config: CounterConfiguration<L>): Counter<L> {
    return (
      this.existing<Counter<L>>(config.name) ??
      new Counter({ ...config, registers: [this.registry] })
    );
  }

  gauge<L extends string>(config: GaugeConfiguration<L>): Gauge<L> {
    return (
      this.existing<Gauge<L>>(config.name) ?? new Gauge({ ...config, registers: [this.registry] })
    );
  }

  histogram<L extends string>(config: HistogramConfiguration<L>): Histogram<L> {
    return (
      this.existing<Histogram<L>>(config.name) ??
      new Histogram({ buckets: LATENCY_BUCKETS, ...config, registers: [this.registry] })
    );
  }

  private existing<M>(name: string): M | undefined {
    return this.registry.getSingleMetric(name) as M | undefined;
  }
}

/**
 * Counts and times every HTTP answer by route pattern (never the raw URL: a path parameter
 * would make a label of unbounded values), method and status.
 */
export function recordHttpMetrics(app: NestFastifyApplication, metrics: Metrics): void {
  const answers = metrics.counter({
    name: 'sg_http_requests_total',
    help: 'HTTP answers, by route pattern, method and status',
    labelNames: ['route', 'method', 'status'],
  });
  const latency = metrics.histogram({
    name: 'sg_http_request_duration_seconds',
    help: 'Time from the request to the end of its answer, by route pattern and method',
    labelNames: ['route', 'method'],
  });
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onResponse', (req, reply, done) => {
      const route = req.routeOptions.url ?? 'unmatched';
      answers.inc({ route, method: req.method, status: reply.statusCode });
      latency.observe({ route, method: req.method }, reply.elapsedTime / 1000);
      done();
    });
}

/** sg_dependency_up{dependency}: each health check's state, read when Prometheus scrapes. */
export function recordDependencyHealth(metrics: Metrics, health: HealthService): void {
  metrics.gauge({
    name: 'sg_dependency_up',
    help: 'Whether a dependency (nats, redis, postgres, ...) passes its health check: 1 or 0',
    labelNames: ['dependency'],
    async collect() {
      const report = await health.report();
      for (const [dependency, state] of Object.entries(report.dependencies))
        this.set({ dependency }, state.ok ? 1 : 0);
    },
  });
}
