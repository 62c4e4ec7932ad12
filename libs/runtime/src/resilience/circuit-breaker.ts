/** What one attempt meant for the upstream's health. */
export type Outcome = 'success' | 'failure' | 'neutral';

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerSettings {
  failure_threshold: number;
  reset_after_ms: number;
}

/**
 * A circuit breaker: opens after `failure_threshold` consecutive failures; while open, every
 * call is refused at once; after `reset_after_ms` it lets exactly one trial call through
 * (half-open). The trial's success closes it, its failure opens it again for another period.
 * A neutral outcome (the upstream was not judged, e.g. an SSRF refusal) changes nothing, but
 * frees the trial slot.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt: number | null = null;
  private trialInFlight = false;

  constructor(
    private readonly settings: BreakerSettings,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get state(): BreakerState {
    if (this.openedAt === null) return 'closed';
    return this.now() - this.openedAt >= this.settings.reset_after_ms ? 'half_open' : 'open';
  }

  /** Ms until an open breaker lets a trial through (0 when not open). */
  get retryAfterMs(): number {
    if (this.openedAt === null) return 0;
    return Math.max(0, Math.ceil(this.settings.reset_after_ms - (this.now() - this.openedAt)));
  }

  /**
   * Asks to make one call. A ticket: go ahead, and hand it back with record(). null: the
   * breaker is open (or half-open with its trial already in flight): do not call.
   */
  tryAcquire(): BreakerTicket | null {
    const state = this.state;
    if (state === 'closed') return { trial: false };
    if (state === 'open' || this.trialInFlight) return null;
    this.trialInFlight = true;
    return { trial: true };
  }

  record(ticket: BreakerTicket, outcome: Outcome): void {
    if (ticket.trial) this.trialInFlight = false;
    if (outcome === 'neutral') return;
    if (outcome === 'success') {
      this.failures = 0;
      this.openedAt = null;
      return;
    }
    this.failures += 1;
    if (
      ticket.trial ||
      this.openedAt !== null ||
      this.failures >= this.settings.failure_threshold
    ) {
      this.openedAt = this.now();
    }
  }
}

export interface BreakerTicket {
  /** The one half-open trial call. */
  readonly trial: boolean;
}
