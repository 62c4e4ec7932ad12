// The analytics service over a month of recorded calls (issue 14 §6): how long the backfill of
// 1,000,000 recorded calls takes, and how long each question takes over them — the 30-day
// summary (which must answer in under 200 ms without reading audit_events), the rule
// suggestions, a simulation of the largest bounded window against the live policy and against a
// candidate, the shadow report and the risk questions.
//
// In one run, on this machine, it:
//   1. makes a temporary copy of examples/config with 36 tools (the example's two and 34 more),
//      20 agents (`agent-00` … `agent-19`), each with a key scoped to 7 tools and a rule allowing
//      6 of them, the agent limit at 600 calls a minute and the user limit at 1,000 an hour, and
//      an analyst of admins.yaml with a random key; and a candidate policy that takes one tool
//      from every agent and gives another to half of them;
//   2. starts the policy, executor, audit and federation services in isolation, as
//      bench/gateway.mjs runs a gateway (its own ports, NATS subject prefix and so JetStream
//      stream, Redis key prefix, database schema), and waits for the audit service's tables;
//   3. writes BENCH_ANALYTICS_CALLS `gw.evt.toolcall.completed.v1` rows (1,000,000) straight into
//      audit_events, spread evenly over the last 30 days, with INSERT … SELECT FROM
//      generate_series in chunks, each chunk appended to the project's chain under the audit
//      service's own chain lock (so the running audit service can keep appending after them);
//      one call in BENCH_ANALYTICS_SHADOW_EVERY (20) also gets its `gw.evt.shadow.evaluated.v1`
//      row (the candidate's decision beside the live one). The decisions are the policy engine's
//      own (`evaluate` on the copy's compiled files, once per agent and tool, as templates), the
//      session state each call's risk score depends on is computed in SQL as the Redis script
//      keeps it. Then ANALYZE;
//   4. starts the analytics service, which on its first start backfills its aggregates from
//      audit_events, and times it until analytics_state says the backfill is done;
//   5. starts the ingress (its /health then needs all six services), and asks each question
//      BENCH_ANALYTICS_RUNS (5) times, in rounds: the aggregate questions (summary by day over 30
//      days and by hour over 7, suggestions, shadow report, risk sessions, risk by agent) on the tables as the
//      backfill leaves them (it ends with ANALYZE), then again after an ANALYZE of our own (a
//      check that the backfill's was enough), with the scans of audit_events PostgreSQL counts
//      meanwhile (they must stay 0; the audit service's periodic chain check, which reads it, is
//      pushed past the run); then the simulation of the last 24 hours, at most 10,000 calls (the
//      largest window) and 1,000, against the live policy and against the candidate;
//   6. prints a table, writes bench/results/analytics-<timestamp>.json, and removes everything it
//      created (processes, stream, Redis keys, schema, temporary config), also on failure.
//
// Why the services start in three steps: startStack() resolves once the ingress's /health
// reports every service healthy, analytics included, so a stack without analytics but with the
// ingress would never be ready; and stopping analytics after a full start would be too late,
// since its first start already backfills (from an empty audit_events) and records the backfill
// as done, so a second start would not backfill the rows written after. Started without the
// ingress, startStack() does not wait for anything (this script waits for the audit tables and
// then for the backfill itself); the ingress comes last, with the same environment.
//
// Settings (environment): BENCH_ANALYTICS_CALLS (1000000), BENCH_ANALYTICS_RUNS (5),
// BENCH_ANALYTICS_SHADOW_EVERY (20), BENCH_ANALYTICS_CHUNK (65536 rows per INSERT, a multiple of
// 128), BENCH_ANALYTICS_BACKFILL_TIMEOUT_S (900), BENCH_ANALYTICS_KEEP_SCHEMA (1: the schema
// is left for a look with psql, and its name printed). NATS_URL, REDIS_URL and DATABASE_URL as
// for the services.
// Exit codes: 0 valid run, 1 invalid (a question not answered 200, a count that does not add up,
// a service that exited, a backfill that did not finish), 2 bad setting, 130 interrupted.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadGatewayFiles } from '@sg/config';
import { httpStatusOf } from '@sg/contracts';
import pg from 'pg';
import { parseDocument, stringify } from 'yaml';
import { evaluate, isWriteTool } from '../libs/policy-engine/dist/decision/engine.js';
import { compileCandidate } from '../libs/policy-engine/dist/registry/candidate.js';
import { compileProjects } from '../libs/policy-engine/dist/registry/compile.js';
import { compileRegistry } from '../libs/policy-engine/dist/registry/tool-registry.js';
import { canonicalJson } from '../libs/runtime/dist/canonical.js';
import { AGGREGATE_TABLES } from '../services/analytics/dist/store/tables.js';
import { startStack } from '../scripts/stack.mjs';
import {
  benchIsolation,
  cleanUp,
  copyExampleConfig,
  DATABASE_URL,
  describeMachine,
  displayPath,
  distinctFreePorts,
  editYaml,
  fmt,
  gitInfo,
  isolationCleanup,
  loadAverage,
  machineInfo,
  NATS_URL,
  onInterrupt,
  REDIS_URL,
  resultsFile,
  round,
  runMain,
  runThenCleanUp,
  serversReachable,
  serviceLogger,
  setting,
  sleep,
  table,
  warnIfBusy,
  writeResults,
} from './lib.mjs';

// ---------------------------------------------------------------------------------------------
// Settings

for (const arg of process.argv.slice(2)) {
  if (arg === '--help' || arg === '-h') {
    console.log(
      'usage: node bench/analytics.mjs   (settings in the environment: see bench/README.md)',
    );
    process.exit(0);
  }
  console.error(`✗ unknown argument ${JSON.stringify(arg)}; usage: node bench/analytics.mjs`);
  process.exit(2);
}

const CALLS = setting('BENCH_ANALYTICS_CALLS', 1_000_000);
const RUNS = setting('BENCH_ANALYTICS_RUNS', 5);
const SHADOW_EVERY = setting('BENCH_ANALYTICS_SHADOW_EVERY', 20);
const BACKFILL_TIMEOUT_S = setting('BENCH_ANALYTICS_BACKFILL_TIMEOUT_S', 900);
// Keeps the run's schema (audit_events and the aggregates) for a look with psql afterwards.
const KEEP_SCHEMA = process.env.BENCH_ANALYTICS_KEEP_SCHEMA === '1';
// Sessions come in blocks of 128 rows (16 sessions of 8 calls, interleaved): a chunk holds whole
// blocks, so that each session's state is computed within one INSERT.
const BLOCK = 128;
const SESSIONS_PER_BLOCK = 16;
const CHUNK = Math.max(BLOCK, Math.round(setting('BENCH_ANALYTICS_CHUNK', 65_536) / BLOCK) * BLOCK);

