import { z } from 'zod';
import { argumentsSchema, idSchema, projectIdSchema } from '../common.js';
import { errorCodeSchema } from '../errors.js';
import { POLICY_YAML_MAX_BYTES } from '../policy/versions.js';

/**
 * The analytics service's questions (docs/analytics.md): aggregates, rule suggestions,
 * simulation, the shadow report and risk. Every window is [from, to).
 */
const time = z.iso.datetime({ offset: true });
const windowSchema = z.object({ project: projectIdSchema, from: time, to: time });

/** Most days one aggregate question may span. */
export const ANALYTICS_MAX_DAYS = 400;

/** ingress → analytics: calls by outcome and code, top tools, agents and users, denial reasons, limits, risk. */
export const ANALYTICS_SUMMARY_SUBJECT = 'gw.analytics.summary.v1';
export const summaryQuerySchema = windowSchema.extend({
  bucket: z.enum(['hour', 'day']).default('day'),
});
const countSchema = z.object({ calls: z.number().int() });
/**
 * A call duration percentile (toolcall.completed's duration_ms), in ms: the upper bound of the
 * histogram bucket that holds it (never below it, at most 5.6 % above); null without calls.
 */
const percentileSchema = z.number().nonnegative().nullable();
export const summarySchema = z.object({
  project: z.string(),
  from: z.string(),
  to: z.string(),
  bucket: z.enum(['hour', 'day']),
  totals: z.object({
    calls: z.number().int(),
    allowed: z.number().int(),
    pending_approval: z.number().int(),
    denied: z.number().int(),
    rejected: z.number().int(),
    error: z.number().int(),
    first_seen: z.string().nullable(),
    last_seen: z.string().nullable(),
  }),
  series: z.array(
    z.object({
      at: z.string(),
      calls: z.number().int(),
      denied: z.number().int(),
      p50_ms: percentileSchema,
      p99_ms: percentileSchema,
    }),
  ),
  by_code: z.array(countSchema.extend({ code: z.string() })),
  by_tool: z.array(
    countSchema.extend({
      tool: z.string(),
      denied: z.number().int(),
      first_seen: z.string(),
      last_seen: z.string(),
    }),
  ),
  by_agent: z.array(
    countSchema.extend({
      agent_id: z.string(),
      denied: z.number().int(),
      avg_risk: z.number(),
      max_risk: z.number(),
    }),
  ),
  by_user: z.array(countSchema.extend({ user_id: z.string(), denied: z.number().int() })),
  denial_reasons: z.array(
    countSchema.extend({
      code: z.string(),
      check: z.string(),
      rule: z.string(),
      tool: z.string(),
      agent_id: z.string(),
      example_reason: z.string(),
    }),
  ),
  rate_limits: z.array(
    z.object({
      agent_id: z.string(),
      scope: z.string(),
      limit: z.number().int(),
      window_s: z.number().int(),
      peak_used: z.number().int(),
      hits: z.number().int(),
    }),
  ),
  /** Calls by risk score: bucket i holds scores in [i/10, (i+1)/10), 1.0 in the last. */
  risk_histogram: z.array(z.number().int()).length(10),
  /** The durations of the window's calls: `count` is every call (totals.calls). */
  latency: z.object({
    p50_ms: percentileSchema,
    p99_ms: percentileSchema,
    count: z.number().int(),
  }),
  took_ms: z.number(),
});

export const SUGGESTION_KINDS = [
  'repeated_denials',
  'unused_permission',
  'candidate_grant',
  'rate_limit_hotspot',
  'rate_limit_unused',
  'shadow_difference',
] as const;
export const suggestionKindSchema = z.enum(SUGGESTION_KINDS);

