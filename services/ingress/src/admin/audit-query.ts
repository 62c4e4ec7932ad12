import {
  ALERT_TYPES,
  ANALYTICS_MAX_DAYS,
  type AlertsQuery,
  type AuditStreamFilter,
  GatewayError,
  isEmptyTimeRange,
  policyKindSchema,
  PROJECT_ID_PATTERN,
  RECORD_STATUSES,
  type RecordFilter,
  type RecordsQuery,
  type RequestOf,
  TRACE_ID_PATTERN,
} from '@sg/contracts';
import { z } from 'zod';

type HistoryQuery = RequestOf<'gw.policy.history.v1'>;

/**
 * Query strings of the admin API (the audit, the policy history), parsed into the contracts'
 * requests. Strict on
 * purpose: an unknown or repeated parameter is an error, so a typo never silently widens an
 * audit query to everything.
 */

export interface ParamSpec {
  /** What a valid value looks like, for the error message. */
  expected: string;
  /**
   * The raw value's schema, which also turns it into the value the request takes (a number, a
   * boolean). The OpenAPI document is generated from it.
   */
  schema: z.ZodType<unknown, string>;
}

const MAX_LIMIT = 1000;
const isoDateTime = z.iso.datetime({ offset: true });
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** PostgreSQL text cannot hold U+0000, and the trail stores it as U+FFFD: such a filter could never match. */
export const validText = (v: string, max: number): boolean =>
  v.length <= max && !v.includes('\u0000');
const text = (max: number): ParamSpec => ({
  expected: `1-${max} characters, without U+0000`,
  schema: z
    .string()
    .max(max)
    .refine((v) => validText(v, max)),
});
export const oneOf = (values: readonly string[]): ParamSpec => ({
  expected: `one of ${values.join(', ')}`,
  schema: z.enum(values as [string, ...string[]]),
});
/** A whole number of at most `digits` digits, from `min` to `max`. */
export const wholeNumber = (
  digits: number,
  min: number,
  max: number,
  expected: string,
): ParamSpec => ({
  expected,
  schema: z
    .string()
    .regex(new RegExp(`^\\d{1,${digits}}$`))
    .transform(Number)
    .pipe(z.number().int().min(min).max(max)),
});
const flag = (expected: string): ParamSpec => ({
  expected,
  schema: z.enum(['true', 'false']).transform((v) => v === 'true'),
});

/** An ISO 8601 time with its zone, or a date (midnight UTC). Calendar-checked: no 30 February. */
function parseTime(raw: string): string | undefined {
  const value = DATE_ONLY.test(raw) ? `${raw}T00:00:00Z` : raw;
  if (!isoDateTime.safeParse(value).success) return undefined;
  const [y, m, d] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== m - 1 || day.getUTCDate() !== d)
    return undefined;
  return value;
}

const time: ParamSpec = {
  expected:
    'an ISO 8601 time with a zone, e.g. 2026-05-01T00:00:00Z (send a + offset as %2B), or a date, e.g. 2026-05-01 (midnight UTC)',
  schema: z
    .string()
    .refine((v) => parseTime(v) !== undefined)
    .transform((v) => parseTime(v)!),
};

const PARAMS = {
  project: {
    expected: '1-63 lower-case letters, digits, _ or -, starting with a letter or digit',
    schema: z.string().regex(PROJECT_ID_PATTERN),
  },
  trace_id: {
    expected: '8-64 letters, digits, _ or - (the trace_id of an answer)',
    schema: z.string().regex(TRACE_ID_PATTERN),
  },
  session_id: text(256),
  agent_id: text(256),
  tool: text(256),
  status: oneOf(RECORD_STATUSES),
  type: oneOf(ALERT_TYPES),
  kind: oneOf(policyKindSchema.options),
  from: time,
  to: time,
  cursor: {
    expected: 'the next_cursor of the previous page, unchanged',
    schema: z.string().max(512),
  },
  limit: wholeNumber(4, 1, MAX_LIMIT, `an integer from 1 to ${MAX_LIMIT}`),
  after_seq: wholeNumber(15, 0, Number.MAX_SAFE_INTEGER, 'a whole number, 0 or more'),
  bucket: oneOf(['hour', 'day']),
  min_denials: wholeNumber(7, 1, 1_000_000, 'an integer from 1 to 1000000'),
  include_dismissed: flag('true or false'),
  acknowledged: flag('true (only acknowledged alerts) or false (only those not acknowledged yet)'),
} satisfies Record<string, ParamSpec>;