const PROJECT = 'default';
const DAY_MS = 86_400_000;
const WINDOW_DAYS = 30;
const AGENTS = 20;
const USERS = 5; // user-1 … user-5; one session in six names none
const RATE_LIMITED_PER_MILLE = 30;
const AGENT_LIMIT = { limit: 600, window_s: 60 };
const USER_LIMIT = { limit: 1000, window_s: 3600 };
const SIMULATE_LIMIT = 10_000; // SIMULATE_MAX_CALLS: the largest window a simulation replays
const SIMULATE_SMALL_LIMIT = 1_000;
const REQUEST_TIMEOUT_MS = 120_000;
// PostgreSQL's statistics of a backend reach pg_stat_* at most every second, and an idle
// backend's pending ones within 10 s (PGSTAT_IDLE_INTERVAL): wait that long before reading them.
const STATS_SETTLE_MS = 11_000;

const ADMIN_NAME = 'bench-analyst';
const ADMIN_KEY = `bench-${randomBytes(16).toString('hex')}`;

// The registry of the copy: the example's two tools, 34 more, and 4 names no file registers.
const EXTRA_TOOLS = [
  'calendar.get_event',
  'calendar.create_event',
  'calendar.delete_event',
  'crm.get_contact',
  'crm.search_contacts',
  'crm.update_contact',
  'crm.create_note',
  'docs.search',
  'docs.read_page',
  'docs.create_page',
  'tickets.list',
  'tickets.get',
  'tickets.create',
  'tickets.update',
  'tickets.comment',
  'files.list',
  'files.read',
  'files.upload',
  'files.delete',
  'search.web',
  'search.news',
  'weather.forecast',
  'maps.geocode',
  'maps.directions',
  'billing.get_invoice',
  'billing.list_invoices',
  'billing.refund',
  'hr.lookup_employee',
  'chat.post_message',
  'chat.list_channels',
  'reports.run',
  'reports.export_csv',
  'kb.search',
  'translate.text',
];
const REGISTERED = ['calendar.list_events', 'db.write_sensitive', ...EXTRA_TOOLS];
const UNREGISTERED = [
  'shell.exec',
  'legacy.export_all',
  'admin.reset_password',
  'payments.transfer',
];
const ARGUMENTS = {
  'calendar.list_events': { calendar_id: 'primary', limit: 20 },
  'db.write_sensitive': { table: 'notes', record: { id: 42, text: 'follow up' } },
};
const GENERIC_ARGUMENTS = { query: 'status of the quarterly report', limit: 10 };
// Each agent's 8 tools (slots), with the share of its calls (per mille) each gets: slots 0–5
// are allowed, 6 is in the key's scope but no rule allows it (allow_tools), 7 is outside the
// key's scope (key_scope) for odd agents and an unregistered name for even ones (tool_registry).
const SLOT_WEIGHTS = [250, 200, 150, 120, 100, 60, 60, 60];

let interrupted = false;

const agentName = (a) => `agent-${String(a).padStart(2, '0')}`;

/** The tools of agent `a`, by slot. */
function toolsOf(a) {
  const slots = Array.from(
    { length: 7 },
    (_, j) => REGISTERED[(a * 5 + j * 7) % REGISTERED.length],
  );
  slots.push(
    a % 2 === 0
      ? UNREGISTERED[(a / 2) % UNREGISTERED.length]
      : REGISTERED[(a * 5 + 7 * 7) % REGISTERED.length],
  );
  return slots;
}

// ---------------------------------------------------------------------------------------------
// The configuration

/** The copy of examples/config, and the candidate policy's YAML. */
function prepareConfig() {
  const { dir, configDir } = copyExampleConfig('sg-bench-analytics-', (policy) => {
    policy.setIn(['rate_limits', 'agent'], policy.createNode(AGENT_LIMIT));
    policy.setIn(['rate_limits', 'user'], policy.createNode(USER_LIMIT));
    for (let a = 0; a < AGENTS; a++)
      policy.addIn(
        ['rules'],
        policy.createNode({ model: agentName(a), allow_tools: toolsOf(a).slice(0, 6) }),
      );
  });
  const generic = JSON.parse(
    readFileSync(join(configDir, 'tools/calendar.list_events.json'), 'utf8'),
  );
  for (const name of EXTRA_TOOLS) {
    const tool = {
      name,
      description: `${name} (benchmark)`,
      input_schema: {
        type: 'object',
        properties: {
          query: { type: 'string', maxLength: 200 },
          limit: { type: 'integer', minimum: 1, maximum: 100 },
        },
      },
      upstream: { ...generic.upstream, url: `http://127.0.0.1:9/tools/${name}` },
    };
    writeFileSync(join(configDir, 'tools', `${name}.json`), `${JSON.stringify(tool, null, 2)}\n`);
  }
  editYaml(join(configDir, 'model_keys/default.yaml'), (keys) => {
    for (let a = 0; a < AGENTS; a++)
      keys.setIn(
        ['models', agentName(a)],
        keys.createNode({
          key: `bench-${agentName(a)}-${randomBytes(8).toString('hex')}`,
          tools: toolsOf(a).slice(0, 7),
        }),
      );
  });
  writeFileSync(
    join(configDir, 'admins.yaml'),
    stringify({
      admins: {
        [ADMIN_NAME]: {
          key_sha256: createHash('sha256').update(ADMIN_KEY).digest('hex'),
          roles: ['analyst'],
        },
      },
    }),
  );
  // The candidate: every agent loses slot 5, the even agents gain slot 6.
  const doc = parseDocument(readFileSync(join(configDir, 'policies/default.yaml'), 'utf8'));
  const rules = doc.get('rules');
  for (let a = 0; a < AGENTS; a++) {
    const rule = rules.items.find((r) => r.get('model') === agentName(a));
    const tools = toolsOf(a);
    rule.set(
      'allow_tools',
      doc.createNode(a % 2 === 0 ? [...tools.slice(0, 5), tools[6]] : tools.slice(0, 5)),
    );
  }
  return { dir, configDir, candidateYaml: doc.toString() };
}

// ---------------------------------------------------------------------------------------------
// The recorded calls: one template per agent and slot, filled in by SQL

const ph = (name) => `@@${name}@@`;

/**
 * Per agent and slot: the tool, its share of the calls, whether it is a write tool, and the
 * `data` of its toolcall.completed and shadow.evaluated events (canonical JSON, as the audit
 * service stores it) with placeholders for what differs from call to call.
 */