export const suggestionSchema = z.object({
  /** Stable for the same kind, subject and change: a dismissed id stays dismissed until its change differs. */
  id: z.string(),
  kind: suggestionKindSchema,
  title: z.string(),
  reason: z.string(),
  change: z.object({
    /** The file it changes, e.g. `policies/default.yaml`. */
    file: z.string(),
    /** The YAML: for policies, a snippet merged as /api/propose_policy merges it. */
    yaml: z.string(),
    /** The body of POST /api/propose_policy (X-Project-ID: the project); null when the file is not a policy file. */
    proposal: z
      .object({ model_id: z.string(), yaml: z.string(), justification: z.string() })
      .nullable(),
    /** How to apply it. */
    apply: z.string(),
  }),
  evidence: z.object({
    from: z.string(),
    to: z.string(),
    counts: z.record(z.string(), z.number()),
    /** Up to five example calls. */
    trace_ids: z.array(z.string()).max(5),
  }),
  /** 0..1: how sure the analysis is, from the amount and the consistency of the evidence. */
  confidence: z.number().min(0).max(1),
  dismissed: z.object({ by: z.string(), why: z.string(), at: z.string() }).nullable(),
});
export type Suggestion = z.infer<typeof suggestionSchema>;

/** ingress → analytics: GET /api/policy/suggest. */
export const ANALYTICS_SUGGEST_SUBJECT = 'gw.analytics.suggest.v1';
export const suggestQuerySchema = windowSchema.extend({
  /** More denials than this of one tool for one agent suggest an explicit deny (seed 000: 5). */
  min_denials: z.number().int().min(1).max(1_000_000).optional(),
  include_dismissed: z.boolean().default(false),
});
export const suggestionsSchema = z.object({
  project: z.string(),
  /** The window analysed; grants younger than `from` are not called unused. */
  window: z.object({ from: z.string(), to: z.string(), days: z.number() }),
  thresholds: z.record(z.string(), z.number()),
  /** What the analysis could not do this time, and why. */
  notes: z.array(z.string()),
  suggestions: z.array(suggestionSchema),
  took_ms: z.number(),
});

/** ingress → analytics: dismiss one suggestion (who and why are kept). */
export const ANALYTICS_DISMISS_SUBJECT = 'gw.analytics.dismiss.v1';
export const dismissRequestSchema = z.object({
  project: projectIdSchema,
  id: z.string().regex(/^[a-f0-9]{24}$/),
  by: z.string().min(1).max(128),
  why: z.string().min(1).max(1000),
});
export const dismissedSchema = z.object({
  id: z.string(),
  by: z.string(),
  why: z.string(),
  at: z.string(),
});

/** Most recorded calls one simulation replays. */
export const SIMULATE_MAX_CALLS = 10_000;
/** Most calls a trace in the body may hold. */
export const SIMULATE_MAX_TRACE_CALLS = 1_000;

/** What to simulate against: the live policy, a stored version, or a candidate policy file. */
export const simulateAgainstSchema = z.union([
  z.object({ live: z.literal(true) }),
  z.object({ version_id: z.uuid() }),
  z.object({ policy_yaml: z.string().min(1).max(POLICY_YAML_MAX_BYTES) }),
]);

/** ingress → analytics: POST /api/simulate, its body parsed. */
export const ANALYTICS_SIMULATE_SUBJECT = 'gw.analytics.simulate.v1';
export const simulateRequestSchema = z.object({
  project: projectIdSchema,
  source: z.discriminatedUnion('kind', [
    z.object({
      kind: z.literal('trace'),
      model_id: idSchema,
      session_id: idSchema,
      user_id: idSchema.optional(),
      tool_calls: z
        .array(z.object({ tool: z.string().min(1).max(256), input: argumentsSchema }))
        .min(1)
        .max(SIMULATE_MAX_TRACE_CALLS),
    }),
    z.object({ kind: z.literal('session'), session_id: idSchema }),
    z.object({
      kind: z.literal('window'),
      from: time,
      to: time,
      limit: z.number().int().min(1).max(SIMULATE_MAX_CALLS),
    }),
  ]),
  against: simulateAgainstSchema,
});
export type SimulateRequest = z.infer<typeof simulateRequestSchema>;