type Name = keyof typeof PARAMS;
type Issue = { param: string; message: string };

const FILTERS = [
  'project',
  'trace_id',
  'session_id',
  'agent_id',
  'tool',
  'status',
  'from',
  'to',
] as const satisfies readonly Name[];

const STREAM_FILTERS = ['project', 'agent_id', 'tool', 'status'] as const satisfies readonly Name[];

/** The parameters one endpoint takes: the parser checks these, and the OpenAPI document shows them. */
export interface QueryParams {
  allowed: readonly Name[];
  required?: readonly Name[];
  /** What a parameter accepts on this endpoint instead of the shared rule (see parseParams). */
  specs?: Partial<Record<Name, ParamSpec>>;
}

/** The query strings of the admin API's endpoints. */
export const QUERIES = {
  records: { allowed: [...FILTERS, 'cursor', 'limit'] },
  export: { allowed: FILTERS },
  stream: { allowed: STREAM_FILTERS },
  alerts: { allowed: ['project', 'type', 'from', 'to', 'acknowledged', 'cursor', 'limit'] },
  verify: { allowed: ['project', 'cursor'], required: ['project'] },
  checkpoints: { allowed: ['project', 'after_seq'], required: ['project'] },
  session: { allowed: [] },
  history: { allowed: ['project', 'kind', 'cursor', 'limit'], required: ['project'] },
  summary: { allowed: ['project', 'from', 'to', 'bucket'], required: ['project'] },
  riskAgents: { allowed: ['project', 'from', 'to', 'bucket', 'agent_id'], required: ['project'] },
  suggest: {
    allowed: ['project', 'from', 'to', 'min_denials', 'include_dismissed'],
    required: ['project'],
  },
  shadow: { allowed: ['project', 'from', 'to'], required: ['project'] },
  riskSessions: { allowed: ['project', 'from', 'limit'], required: ['project'] },
} satisfies Record<string, QueryParams>;

/** A query string as a zod object of its raw (string) parameters, for the OpenAPI document. */
export function querySchemaOf(q: QueryParams): z.ZodObject {
  return z.strictObject(
    Object.fromEntries(
      q.allowed.map((name) => {
        const spec = q.specs?.[name] ?? PARAMS[name];
        const schema = spec.schema.meta({ description: spec.expected });
        return [name, q.required?.includes(name) ? schema : schema.optional()];
      }),
    ),
  );
}

/**
 * The parameters `allowed` for one endpoint, each given at most once and valid; `required`
 * ones present. Throws AUDIT.INVALID_QUERY naming every bad parameter and its expected form
 * (AUDIT.INVALID_CURSOR when the cursor alone is wrong). `specs` replaces what a parameter
 * accepts on one endpoint (the approvals' `status`, a smaller `limit`).
 */
