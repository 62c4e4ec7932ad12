import type { Decision, ErrorCode, RuleTraceEntry, Violation } from '@sg/contracts';

/** Accumulates what each check found, so every decision carries its own explanation. */
export class Explanation {
  readonly trace: RuleTraceEntry[] = [];
  readonly reasoning: string[] = [];

  pass(check: string, sentence: string, rule?: string) {
    this.trace.push(rule ? { check, outcome: 'pass', rule } : { check, outcome: 'pass' });
    this.reasoning.push(sentence);
  }

  skip(check: string, detail: string) {
    this.trace.push({ check, outcome: 'skip', detail });
  }

  /** `reason` is the sentence of the check that granted the call (seed 001: "Allowed by allow_tools match"). */
  allow(version: string, riskScore: number, reason: string): Decision {
    return {
      allowed: true,
      code: null,
      reason,
      rule_trace: this.trace,
      reasoning: this.reasoning,
      suggestions: [],
      risk_score: riskScore,
      requires_approval: false,
      policy_version: version,
    };
  }

  deny(
    check: string,
    code: ErrorCode,
    reason: string,
    suggestions: string[],
    extra: {
      rule?: string;
      violations?: Violation[];
      retryAfterMs?: number;
      version: string;
      remaining: string[];
    },
  ): Decision {
    this.trace.push({
      check,
      outcome: 'fail',
      ...(extra.rule ? { rule: extra.rule } : {}),
      detail: reason,
    });
    for (const rest of extra.remaining)
      this.trace.push({ check: rest, outcome: 'skip', detail: `not evaluated: ${check} failed` });
    this.reasoning.push(reason);
    return {
      allowed: false,
      code,
      reason,
      rule_trace: this.trace,
      reasoning: this.reasoning,
      suggestions,
      risk_score: 0,
      requires_approval: false,
      policy_version: extra.version,
      ...(extra.violations ? { violations: extra.violations } : {}),
      ...(extra.retryAfterMs !== undefined ? { retry_after_ms: extra.retryAfterMs } : {}),
    };
  }
}