const verdictSchema = z.object({
  allowed: z.boolean(),
  code: errorCodeSchema.nullable(),
  requires_approval: z.boolean(),
});
export const simulatedCallSchema = z.object({
  index: z.number().int(),
  trace_id: z.string().nullable(),
  at: z.string(),
  agent_id: z.string(),
  session_id: z.string(),
  tool: z.string(),
  /** What the gateway decided when the call was made; null for a trace given in the body. */
  recorded: verdictSchema.extend({ outcome: z.string() }).nullable(),
  simulated: verdictSchema.extend({
    reason: z.string(),
    risk_score: z.number(),
    /** The rule that decided (the failed check's, or the allow rule). */
    rule: z.string().nullable(),
    check: z.string().nullable(),
  }),
  /** none, or e.g. `allow→deny`, `deny→allow`, `code`, `approval`. */
  difference: z.enum(['none', 'allow→deny', 'deny→allow', 'code', 'approval']),
});
export const simulationSchema = z.object({
  project: z.string(),
  against: z.object({
    kind: z.enum(['live', 'version', 'candidate']),
    /** The config version (live), or the stored version id. */
    version: z.string(),
  }),
  calls: z.array(simulatedCallSchema),
  summary: z.object({
    calls: z.number().int(),
    /** Calls that had a recorded decision to compare with. */
    compared: z.number().int(),
    changed: z.number().int(),
    allow_to_deny: z.number().int(),
    deny_to_allow: z.number().int(),
    code_changed: z.number().int(),
    approval_changed: z.number().int(),
    simulated_allowed: z.number().int(),
    simulated_denied: z.number().int(),
  }),
  /** The window held more calls than `limit`: the oldest `limit` were replayed. */
  truncated: z.boolean(),
  /**
   * Calls left out of `calls` so the answer fits in one message (the summary counts them):
   * unchanged calls are left out first, changed ones only when those alone do not fit.
   */
  omitted: z.number().int(),
  took_ms: z.number(),
});
export type Simulation = z.infer<typeof simulationSchema>;

/** ingress → analytics: GET /api/shadow/report. */
export const ANALYTICS_SHADOW_REPORT_SUBJECT = 'gw.analytics.shadow_report.v1';
export const shadowReportQuerySchema = windowSchema;
export const shadowReportSchema = z.object({
  project: z.string(),
  from: z.string(),
  to: z.string(),
  evaluated: z.number().int(),
  differing: z.number().int(),
  /** Share of evaluated calls the preview decided as live did; null when none were evaluated. */
  agreement_rate: z.number().nullable(),
  by_rule: z.array(z.object({ rule: z.string(), differing: z.number().int() })),
  by_tool: z.array(
    z.object({
      tool: z.string(),
      evaluated: z.number().int(),
      differing: z.number().int(),
      allow_to_deny: z.number().int(),
      deny_to_allow: z.number().int(),
    }),
  ),
  examples: z.array(
    z.object({
      trace_id: z.string(),
      tool: z.string(),
      agent_id: z.string(),
      live: z.string(),
      shadow: z.string(),
      rule: z.string(),
    }),
  ),
  took_ms: z.number(),
});

/** ingress → analytics: GET /api/risk/sessions. */
export const ANALYTICS_RISK_SESSIONS_SUBJECT = 'gw.analytics.risk_sessions.v1';
export const riskSessionsQuerySchema = z.object({
  project: projectIdSchema,
  from: time,
  limit: z.number().int().min(1).max(1000).default(20),
});
export const riskSessionsSchema = z.object({
  project: z.string(),
  from: z.string(),
  sessions: z.array(
    z.object({
      session_id: z.string(),
      agent_id: z.string(),
      first_seen: z.string(),
      last_seen: z.string(),
      calls: z.number().int(),
      denials: z.number().int(),
      max_risk: z.number(),
      last_risk: z.number(),
      /** Why its risk was highest: the session_risk check's factors at that call. */
      factors: z.array(z.string()),
      trace_id: z.string(),
    }),
  ),
  took_ms: z.number(),
});

/** ingress → analytics: GET /api/risk/agents (the per-agent trend). */
export const ANALYTICS_RISK_TREND_SUBJECT = 'gw.analytics.risk_trend.v1';
export const riskTrendQuerySchema = windowSchema.extend({
  agent_id: idSchema.optional(),
  bucket: z.enum(['hour', 'day']).default('day'),
});
export const riskTrendSchema = z.object({
  project: z.string(),
  from: z.string(),
  to: z.string(),
  bucket: z.enum(['hour', 'day']),
  agents: z.array(
    z.object({
      agent_id: z.string(),
      points: z.array(
        z.object({
          at: z.string(),
          calls: z.number().int(),
          avg_risk: z.number(),
          max_risk: z.number(),
        }),
      ),
      /** Change of the average risk from the first to the last point; null with one point. */
      trend: z.number().nullable(),
    }),
  ),
  took_ms: z.number(),
});