export function parseParams(
  params: URLSearchParams,
  allowed: readonly Name[],
  required: readonly Name[] = [],
  none = 'this endpoint takes no query parameters',
  invalid: 'AUDIT.INVALID_QUERY' | 'ANALYTICS.INVALID_QUERY' = 'AUDIT.INVALID_QUERY',
  specs: Partial<Record<Name, ParamSpec>> = {},
): Partial<Record<Name, unknown>> {
  const issues: Issue[] = [];
  const out: Partial<Record<Name, unknown>> = {};
  for (const key of new Set(params.keys())) {
    if (!(allowed as readonly string[]).includes(key)) {
      const shown = JSON.stringify(key.slice(0, 64));
      issues.push({
        param: key.slice(0, 64),
        message: `unknown parameter ${shown}; ${allowed.length ? `use ${allowed.join(', ')}` : none}`,
      });
      continue;
    }
    const name = key as Name;
    const values = params.getAll(key);
    const spec: ParamSpec = specs[name] ?? PARAMS[name];
    if (values.length > 1) {
      issues.push({
        param: name,
        message: `${name} is given ${values.length} times; give it once`,
      });
    } else if (values[0] === '') {
      issues.push({
        param: name,
        message: `${name} is empty; give ${spec.expected}, or leave it out`,
      });
    } else {
      const parsed = spec.schema.safeParse(values[0]!);
      const value = parsed.success ? parsed.data : undefined;
      if (value === undefined)
        issues.push({
          param: name,
          message: `${name} must be ${spec.expected}; got ${JSON.stringify(values[0]!.slice(0, 64))}`,
        });
      else out[name] = value;
    }
  }
  for (const name of required) {
    if (!params.has(name))
      issues.push({
        param: name,
        message: `${name} is required: ${(specs[name] ?? PARAMS[name]).expected}`,
      });
  }
  if (
    isEmptyTimeRange({ from: out.from as string | undefined, to: out.to as string | undefined })
  ) {
    issues.push({ param: 'from', message: 'from must be earlier than to' });
  }
  if (issues.length > 0) {
    const code = issues.every((i) => i.param === 'cursor') ? 'AUDIT.INVALID_CURSOR' : invalid;
    throw new GatewayError(code, `invalid query: ${issues.map((i) => i.message).join('; ')}`, {
      issues,
    });
  }
  return out;
}

/** GET /api/audit/records */
export function parseRecordsQuery(params: URLSearchParams): RecordsQuery {
  const q = parseParams(params, QUERIES.records.allowed);
  return {
    ...(q as RecordFilter),
    ...(q.cursor !== undefined ? { cursor: q.cursor as string } : {}),
    limit: (q.limit as number | undefined) ?? 100,
  };
}

/** GET /api/audit/export: the records filters; the export pages by itself. */
export function parseExportQuery(params: URLSearchParams): RecordFilter {
  return parseParams(params, QUERIES.export.allowed) as RecordFilter;
}

/** GET /api/audit/stream: the filters a record can be matched on as it arrives. */
export function parseStreamQuery(params: URLSearchParams): AuditStreamFilter {
  return parseParams(params, QUERIES.stream.allowed) as AuditStreamFilter;
}

/** GET /api/alerts */
export function parseAlertsQuery(params: URLSearchParams): AlertsQuery {
  const q = parseParams(params, QUERIES.alerts.allowed);
  return { ...(q as Omit<AlertsQuery, 'limit'>), limit: (q.limit as number | undefined) ?? 100 };
}

/** GET /api/audit/verify */
export function parseVerifyQuery(params: URLSearchParams): { project: string; cursor?: string } {
  return parseParams(params, QUERIES.verify.allowed, QUERIES.verify.required) as {
    project: string;
    cursor?: string;
  };
}

/** GET /api/audit/checkpoints */
export function parseCheckpointsQuery(params: URLSearchParams): {
  project: string;
  after_seq: number;
} {
  const q = parseParams(params, QUERIES.checkpoints.allowed, QUERIES.checkpoints.required);
  return { project: q.project as string, after_seq: (q.after_seq as number | undefined) ?? 0 };
}

/** GET /api/session/:sid: the project is the X-Project-ID header, so no parameters. */
export function parseSessionQuery(params: URLSearchParams): void {
  parseParams(
    params,
    QUERIES.session.allowed,
    [],
    'this endpoint takes none: the project is the X-Project-ID header',
  );
}

/** GET /api/policy/history */
export function parseHistoryQuery(params: URLSearchParams): HistoryQuery {
  const q = parseParams(params, QUERIES.history.allowed, QUERIES.history.required);
  return {
    project: q.project as string,
    ...(q.kind !== undefined ? { kind: q.kind as HistoryQuery['kind'] } : {}),
    ...(q.cursor !== undefined ? { cursor: q.cursor as string } : {}),
    limit: Math.min((q.limit as number | undefined) ?? 50, 200),
  };
}