function templates(configDir, candidateYaml) {
  const files = loadGatewayFiles(configDir);
  const registry = compileRegistry(files.tools, configDir);
  const { live, keys } = compileProjects(files);
  // As the analytics service compiles a candidate for a simulation.
  const compiled = compileCandidate(files, PROJECT, 'policies', candidateYaml);
  if (!compiled.policy)
    throw new Error(`the candidate policy does not compile: ${JSON.stringify(compiled.problems)}`);
  const candidate = compiled.policy;
  const policy = live.get(PROJECT);
  const projectKeys = keys.get(PROJECT);
  const risk = policy.contextual.risk;
  const version = files.version;

  const decide = (target, agent, tool, limited) => {
    const d = evaluate({
      req: {
        project: PROJECT,
        agent_id: agent,
        session_id: 'template',
        request_id: 'template',
        channel: 'rest',
        tool,
        arguments: ARGUMENTS[tool] ?? GENERIC_ARGUMENTS,
      },
      tool: registry.get(tool),
      policy: target,
      keys: projectKeys,
      limits: limited
        ? { kind: 'limited', scope: 'agent', ...AGENT_LIMIT, retryAfterMs: 30_000 }
        : { kind: 'ok', used: [{ scope: 'agent', used: 1, ...AGENT_LIMIT }] },
      session: { calls: 1, writes: 0, denials: 0, history: [] },
      now: new Date(),
      version,
    });
    if (d.requires_approval) throw new Error(`a template of ${tool} requires approval`);
    d.reasoning = d.reasoning.map((r) =>
      r.startsWith('Rate limits: ')
        ? ph('RATE')
        : r.startsWith('Session score: ')
          ? ph('SESSION')
          : r,
    );
    d.risk_score = ph('RISK');
    return d;
  };

  const pairs = [];
  for (let a = 0; a < AGENTS; a++) {
    const agent = agentName(a);
    let lo = 0;
    toolsOf(a).forEach((tool, slot) => {
      const hi = lo + SLOT_WEIGHTS[slot];
      const variants = {};
      for (const limited of [false, true]) {
        const d = decide(policy, agent, tool, limited);
        const s = decide(candidate, agent, tool, limited);
        const httpStatus = d.allowed ? 200 : httpStatusOf(d.code);
        const call = {
          channel: 'rest',
          agent_id: agent,
          agent_version: '1.0.0',
          user_id: ph('UID'),
          session_id: ph('SID'),
          request_id: ph('RID'),
          tool,
          arguments: ARGUMENTS[tool] ?? GENERIC_ARGUMENTS,
          outcome: d.allowed ? 'allowed' : 'denied',
          http_status: httpStatus,
          code: d.code,
          risk_score: ph('RISK'),
          duration_ms: ph('DUR'),
          decision: d,
          ...(d.allowed
            ? {
                execution: {
                  status: 'ok',
                  duration_ms: ph('DUR'),
                  upstream_status: 200,
                  error_code: null,
                  result_bytes: 412,
                },
              }
            : {}),
        };
        const verdict = (x) => ({
          allowed: x.allowed,
          code: x.code,
          requires_approval: x.requires_approval,
        });
        const shadow = {
          agent_id: agent,
          session_id: ph('SID'),
          request_id: ph('RID'),
          tool,
          live: verdict(d),
          shadow: {
            ...verdict(s),
            reason: s.reason,
            risk_score: ph('RISK'),
            rule_trace: s.rule_trace,
          },
          differs:
            d.allowed !== s.allowed ||
            d.code !== s.code ||
            d.requires_approval !== s.requires_approval,
        };
        variants[limited ? 'limited' : 'normal'] = {
          denied: !d.allowed,
          code: d.code,
          source: d.allowed ? 'executor' : 'ingress',
          call: canonicalJson(call).replaceAll(`"${ph('RISK')}"`, ph('RISKN')),
          shadow: canonicalJson(shadow).replaceAll(`"${ph('RISK')}"`, ph('RISKN')),
        };
      }
      pairs.push({
        agent: a,
        lo,
        hi,
        tool,
        is_write: isWriteTool(tool, registry.get(tool)),
        denied: variants.normal.denied,
        code: variants.normal.code,
        source: variants.normal.source,
        call_tpl: variants.normal.call,
        limited_tpl: variants.limited.call,
        shadow_tpl: variants.normal.shadow,
        shadow_limited_tpl: variants.limited.shadow,
      });
      lo = hi;
    });
  }
  return { pairs, risk, version };
}

/**
 * One chunk of calls [lo, hi) (and their shadow rows), appended to the project's chain after
 * `$5` (the head): the call's session (16 interleaved sessions of 8 calls in each block of 128
 * rows), agent and user (by session), slot (by call), whether a rate limit refused it, the
 * session state the risk score reads (calls so far, write tools so far, denials before), and the
 * template filled in.
 */
