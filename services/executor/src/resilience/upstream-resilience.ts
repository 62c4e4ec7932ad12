import { Inject, Injectable, Optional } from '@nestjs/common';
import { GatewayError } from '@sg/contracts';
import {
  type FailureClass,
  Metrics,
  Resilience,
  type ResilienceOptions,
  type ResilienceProfile,
} from '@sg/runtime';

const RETRYABLE_STATUS = new Set([502, 503, 504]);

/**
 * Upstream failures as the executor reports them: timeouts, unreachable upstreams and 5xx
 * answers are failures (4xx and other upstream errors mean the upstream is up); only
 * timeouts, unreachable and 502/503/504 are worth a retry. Refusals made before any
 * connection (SSRF, secrets) judge nothing.
 */
export function classifyFailure(err: unknown): FailureClass {
  if (!(err instanceof GatewayError)) return { outcome: 'failure', retryable: false };
  switch (err.code) {
    case 'EXECUTOR.UPSTREAM_TIMEOUT':
    case 'EXECUTOR.UPSTREAM_UNREACHABLE':
      return { outcome: 'failure', retryable: true };
    case 'EXECUTOR.UPSTREAM_ERROR': {
      const status = (err.details as { upstream_status?: number } | undefined)?.upstream_status;
      if (status === undefined) return { outcome: 'success', retryable: false };
      if (status >= 500) return { outcome: 'failure', retryable: RETRYABLE_STATUS.has(status) };
      return { outcome: 'success', retryable: false };
    }
    default:
      return { outcome: 'neutral', retryable: false };
  }
}

/** A tool's upstream: EXECUTOR.* errors, `upstream <tool>` spans, sg_upstream_* metrics. */
export const UPSTREAM_PROFILE: ResilienceProfile = {
  span: 'upstream',
  label: 'tool',
  metricPrefix: 'sg_upstream',
  timeout: (tool, ms, slots) =>
    new GatewayError(
      'EXECUTOR.UPSTREAM_TIMEOUT',
      slots === undefined
        ? `${tool}'s upstream did not answer within ${ms} ms`
        : `${tool}'s upstream did not answer within ${ms} ms (all ${slots} call slots stayed busy)`,
    ),
  circuitOpen: (tool, retryAfterMs) =>
    new GatewayError(
      'EXECUTOR.CIRCUIT_OPEN',
      `${tool}'s upstream failed repeatedly; calls are paused for ${retryAfterMs} ms`,
      { retry_after_ms: retryAfterMs },
    ),
  classify: classifyFailure,
};

/** Nest token of optional ResilienceOptions. */
export const RESILIENCE_OPTIONS = Symbol('RESILIENCE_OPTIONS');

/** The executor's Resilience: per tool, with the upstream profile (libs/runtime resilience). */
@Injectable()
export class UpstreamResilience extends Resilience {
  constructor(
    @Optional() @Inject(RESILIENCE_OPTIONS) options: ResilienceOptions | null = null,
    @Optional() metrics?: Metrics,
  ) {
    super(UPSTREAM_PROFILE, options, metrics);
  }
}