/** The window of an analytics question: [from, to), by default the 30 days up to now. */
function windowOf(
  q: Partial<Record<Name, unknown>>,
  defaultDays = 30,
): { from: string; to: string } {
  const to = (q.to as string | undefined) ?? new Date().toISOString();
  const from =
    (q.from as string | undefined) ??
    new Date(Date.parse(to) - defaultDays * 86_400_000).toISOString();
  if (Date.parse(from) >= Date.parse(to))
    throw new GatewayError('ANALYTICS.INVALID_QUERY', 'from must be earlier than to');
  if (Date.parse(to) - Date.parse(from) > ANALYTICS_MAX_DAYS * 86_400_000)
    throw new GatewayError(
      'ANALYTICS.INVALID_QUERY',
      `the window spans more than ${ANALYTICS_MAX_DAYS} days; ask for a shorter one`,
    );
  return { from, to };
}

const analytics = (params: URLSearchParams, q: QueryParams) =>
  parseParams(params, q.allowed, q.required, undefined, 'ANALYTICS.INVALID_QUERY');

/** Most days a question by the hour may span: hourly rows are 24 times as many. */
export const HOURLY_MAX_DAYS = 7;

/** The bucket asked for, day by default; hours only over a window of HOURLY_MAX_DAYS. */
function bucketOf(q: Partial<Record<Name, unknown>>, window: { from: string; to: string }) {
  const bucket = (q.bucket as 'hour' | 'day' | undefined) ?? 'day';
  if (
    bucket === 'hour' &&
    Date.parse(window.to) - Date.parse(window.from) > HOURLY_MAX_DAYS * 86_400_000
  )
    throw new GatewayError(
      'ANALYTICS.INVALID_QUERY',
      `bucket=hour covers at most ${HOURLY_MAX_DAYS} days; ask for a shorter window, or bucket=day`,
    );
  return bucket;
}

/** GET /api/analytics/summary */
export function parseSummaryQuery(params: URLSearchParams) {
  const q = analytics(params, QUERIES.summary);
  const window = windowOf(q, q.bucket === 'hour' ? 1 : 30);
  return { project: q.project as string, ...window, bucket: bucketOf(q, window) };
}

/** GET /api/risk/agents */
export function parseRiskTrendQuery(params: URLSearchParams) {
  const q = analytics(params, QUERIES.riskAgents);
  const window = windowOf(q, q.bucket === 'hour' ? 1 : 30);
  return {
    project: q.project as string,
    ...window,
    bucket: bucketOf(q, window),
    ...(q.agent_id !== undefined ? { agent_id: agentIdOf(q.agent_id as string) } : {}),
  };
}

/** An agent id as the contracts take it (1-128 characters). */
function agentIdOf(v: string): string {
  if (v.length > 128)
    throw new GatewayError('ANALYTICS.INVALID_QUERY', 'agent_id must be 1-128 characters');
  return v;
}

/** GET /api/policy/suggest */
export function parseSuggestQuery(params: URLSearchParams) {
  const q = analytics(params, QUERIES.suggest);
  return {
    project: q.project as string,
    ...windowOf(q),
    include_dismissed: (q.include_dismissed as boolean | undefined) ?? false,
    ...(q.min_denials !== undefined ? { min_denials: q.min_denials as number } : {}),
  };
}

/** GET /api/shadow/report */
export function parseShadowReportQuery(params: URLSearchParams) {
  const q = analytics(params, QUERIES.shadow);
  return { project: q.project as string, ...windowOf(q) };
}

/** GET /api/risk/sessions: sessions active since `from` (by default the last 7 days). */
export function parseRiskSessionsQuery(params: URLSearchParams) {
  const q = analytics(params, QUERIES.riskSessions);
  return {
    project: q.project as string,
    from: (q.from as string | undefined) ?? new Date(Date.now() - 7 * 86_400_000).toISOString(),
    limit: (q.limit as number | undefined) ?? 20,
  };
}

/** The raw query string of a URL, so that a repeated parameter is seen as repeated. */
export function searchParams(url: string): URLSearchParams {
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}