function chunkSql(risk) {
  const w = risk.weights;
  const num = (x) => Number(x).toString();
  return `
WITH base AS (
  SELECT n, (n / ${BLOCK}) * ${SESSIONS_PER_BLOCK} + n % ${SESSIONS_PER_BLOCK} AS s,
    (n % ${BLOCK}) / ${SESSIONS_PER_BLOCK} AS k
  FROM generate_series($1::bigint, $2::bigint - 1) AS n
), drawn AS (
  SELECT n, s, k,
    (hashint8extended(s, 1) & 9223372036854775807) % ${AGENTS} AS agent,
    (hashint8extended(s, 2) & 9223372036854775807) % ${USERS + 1} AS usr,
    (hashint8extended(n, 3) & 9223372036854775807) % 1000 AS r,
    (hashint8extended(n, 4) & 9223372036854775807) % 1000 < ${RATE_LIMITED_PER_MILLE} AS limited,
    (hashint8extended(n, 5) & 9223372036854775807) AS h
  FROM base
), calls AS (
  SELECT d.n, d.s, d.k, d.usr, d.limited, d.h, p.id AS pair, p.is_write,
    (d.limited OR p.denied) AS was_denied
  FROM drawn d JOIN bench_pairs p ON p.agent = d.agent AND d.r >= p.lo AND d.r < p.hi
), stated AS (
  SELECT c.*,
    count(*) FILTER (WHERE c.is_write) OVER (PARTITION BY c.s ORDER BY c.k
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS writes,
    count(*) FILTER (WHERE c.was_denied) OVER (PARTITION BY c.s ORDER BY c.k
      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS denials
  FROM calls c
), scored AS (
  SELECT st.*, least(1::numeric,
      CASE WHEN st.k + 1 > ${risk.many_calls_after} THEN ${num(w.many_calls)} ELSE 0 END
      + CASE WHEN st.writes > 0 THEN ${num(w.write_tool)} ELSE 0 END
      + CASE WHEN st.denials > 0 THEN ${num(w.prior_denial)} ELSE 0 END)::numeric AS risk,
    array_to_string(ARRAY[
      CASE WHEN st.k + 1 > ${risk.many_calls_after} THEN (st.k + 1) || ' calls in the session' END,
      CASE WHEN st.writes > 0 THEN 'a write tool was used in the session' END,
      CASE WHEN st.denials > 0 THEN st.denials || ' earlier denial(s) in the session' END
    ], '; ') AS factors
  FROM stated st
), filled AS (
  SELECT sc.*,
    'Rate limits: agent ' || (1 + sc.h % 4) || '/${AGENT_LIMIT.limit} per ${AGENT_LIMIT.window_s} s'
      || CASE WHEN sc.usr > 0 THEN ', user ' || (1 + sc.h % 300) || '/${USER_LIMIT.limit} per ${USER_LIMIT.window_s} s' ELSE '' END
      || '.' AS rate,
    'Session score: ' || CASE WHEN sc.risk < 0.3 THEN 'low' WHEN sc.risk < 0.6 THEN 'medium' ELSE 'high' END
      || ' risk (' || to_char(sc.risk, 'FM0.00') || ')'
      || CASE WHEN sc.factors <> '' THEN ': ' || sc.factors ELSE '' END || '.' AS session
  FROM scored sc
), events AS (
  SELECT n, 0 AS ord, true AS shadow, pair, limited, s, usr, risk, rate, session, h
  FROM filled WHERE n % $6 = 0
  UNION ALL
  SELECT n, 1, false, pair, limited, s, usr, risk, rate, session, h FROM filled
), numbered AS (
  -- The templates (kilobytes each) joined last, so that the sorts above carry none of them.
  SELECT e.*, $5::bigint + row_number() OVER (ORDER BY e.n, e.ord) AS seq FROM events e
), templated AS (
  SELECT nb.*,
    CASE WHEN nb.shadow THEN 'gw.evt.shadow.evaluated.v1' ELSE 'gw.evt.toolcall.completed.v1' END AS subject,
    CASE WHEN nb.shadow THEN 'policy' WHEN nb.limited OR p.denied THEN 'ingress' ELSE 'executor' END AS source,
    CASE WHEN nb.shadow AND nb.limited THEN p.shadow_limited_tpl WHEN nb.shadow THEN p.shadow_tpl
      WHEN nb.limited THEN p.limited_tpl ELSE p.call_tpl END AS tpl
  FROM numbered nb JOIN bench_pairs p ON p.id = nb.pair
), ins AS (
  INSERT INTO audit_events (project, chain_seq, event_id, subject, source, trace_id, occurred_at,
    stream_seq, data, stored_at, prev_hash, hash)
  SELECT '${PROJECT}', seq, gen_random_uuid(), subject, source, 'bench-' || n,
    $3::timestamptz + make_interval(secs => n * $4::float8), seq,
    replace(replace(replace(replace(replace(replace(replace(tpl,
      '@@SID@@', 'sess-' || s),
      '@@RID@@', 'req-' || n),
      '"@@UID@@"', CASE WHEN usr = 0 THEN 'null' ELSE '"user-' || usr || '"' END),
      '@@RISKN@@', (risk::float8)::text),
      '@@RATE@@', rate),
      '@@SESSION@@', session),
      '"@@DUR@@"', (2 + h % 40)::text)::json,
    now(), 'bench:' || (seq - 1), 'bench:' || seq
  FROM templated
  RETURNING chain_seq, subject
)
SELECT max(chain_seq)::text AS last, count(*) FILTER (WHERE subject = 'gw.evt.toolcall.completed.v1')::int AS calls,
  count(*) FILTER (WHERE subject = 'gw.evt.shadow.evaluated.v1')::int AS shadows
FROM ins`;
}

/** The chain lock the audit service takes (event-store.ts CHAIN_LOCKS), for one project. */
const CHAIN_LOCK = `SELECT pg_advisory_xact_lock(hashtextextended('audit_chain:' || $1::text, 0))`;

/** Writes the recorded calls; resolves with what it wrote and how long it took. */
async function insertCalls(db, { pairs, risk }) {
  await db.query(`CREATE TEMP TABLE bench_pairs (
    id int PRIMARY KEY, agent int, lo int, hi int, tool text, is_write boolean, denied boolean, code text, source text,
    call_tpl text, limited_tpl text, shadow_tpl text, shadow_limited_tpl text)`);
  const cols = [
    'id',
    'agent',
    'lo',
    'hi',
    'tool',
    'is_write',
    'denied',
    'code',
    'source',
    'call_tpl',
    'limited_tpl',
    'shadow_tpl',
    'shadow_limited_tpl',
  ];
  const types = [
    'int',
    'int',
    'int',
    'int',
    'text',
    'boolean',
    'boolean',
    'text',
    'text',
    'text',
    'text',
    'text',
    'text',
  ];
  await db.query(
    `INSERT INTO bench_pairs (${cols.join(', ')}) SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})`,
    cols.map((c) => pairs.map((p, i) => (c === 'id' ? i : p[c]))),
  );
  // This session only: the run's own rows need no synchronous flush of each commit.
  await db.query('SET synchronous_commit = off');
  await db.query(`SET work_mem = '64MB'`);

  const sql = chunkSql(risk);
  const now = Date.now();
  const t0 = new Date(now - WINDOW_DAYS * DAY_MS);
  // The newest call a minute ago: every call inside "the last 30 days" when the questions come.
  const stepS = (WINDOW_DAYS * DAY_MS - 60_000) / CALLS / 1000;
  const started = performance.now();
  let calls = 0;
  let shadows = 0;
  let lastReport = started;
  for (let lo = 0; lo < CALLS && !interrupted; lo += CHUNK) {
    const hi = Math.min(CALLS, lo + CHUNK);
    await db.query('BEGIN');
    try {
      await db.query(CHAIN_LOCK, [PROJECT]);
      const head = await db.query(
        'SELECT chain_seq::text AS seq FROM audit_chain_heads WHERE project = $1',
        [PROJECT],
      );
      const r = await db.query(sql, [
        lo,
        hi,
        t0.toISOString(),
        stepS,
        head.rows[0]?.seq ?? '0',
        SHADOW_EVERY,
      ]);
      const last = r.rows[0].last;
      await db.query(
        `INSERT INTO audit_chain_heads (project, chain_seq, hash, updated_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (project) DO UPDATE SET chain_seq = EXCLUDED.chain_seq, hash = EXCLUDED.hash,
           updated_at = EXCLUDED.updated_at`,
        [PROJECT, last, `bench:${last}`],
      );
      await db.query('COMMIT');
      calls += r.rows[0].calls;
      shadows += r.rows[0].shadows;
    } catch (err) {
      await db.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    if (performance.now() - lastReport > 10_000 || hi === CALLS) {
      lastReport = performance.now();
      const s = (lastReport - started) / 1000;
      process.stderr.write(
        `… inserted ${calls.toLocaleString('en-US')} calls (+${shadows.toLocaleString('en-US')} shadow rows) in ${s.toFixed(1)} s (${Math.round((calls + shadows) / s).toLocaleString('en-US')} rows/s)\n`,
      );
    }
  }
  const seconds = (performance.now() - started) / 1000;
  return { calls, shadows, seconds, first_call_at: t0.toISOString(), step_s: stepS };
}

// ---------------------------------------------------------------------------------------------
// Waiting

/** Resolves once `probe()` is truthy (with its value); fails on timeout or a service's exit. */
async function waitFor(what, probe, { timeoutMs, stacks, every = 250 }) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (interrupted) throw new Error('interrupted');
    for (const stack of stacks)
      for (const e of stack.exits)
        throw new Error(
          `service ${e.name} exited (${e.code ?? e.signal}) while waiting for ${what}`,
        );
    const value = await probe().catch(() => null);
    if (value) return value;
    if (performance.now() > deadline)
      throw new Error(`${what}: not within ${Math.round(timeoutMs / 1000)} s`);
    await sleep(every);
  }
}

/**
 * The audit_events counters of PostgreSQL's statistics: scans of the table, and per index. The
 * table is partitioned (migration 0006) and the parent holds no rows and no counters: each is the
 * sum over its partitions, an index's under the name of the parent index it belongs to.
 */
async function auditScans(db, schema) {
  await db.query('SELECT pg_stat_clear_snapshot()');
  const partitions = `SELECT inhrelid FROM pg_inherits
     WHERE inhparent = to_regclass(format('%I.audit_events', $1::text))`;
  const t = await db.query(
    `SELECT sum(seq_scan)::int AS seq_scan, sum(coalesce(idx_scan, 0))::int AS idx_scan
       FROM pg_stat_user_tables WHERE schemaname = $1 AND relid IN (${partitions})`,
    [schema],
  );
  const i = await db.query(
    `SELECT coalesce(parent.relname, s.indexrelname) AS name, sum(s.idx_scan)::int AS n
       FROM pg_stat_user_indexes s
       LEFT JOIN pg_inherits pi ON pi.inhrelid = s.indexrelid
       LEFT JOIN pg_class parent ON parent.oid = pi.inhparent
      WHERE s.schemaname = $1 AND s.relid IN (${partitions})
      GROUP BY 1`,
    [schema],
  );
  return {
    ...(t.rows[0] ?? { seq_scan: null, idx_scan: null }),
    indexes: Object.fromEntries(i.rows.map((r) => [r.name, r.n])),
  };
}

// ---------------------------------------------------------------------------------------------
// The questions

function questions(candidateYaml) {
  const now = Date.now();
  const from30 = new Date(now - WINDOW_DAYS * DAY_MS).toISOString();
  const to = new Date(now).toISOString();
  const from24h = new Date(now - DAY_MS).toISOString();
  const window30 = `project=${PROJECT}&from=${encodeURIComponent(from30)}&to=${encodeURIComponent(to)}`;
  // Hourly buckets cover at most 7 days (the API refuses more).
  const from7 = new Date(now - 7 * DAY_MS).toISOString();
  const window7 = `project=${PROJECT}&from=${encodeURIComponent(from7)}&to=${encodeURIComponent(to)}`;
  const simulateBody = { project: PROJECT, from: from24h, to };
  const aggregate = [
    {
      key: 'summary_day',
      label: 'summary, 30 d (daily)',
      path: `/api/analytics/summary?${window30}`,
      describe: (b) =>
        `${b.totals.calls.toLocaleString('en-US')} calls, ${b.totals.denied.toLocaleString('en-US')} denied, p50 ${b.latency.p50_ms} ms, p99 ${b.latency.p99_ms} ms, ${b.series.length} days`,
    },
    {
      key: 'summary_hour',
      label: 'summary, 7 d (hourly)',
      path: `/api/analytics/summary?${window7}&bucket=hour`,
      describe: (b) =>
        `${b.totals.calls.toLocaleString('en-US')} calls, p99 ${b.latency.p99_ms} ms, ${b.series.length} hours`,
    },
    {
      key: 'suggest',
      label: 'suggest, 30 d',
      path: `/api/policy/suggest?${window30}`,
      describe: (b) => {
        const kinds = {};
        for (const s of b.suggestions) kinds[s.kind] = (kinds[s.kind] ?? 0) + 1;
        return `${b.suggestions.length} suggestions (${Object.entries(kinds)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')})${b.notes.length ? `; ${b.notes.length} note(s)` : ''}`;
      },
    },
    {
      key: 'shadow_report',
      label: 'shadow report, 30 d',
      path: `/api/shadow/report?${window30}`,
      describe: (b) =>
        `${b.evaluated.toLocaleString('en-US')} evaluated, ${b.differing.toLocaleString('en-US')} differing`,
    },
    {
      key: 'risk_sessions',
      label: 'risk sessions (7 d, top 20)',
      path: `/api/risk/sessions?project=${PROJECT}`,
      describe: (b) =>
        `${b.sessions.length} sessions, top risk ${b.sessions[0]?.max_risk ?? 'n/a'}`,
    },
    {
      key: 'risk_agents',
      label: 'risk by agent, 30 d',
      path: `/api/risk/agents?${window30}`,
      describe: (b) => `${b.agents.length} agents`,
    },
  ];
  const simSummary = (b) =>
    `${b.summary.calls.toLocaleString('en-US')} replayed${b.truncated ? ' (truncated)' : ''}: ${b.summary.changed} changed (allow→deny ${b.summary.allow_to_deny}, deny→allow ${b.summary.deny_to_allow}, code ${b.summary.code_changed}, approval ${b.summary.approval_changed})`;
  // The largest window a simulation replays (SIMULATE_MAX_CALLS), and one a tenth of it.
  const simulations = [SIMULATE_LIMIT, SIMULATE_SMALL_LIMIT].flatMap((limit) => {
    const body = { ...simulateBody, limit };
    const n = limit.toLocaleString('en-US');
    return [
      {
        key: limit === SIMULATE_LIMIT ? 'simulate_live' : 'simulate_live_small',
        label: `simulate 24 h, limit ${n}, live`,
        path: '/api/simulate',
        body,
        describe: simSummary,
      },
      {
        key: limit === SIMULATE_LIMIT ? 'simulate_candidate' : 'simulate_candidate_small',
        label: `simulate 24 h, limit ${n}, candidate`,
        path: '/api/simulate',
        body: { ...body, policy_yaml: candidateYaml },
        describe: simSummary,
      },
    ];
  });
  return { aggregate, simulations, window: { from30, from24h, to } };
}

/** One request: wall time (request sent to the whole answer read), status and parsed body. */
async function ask(base, q) {
  const started = performance.now();
  let status;
  let text;
  try {
    const res = await fetch(`${base}${q.path}`, {
      method: q.body ? 'POST' : 'GET',
      headers: {
        'x-admin-key': ADMIN_KEY,
        ...(q.body ? { 'content-type': 'application/json' } : {}),
      },
      body: q.body ? JSON.stringify(q.body) : undefined,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    status = res.status;
    text = await res.text();
  } catch (err) {
    return { ms: performance.now() - started, status: null, error: err.message };
  }
  const ms = performance.now() - started;
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    /* reported below */
  }
  return { ms, status, body, text: status === 200 ? undefined : text.slice(0, 1000) };
}

/** Asks each question RUNS times, in rounds; returns per question its times and last answer. */
async function askInRounds(base, qs) {
  const out = Object.fromEntries(
    qs.map((q) => [q.key, { q, runs: [], last: null, failure: null }]),
  );
  for (let round = 0; round < RUNS && !interrupted; round++) {
    for (const q of qs) {
      const r = await ask(base, q);
      const o = out[q.key];
      o.runs.push({ ms: r.ms, status: r.status, took_ms: r.body?.took_ms ?? null });
      if (r.status !== 200 || !r.body) {
        o.failure ??= `${q.label}: ${r.status === null ? r.error : `HTTP ${r.status}`} ${r.text ?? ''}`;
      } else {
        o.last = r.body;
      }
    }
    process.stderr.write(`… round ${round + 1}/${RUNS} of ${qs.map((q) => q.key).join(', ')}\n`);
  }
  return out;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function summarizeQuestion(o) {
  const ms = o.runs.map((r) => r.ms);
  const took = o.runs.map((r) => r.took_ms).filter((t) => typeof t === 'number');
  let result = null;
  if (o.last) {
    try {
      result = o.q.describe(o.last);
    } catch (err) {
      result = `unreadable answer: ${err.message}`;
    }
  }
  return {
    label: o.q.label,
    path: o.q.path,
    runs: o.runs.length,
    ok: o.runs.filter((r) => r.status === 200).length,
    first_ms: round(ms[0] ?? null, 1),
    median_ms: round(median(ms), 1),
    max_ms: round(ms.length ? Math.max(...ms) : null, 1),
    took_ms: o.runs.map((r) => r.took_ms),
    took_ms_median: took.length ? median(took) : null,
    result,
    failure: o.failure,
  };
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  if (!(await serversReachable())) return 1;
  const machine = machineInfo();
  warnIfBusy(machine);
  const isolation = benchIsolation();
  const [ingressPort, federationPort] = await distinctFreePorts(2);
  const resources = { stacks: [], db: null, tmpDir: null };
  onInterrupt(() => (interrupted = true));
  return runThenCleanUp(
    () => measure({ machine, isolation, ports: { ingressPort, federationPort }, resources }),
    () =>
      cleanUp([
        resources.db && ['close the PostgreSQL connection', () => resources.db.end()],
        // The ingress first, the others after, as `npm start` stops them.
        ...[...resources.stacks].reverse().map((s) => [`stop ${s.name}`, () => s.stack.stop()]),
        ...isolationCleanup(isolation, resources.tmpDir).filter(
          (step) => !(KEEP_SCHEMA && step?.[0]?.startsWith('drop schema')),
        ),
        KEEP_SCHEMA && [
          'say which schema was kept',
          async () =>
            process.stderr.write(
              `! kept schema ${isolation.schema} (BENCH_ANALYTICS_KEEP_SCHEMA=1): DROP SCHEMA "${isolation.schema}" CASCADE when done\n`,
            ),
        ],
      ]),
    () => interrupted,
  );
}

async function measure({ machine, isolation, ports, resources }) {
  const startedAt = performance.now();
  const serviceLog = serviceLogger();
  const failures = [];

  const { dir, configDir, candidateYaml } = prepareConfig();
  resources.tmpDir = dir;
  const tpl = templates(configDir, candidateYaml);

  const env = {
    NODE_ENV: 'production',
    PORT: String(ports.ingressPort),
    HOST: '127.0.0.1',
    HEALTH_PORT: '0',
    FEDERATION_PORT: String(ports.federationPort),
    CONFIG_DIR: configDir,
    SUBJECT_PREFIX: isolation.subjectPrefix,
    REDIS_PREFIX: isolation.redisPrefix,
    DATABASE_SCHEMA: isolation.schema,
    NATS_URL,
    REDIS_URL,
    DATABASE_URL,
    LOG_LEVEL: 'warn',
    LOG_PRETTY: 'false',
    // The audit service's periodic chain check reads audit_events (by its primary key) every
    // minute: pushed past the run, so that the scans counted around the questions are theirs.
    AUDIT_CHECKPOINT_MS: String(DAY_MS),
  };
  const start = async (name, services, readyTimeoutMs = 60_000) => {
    const stack = await startStack({
      env,
      services,
      upstream: false,
      readyTimeoutMs,
      output: serviceLog.output,
    });
    resources.stacks.push({ name, stack });
    return stack;
  };
  const stacks = () => resources.stacks.map((s) => s.stack);

  // 1. Everything but analytics and the ingress: startStack() returns at once without the ingress.
  process.stderr.write(
    `… starting policy, executor, audit, federation (prefix ${isolation.runTag})\n`,
  );
  await start('policy, executor, audit, federation', ['policy', 'executor', 'audit', 'federation']);
  const db = new pg.Client({
    connectionString: DATABASE_URL,
    options: `-c search_path=${isolation.schema}`,
  });
  resources.db = db;
  await db.connect();
  await waitFor(
    'the audit service creating its tables',
    async () =>
      (
        await db.query(`SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AS ok`, [
          `${isolation.schema}.audit_events`,
          `${isolation.schema}.audit_chain_heads`,
        ])
      ).rows[0].ok,
    { timeoutMs: 60_000, stacks: stacks() },
  );
  if (interrupted) return 130;

  // 2. The recorded calls.
  process.stderr.write(
    `… inserting ${CALLS.toLocaleString('en-US')} calls over ${WINDOW_DAYS} days into ${isolation.schema}.audit_events (chunks of ${CHUNK.toLocaleString('en-US')})\n`,
  );
  const inserted = await insertCalls(db, tpl);
  if (interrupted) return 130;
  const analyzeStarted = performance.now();
  await db.query('ANALYZE audit_events');
  const analyzeS = (performance.now() - analyzeStarted) / 1000;
  const size = (
    await db.query(
      `SELECT pg_total_relation_size('audit_events')::bigint AS total, pg_relation_size('audit_events')::bigint AS heap`,
    )
  ).rows[0];

  // 3. The backfill.
  process.stderr.write('… starting analytics: backfill from audit_events\n');
  const backfillStarted = performance.now();
  await start('analytics', ['analytics']);
  let lastProgress = performance.now();
  const backfill = await waitFor(
    'the analytics backfill',
    async () => {
      const r = await db.query(`SELECT value FROM analytics_state WHERE key = 'backfill'`);
      const v = r.rows[0]?.value;
      if (v && performance.now() - lastProgress > 15_000) {
        lastProgress = performance.now();
        process.stderr.write(
          `… backfill: ${v.rows.toLocaleString('en-US')} events counted after ${((lastProgress - backfillStarted) / 1000).toFixed(0)} s\n`,
        );
      }
      return v?.done ? v : null;
    },
    { timeoutMs: BACKFILL_TIMEOUT_S * 1000, stacks: stacks(), every: 200 },
  );
  const backfillS = (performance.now() - backfillStarted) / 1000;
  const backfillDoneAt = performance.now();
  process.stderr.write(
    `… backfill done: ${backfill.rows.toLocaleString('en-US')} events in ${backfillS.toFixed(1)} s\n`,
  );
  const aggregates = Object.fromEntries(
    (
      await db.query(
        `SELECT 'calls_hourly' AS t, count(*)::int AS n FROM analytics_calls_hourly
         UNION ALL SELECT 'calls_daily', count(*)::int FROM analytics_calls_daily
         UNION ALL SELECT 'latency_hourly', count(*)::int FROM analytics_latency_hourly
         UNION ALL SELECT 'latency_daily', count(*)::int FROM analytics_latency_daily
         UNION ALL SELECT 'denials', count(*)::int FROM analytics_denials
         UNION ALL SELECT 'grants', count(*)::int FROM analytics_grants
         UNION ALL SELECT 'limits', count(*)::int FROM analytics_limits
         UNION ALL SELECT 'risk', count(*)::int FROM analytics_risk
         UNION ALL SELECT 'sessions', count(*)::int FROM analytics_sessions
         UNION ALL SELECT 'shadow', count(*)::int FROM analytics_shadow
         UNION ALL SELECT 'events', count(*)::int FROM analytics_events`,
      )
    ).rows.map((r) => [r.t, r.n]),
  );

  // 4. The ingress, once every service answers its health check.
  process.stderr.write('… starting the ingress\n');
  const ingress = await start('ingress', ['ingress']);
  const base = ingress.url;
  if (interrupted) return 130;

  // 5. The questions: the aggregate ones first, with audit_events' scan counters around them.
  const qs = questions(candidateYaml);
  await sleep(Math.max(0, STATS_SETTLE_MS - (performance.now() - backfillDoneAt)));
  // The aggregate questions twice: on the tables as the backfill leaves them (no statistics:
  // nothing ANALYZEs them until autovacuum does, and autovacuum may be off), then after ANALYZE.
  const autovacuum = (await db.query('SHOW autovacuum')).rows[0].autovacuum;
  const analyzedStats = (
    await db.query(
      `SELECT count(*) FILTER (WHERE last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)::int AS n
       FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = ANY($2)`,
      [isolation.schema, AGGREGATE_TABLES],
    )
  ).rows[0].n;
  const scansBefore = await auditScans(db, isolation.schema);
  const aggregateAnswers = await askInRounds(base, qs.aggregate);
  if (interrupted) return 130;
  const analyzeAggregatesStarted = performance.now();
  await db.query(`ANALYZE ${AGGREGATE_TABLES.join(', ')}`);
  const analyzeAggregatesS = (performance.now() - analyzeAggregatesStarted) / 1000;
  const analyzedAnswers = await askInRounds(
    base,
    qs.aggregate.map((q) => ({ ...q, key: `${q.key}_analyzed`, label: `${q.label}, analyzed` })),
  );
  if (interrupted) return 130;
  await sleep(STATS_SETTLE_MS);
  const scansAfter = await auditScans(db, isolation.schema);
  const simulationAnswers = await askInRounds(base, qs.simulations);
  if (interrupted) return 130;
  const loadAtEnd = loadAverage();

  const answers = { ...aggregateAnswers, ...analyzedAnswers, ...simulationAnswers };
  const summaries = Object.fromEntries(
    Object.entries(answers).map(([k, o]) => [k, summarizeQuestion(o)]),
  );
  for (const s of Object.values(summaries)) if (s.failure) failures.push(s.failure);
  const auditScansDuring = {
    seq_scan: scansAfter.seq_scan - scansBefore.seq_scan,
    idx_scan: scansAfter.idx_scan - scansBefore.idx_scan,
    by_index: Object.fromEntries(
      Object.entries(scansAfter.indexes)
        .map(([name, n]) => [name, n - (scansBefore.indexes[name] ?? 0)])
        .filter(([, n]) => n !== 0),
    ),
  };

  // Counts that must add up.
  const summary = answers.summary_day.last;
  if (backfill.rows < inserted.calls + inserted.shadows)
    failures.push(
      `the backfill counted ${backfill.rows} events, fewer than the ${inserted.calls + inserted.shadows} written`,
    );
  if (summary && summary.totals.calls !== inserted.calls)
    failures.push(
      `the 30-day summary counts ${summary.totals.calls} calls, not the ${inserted.calls} written`,
    );
  if (summary && summary.latency.count !== inserted.calls)
    failures.push(
      `the 30-day summary has the duration of ${summary.latency.count} calls, not of the ${inserted.calls} written`,
    );
  const shadowReport = answers.shadow_report.last;
  if (shadowReport && shadowReport.evaluated !== inserted.shadows)
    failures.push(
      `the shadow report counts ${shadowReport.evaluated} evaluated calls, not the ${inserted.shadows} written`,
    );
  // The recorded decisions are the engine's own, so against the live policy the only changes
  // should be the synthetic 429s (the replay counts limits on the recorded times, and no agent
  // comes near 600 calls a minute): a rate-limited call is then allowed, or denied by its check.
  const live = answers.simulate_live.last ?? answers.simulate_live_small.last;
  const liveChanges = live ? live.calls.filter((c) => c.difference !== 'none') : [];
  const unexplained = liveChanges.filter((c) => c.recorded?.code !== 'POLICY.RATE_LIMITED');
  for (const { name, stack } of resources.stacks)
    for (const e of stack.exits)
      failures.push(`service ${e.name} (${name}) exited during the run (${e.code ?? e.signal})`);

  // Report.
  const rowsPerS = (inserted.calls + inserted.shadows) / inserted.seconds;
  const out = [''];
  out.push(
    `SecureGateway analytics benchmark — ${inserted.calls.toLocaleString('en-US')} recorded calls (+${inserted.shadows.toLocaleString('en-US')} shadow rows) over ${WINDOW_DAYS} days, ${AGENTS} agents, ${REGISTERED.length + UNREGISTERED.length} tools`,
  );
  out.push(describeMachine(machine));
  out.push(
    `load average: ${machine.load_average_at_start.join(' ')} at start, ${loadAtEnd.join(' ')} at end`,
  );
  out.push('');
  out.push(
    table(
      [
        [
          'insert into audit_events (SQL)',
          fmt(inserted.seconds, 1),
          Math.round(rowsPerS).toLocaleString('en-US'),
          `${(Number(size.total) / 1024 ** 2).toFixed(0)} MB with indexes`,
        ],
        ['ANALYZE audit_events', fmt(analyzeS, 1), '', ''],
        [
          'analytics backfill (start → done)',
          fmt(backfillS, 1),
          Math.round(backfill.rows / backfillS).toLocaleString('en-US'),
          `${backfill.rows.toLocaleString('en-US')} events`,
        ],
      ],
      ['setup', 's', 'rows/s', ''],
    ),
  );
  out.push(
    `aggregate rows: ${Object.entries(aggregates)
      .map(([t, n]) => `${t} ${n.toLocaleString('en-US')}`)
      .join(', ')}`,
  );
  out.push('');
  out.push(
    table(
      Object.values(summaries).map((s) => [
        s.label,
        `${s.ok}/${s.runs}`,
        fmt(s.first_ms, 1),
        fmt(s.median_ms, 1),
        fmt(s.max_ms, 1),
        s.took_ms_median ?? 'n/a',
        s.result ??
          (s.failure ? `FAILED: ${s.failure.slice(s.label.length + 2, s.label.length + 80)}` : '—'),
      ]),
      ['question', 'ok', 'first ms', 'median ms', 'max ms', 'took_ms', 'answer'],
    ),
  );
  out.push(
    `(ms: request to whole answer at the client, over ${RUNS} runs; took_ms: the analytics service's own median)`,
  );
  out.push(
    `audit_events scans during the aggregate questions: ${auditScansDuring.seq_scan} sequential, ${auditScansDuring.idx_scan} by index${
      auditScansDuring.idx_scan
        ? ` (${Object.entries(auditScansDuring.by_index)
            .map(([k, n]) => `${k} ${n}`)
            .join(', ')})`
        : ''
    }`,
  );
  out.push(
    `statistics of the aggregate tables after the backfill: ${analyzedStats === 0 ? 'none' : `${analyzedStats} of ${AGGREGATE_TABLES.length} tables analyzed`} (autovacuum ${autovacuum}); ANALYZE took ${fmt(analyzeAggregatesS, 1)} s ("analyzed" rows)`,
  );
  if (live)
    out.push(
      `simulate (live, ${live.summary.calls.toLocaleString('en-US')} calls): ${liveChanges.length - unexplained.length} of ${liveChanges.length} changes are synthetic 429s, which the replay does not reproduce; ${unexplained.length} other${unexplained.length ? ` (first: ${JSON.stringify(unexplained[0])})` : ''}`,
    );
  for (const key of ['summary_day', 'summary_day_analyzed']) {
    const sd = summaries[key];
    out.push(
      `${sd.label}: median ${fmt(sd.median_ms, 1)} ms, max ${fmt(sd.max_ms, 1)} ms (target < 200 ms): ${sd.max_ms !== null && sd.max_ms < 200 ? 'met' : 'NOT MET'}`,
    );
  }
  out.push('');
  process.stdout.write(`${out.join('\n')}\n`);
  serviceLog.printSuppressed();

  const results = {
    benchmark: 'analytics',
    timestamp: new Date().toISOString(),
    run_tag: isolation.runTag,
    settings: {
      calls: CALLS,
      runs: RUNS,
      shadow_every: SHADOW_EVERY,
      chunk: CHUNK,
      window_days: WINDOW_DAYS,
      agents: AGENTS,
      users: USERS,
      tools_registered: REGISTERED.length,
      tools_unregistered: UNREGISTERED.length,
      sessions: Math.ceil(CALLS / (BLOCK / SESSIONS_PER_BLOCK)),
      calls_per_session: BLOCK / SESSIONS_PER_BLOCK,
      slot_weights_per_mille: SLOT_WEIGHTS,
      rate_limited_per_mille: RATE_LIMITED_PER_MILLE,
      simulate_limit: SIMULATE_LIMIT,
      window: qs.window,
      policy_version: tpl.version,
    },
    machine: { ...machine, load_average_at_end: loadAtEnd },
    git: gitInfo(),
    run_duration_s: round((performance.now() - startedAt) / 1000, 1),
    insert: {
      calls: inserted.calls,
      shadow_rows: inserted.shadows,
      seconds: round(inserted.seconds, 2),
      rows_per_s: Math.round(rowsPerS),
      analyze_s: round(analyzeS, 2),
      audit_events_bytes: Number(size.total),
      audit_events_heap_bytes: Number(size.heap),
      first_call_at: inserted.first_call_at,
    },
    backfill: {
      events: backfill.rows,
      seconds: round(backfillS, 2),
      events_per_s: Math.round(backfill.rows / backfillS),
      measured: 'from starting the analytics process to analytics_state backfill.done',
    },
    aggregate_rows: aggregates,
    questions: summaries,
    audit_events_scans_during_aggregate_questions: auditScansDuring,
    aggregate_statistics: {
      autovacuum,
      tables_analyzed_after_backfill: analyzedStats,
      analyze_s: round(analyzeAggregatesS, 2),
    },
    simulate_live_changes: {
      changed: liveChanges.length,
      synthetic_rate_limits: liveChanges.length - unexplained.length,
      other: unexplained.length,
      first_other: unexplained[0] ?? null,
    },
    last_answers: {
      summary_day_totals: summary?.totals ?? null,
      summary_day_latency: summary?.latency ?? null,
      suggestions: answers.suggest.last?.suggestions?.map((s) => ({
        kind: s.kind,
        title: s.title,
        confidence: s.confidence,
      })),
      suggest_notes: answers.suggest.last?.notes ?? null,
      ...Object.fromEntries(
        qs.simulations.map(({ key }) => {
          const b = answers[key].last;
          return [
            key,
            b
              ? {
                  summary: b.summary,
                  truncated: b.truncated,
                  omitted_unchanged: b.omitted_unchanged,
                  calls_in_answer: b.calls.length,
                  against: b.against,
                }
              : null,
          ];
        }),
      ),
    },
    service_log_lines: serviceLog.lines(),
    failures,
    passed: failures.length === 0,
  };
  const file = resultsFile('analytics', results.timestamp);
  writeResults(file, results);
  process.stdout.write(`results: ${displayPath(file)}\n`);
  if (failures.length > 0) {
    console.error('\n✗ the benchmark is not valid:');
    for (const f of failures) console.error(`  - ${f}`);
    return 1;
  }
  return 0;
}

await runMain(main);
