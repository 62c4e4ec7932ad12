// `npm run bench`: what the gateway costs on top of calling the tool directly.
//
// In one run, on this machine, it:
//   1. starts the example upstream, a bare proxy in front of it (bench/bare-proxy.mjs) and the
//      whole gateway (six services) in isolation: its own ports, NATS subject prefix (and so its
//      own JetStream stream), Redis key prefix, database schema and a temporary copy of
//      examples/config with a rate limit the load cannot reach;
//   2. loads the upstream directly (POST /tools/calendar.list_events), then the bare proxy (same
//      request), then the gateway (POST /api/tools/call for the same tool), with the same
//      connections and duration, each after a warm-up that is not counted; during the gateway's
//      load it samples the audit consumer's backlog, and reads the CPU time of every process;
//   3. times one call after another on a single keep-alive connection: the upstream direct, an
//      allowed gateway call and a denied one (refused by the policy, never executed);
//   4. waits for the audit service to store every event, then checks that every gateway answer
//      of the run has exactly one toolcall.completed row in PostgreSQL;
//   5. prints requests/s, p50 and p99 latency, what the gateway adds, the targets met or not,
//      and writes the figures to bench/results/gateway-<timestamp>.json;
//   6. removes everything it created, and exits 1 if any measured request failed or a record is
//      missing or stored twice.
//
// Flags: --record-baseline writes the run's key figures as this machine's baseline
// (bench/results/baseline-<machine>.json); --check compares them with it and exits 3 when one
// is more than 30 % worse (with no baseline yet, it records one).
//
// Settings (environment): BENCH_CONNECTIONS (20), BENCH_DURATION_S (10), BENCH_WARMUP_S (10),
// BENCH_SEQUENTIAL_CALLS (2000), BENCH_SEQUENTIAL_WARMUP (200).
// Tracing: the services get OTEL_TRACES_EXPORTER and OTEL_TRACES_SAMPLER(_ARG) from this
// environment; with OTEL_TRACES_EXPORTER=otlp and no OTEL_EXPORTER_OTLP_ENDPOINT, the spans go to
// a sink in this process that reads and drops them, so a run measures making and sending them.
// NATS_URL, REDIS_URL, DATABASE_URL and AUDIT_CONSUMER are honoured as by the services.
import autocannon from 'autocannon';
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { Client } from 'undici';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { join, relative } from 'node:path';
import { ROOT } from '../scripts/stack.mjs';
import { baselineFile, compare, readBaseline, TOLERANCE, writeBaseline } from './baseline.mjs';
import {
  AUDIT_CONSUMER,
  auditBacklog,
  benchIsolation,
  cleanUp,
  copyExampleConfig,
  cpuPerCall,
  DATABASE_URL,
  describeMachine,
  displayPath,
  distinctFreePorts,
  DRAIN_TIMEOUT_MS,
  fmt,
  gitInfo,
  isolationCleanup,
  latencySummary,
  loadAverage,
  loadSettings,
  machineInfo,
  machineKey,
  minus,
  NATS_URL,
  onInterrupt,
  recordedSettings,
  resultsFile,
  round,
  runMain,
  runThenCleanUp,
  serverPids,
  serversReachable,
  serviceLogger,
  signed,
  sleep,
  stackPids,
  startIsolatedStack,
  startServer,
  stopChild,
  table,
  takeTurns,
  ticksSampler,
  waitDrained,
  warnIfBusy,
  writeResults,
} from './lib.mjs';

// ---------------------------------------------------------------------------------------------
// Settings

const USAGE = 'usage: node bench/gateway.mjs [--check] [--record-baseline]';
function parseArgs(argv) {
  const flags = { check: false, recordBaseline: false };
  for (const arg of argv) {
    if (arg === '--check') flags.check = true;
    else if (arg === '--record-baseline') flags.recordBaseline = true;
    else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else {
      console.error(`✗ unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
      process.exit(2);
    }
  }
  return flags;
}
const FLAGS = parseArgs(process.argv.slice(2));

const SETTINGS = loadSettings();
const {
  CONNECTIONS,
  DURATION_S,
  WARMUP_S,
  SEQUENTIAL_CALLS,
  SEQUENTIAL_WARMUP,
  SEQUENTIAL_SLICES,
} = SETTINGS;
const CONNECTIONS_TEXT = `${CONNECTIONS} connection${CONNECTIONS === 1 ? '' : 's'}`;
const TOOL = 'calendar.list_events';
// examples/config: gpt-4o's key is scoped to calendar.* (model_keys) and its rule allows only
// calendar.* (policies), so this registered tool is refused at key_scope, before any upstream.
const DENIED_TOOL = 'db.write_sensitive';
const DENIED_CODE = 'POLICY.TOOL_NOT_ALLOWED';
const AGENT_ID = 'gpt-4o';
const AGENT_KEY = 'modelkey-abc123';
const COMPLETED_SUBJECT = 'gw.evt.toolcall.completed.v1';
const EXECUTED_SUBJECT = 'gw.evt.toolcall.executed.v1';
const LAG_SAMPLE_MS = 250;

/** The issue's targets. Missing one is shown, but does not fail the run (only failures do). */
const TARGETS = {
  added_p50_ms: 1,
  added_p99_ms: 3,
  denied_p50_ms: 0.7,
  bare_proxy_ratio: 0.25,
};

/** The figures --check compares with the baseline, and which way is better. */
const KEY_FIGURES = [
  {
    key: 'gateway_calls_per_s',
    label: `gateway calls/s at ${CONNECTIONS_TEXT}`,
    unit: 'calls/s',
    better: 'higher',
  },
  { key: 'cpu_per_call_ms', label: 'CPU per gateway call, total', unit: 'ms', better: 'lower' },
  {
    key: 'sequential_added_p50_ms',
    label: 'sequential allowed call, added p50',
    unit: 'ms',
    better: 'lower',
  },
  {
    key: 'sequential_added_p99_ms',
    label: 'sequential allowed call, added p99',
    unit: 'ms',
    better: 'lower',
  },
  {
    key: 'sequential_denied_p50_ms',
    label: 'sequential denied call, p50',
    unit: 'ms',
    better: 'lower',
  },
  { key: 'bare_proxy_ratio', label: 'gateway / bare proxy req/s', unit: '×', better: 'higher' },
];

const isolation = benchIsolation();
const { runTag } = isolation;

// ---------------------------------------------------------------------------------------------
// Helpers

/** A copy of examples/config that points at our upstream and whose rate limit the load cannot reach. */
function prepareConfig(upstreamPort) {
  const { dir, configDir } = copyExampleConfig('sg-bench-');

  const toolsDir = join(configDir, 'tools');
  let pointed = 0;
  let deniedToolRegistered = false;
  for (const file of readdirSync(toolsDir).filter((f) => f.endsWith('.json'))) {
    const path = join(toolsDir, file);
    const tool = JSON.parse(readFileSync(path, 'utf8'));
    if (tool.name === DENIED_TOOL) deniedToolRegistered = true;
    if (tool.upstream?.url) {
      const url = new URL(tool.upstream.url);
      if (url.hostname === '127.0.0.1' || url.hostname === 'localhost') {
        url.hostname = '127.0.0.1';
        url.port = String(upstreamPort);
        tool.upstream.url = url.toString();
        if (tool.name === TOOL) pointed++;
      }
    }
    writeFileSync(path, `${JSON.stringify(tool, null, 2)}\n`);
  }
  if (pointed !== 1) throw new Error(`examples/config/tools has no local upstream for ${TOOL}`);
  // Registered, so that its refusal is the agent's permissions, not an unknown tool.
  if (!deniedToolRegistered) throw new Error(`examples/config/tools has no ${DENIED_TOOL}`);
  return { dir, configDir };
}

/** An OTLP/HTTP endpoint that reads every export and drops it (as a collector's receiver would take it). */
async function startOtlpSink() {
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200).end());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

/** The tracing settings the services run with (issue 10), for the header and the results. */
function tracingSettings() {
  return {
    exporter: process.env.OTEL_TRACES_EXPORTER ?? 'none',
    sampler: process.env.OTEL_TRACES_SAMPLER ?? 'default (parent-based, 10 % of new traces)',
    ...(process.env.OTEL_TRACES_SAMPLER_ARG ? { ratio: process.env.OTEL_TRACES_SAMPLER_ARG } : {}),
  };
}

function cleanup({ stack, upstream, proxy, nc, tmpDir, otlpSink }) {
  return cleanUp([
    nc && ['close the NATS connection', () => nc.close()],
    stack && ['stop the gateway', () => stack.stop()],
    proxy && ['stop the bare proxy', () => stopChild(proxy)],
    upstream && ['stop the upstream', () => stopChild(upstream)],
    otlpSink && ['close the OTLP sink', () => otlpSink.close()],
    ...isolationCleanup(isolation, tmpDir),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Load

let current = null; // the running autocannon instance, so Ctrl-C can stop it
let interrupted = false;

/**
 * One autocannon run. Latencies are kept here at full (sub-millisecond) resolution from the
 * 'response' event; autocannon's own histogram rounds to whole milliseconds, which is too coarse
 * for an upstream that answers in about one. `onAnswer(status, body)` sees every answer.
 */
async function load({ label, url, headers, body, check, onAnswer, durationS }) {
  const latencies = [];
  let firstFailure = null;
  let bodyMismatches = 0;
  let firstMismatch = null;
  let answers = 0;
  const instance = autocannon({
    url,
    method: 'POST',
    headers,
    connections: CONNECTIONS,
    duration: durationS,
    timeout: 10,
    requests: [
      {
        // Built per request (also for the upstream, so both runs pay the same client cost).
        setupRequest: (req) => ({ ...req, method: 'POST', body: body() }),
        onResponse: (status, text) => {
          answers++;
          onAnswer?.(status, text);
          if (status < 200 || status > 299) {
            if (!firstFailure) firstFailure = { status, body: text };
          } else if (check && !check(text)) {
            bodyMismatches++;
            if (!firstMismatch) firstMismatch = { status, body: text };
          }
        },
      },
    ],
  });
  instance.on('response', (_client, status, _bytes, responseTimeMs) => {
    if (status >= 200 && status <= 299) latencies.push(responseTimeMs);
  });
  let firstError = null;
  instance.on('reqError', (err) => {
    if (!firstError) firstError = err?.message ?? String(err);
  });
  current = instance;
  const result = await instance;
  current = null;

  const ok = Object.entries(result.statusCodeStats ?? {})
    .filter(([code]) => code.startsWith('2'))
    .reduce((n, [, s]) => n + Number(s.count), 0);
  return {
    label,
    url,
    duration_s: result.duration,
    requests_total: result.requests.total,
    requests_2xx: ok,
    requests_per_s: result.duration > 0 ? ok / result.duration : 0,
    answers,
    latency_ms: latencySummary(latencies),
    non_2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    body_mismatches: bodyMismatches,
    status_codes: Object.fromEntries(
      Object.entries(result.statusCodeStats ?? {}).map(([c, s]) => [c, Number(s.count)]),
    ),
    first_failure: firstFailure,
    first_error: firstError,
    first_mismatch: firstMismatch,
  };
}

// ---------------------------------------------------------------------------------------------
// CPU per call (bench/lib.mjs reads it from /proc)

/** Processes to account: the gateway's own, and the servers it uses (shared: other work shows). */
function cpuSampler(stack, upstreamChild) {
  return ticksSampler(() => ({
    ...stackPids(stack),
    upstream: [upstreamChild.pid],
    ...serverPids(),
  }));
}

// ---------------------------------------------------------------------------------------------
// Audit: does the audit service keep up with the load, and does every call get its record?

/** The audit service's backlog on the run's stream: sampled during a load, or waited out. */
function auditMonitor(jsm) {
  const lag = () => auditBacklog(jsm, isolation);
  return {
    lag,
    /** Samples the backlog every LAG_SAMPLE_MS until stop(), which resolves with the summary. */
    watch() {
      const t0 = performance.now();
      const series = [];
      let failed = 0;
      let running = true;
      let wake = null;
      const loop = (async () => {
        while (running) {
          const started = performance.now();
          try {
            series.push([Math.round(started - t0), await lag()]);
          } catch {
            failed++;
          }
          const wait = LAG_SAMPLE_MS - (performance.now() - started);
          if (running && wait > 0)
            await new Promise((r) => {
              wake = r;
              setTimeout(r, wait);
            });
        }
      })();
      return {
        async stop() {
          running = false;
          wake?.();
          await loop;
          return {
            max_events: series.length ? Math.max(...series.map(([, n]) => n)) : null,
            samples: series.length,
            failed_samples: failed,
            interval_ms: LAG_SAMPLE_MS,
            series_ms_events: series,
          };
        },
      };
    },
    /** Resolves once the backlog is gone (see waitDrained), or the timeout has passed. */
    waitDrained: (since) => waitDrained(lag, since, () => interrupted),
  };
}

const AUDIT_ID = /"audit_id":"([0-9a-fA-F-]{36})"/;

/** Every answer the gateway gave this run, with the audit_id each one names. */
function answerLog() {
  const log = { count: 0, auditIds: [], withoutAuditId: 0, firstWithout: null };
  log.record = (status, text) => {
    log.count++;
    // The answer's audit_id is the event id of its toolcall.completed event.
    const m = AUDIT_ID.exec(text);
    if (m) log.auditIds.push(m[1].toLowerCase());
    else if (log.withoutAuditId++ === 0) log.firstWithout = { status, body: text };
  };
  return log;
}

/** Seconds from occurred_at (the publishing service's clock) to stored_at (the audit service's). */
async function auditLagSeconds(db, window) {
  const { rows } = await db.query(
    `SELECT count(*)::int AS events,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY lag) AS p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY lag) AS p99,
            max(lag) AS max
       FROM (SELECT extract(epoch FROM stored_at - occurred_at)::float8 AS lag
               FROM "${isolation.schema}".audit_events
              WHERE occurred_at >= $1::timestamptz AND occurred_at <= $2::timestamptz) AS l`,
    [window.from, window.to],
  );
  const r = rows[0];
  return {
    events: r.events,
    p50_s: round(r.p50, 3),
    p99_s: round(r.p99, 3),
    max_s: round(r.max, 3),
  };
}

/**
 * The toolcall.completed rows of this run (request ids `${runTag}-<n>`), against the answers
 * received: none missing (each answer's audit_id stored), none twice (one row per request id
 * and per event id), and nothing denied that reached the executor.
 */
async function completeness(db, answers, deniedAnswers) {
  const table = `"${isolation.schema}".audit_events`;
  const tagged = `${runTag}-%`;
  const counts = await db.query(
    `SELECT count(*)::int AS stored,
            count(DISTINCT event_id)::int AS event_ids,
            count(DISTINCT data->>'request_id')::int AS request_ids,
            (count(*) FILTER (WHERE data->>'outcome' = 'denied'))::int AS denied
       FROM ${table} WHERE subject = $1 AND data->>'request_id' LIKE $2`,
    [COMPLETED_SUBJECT, tagged],
  );
  const missing = await db.query(
    `SELECT count(*)::int AS n, (array_agg(id::text))[1:5] AS examples
       FROM unnest($1::uuid[]) AS id
      WHERE NOT EXISTS (SELECT 1 FROM ${table} e WHERE e.event_id = id AND e.subject = $2)`,
    [answers.auditIds, COMPLETED_SUBJECT],
  );
  // A run is recorded in the call's completed event (`execution`, ADR 0011), or, from a gateway
  // older than that, in a toolcall.executed event.
  const executed = await db.query(
    `SELECT count(*)::int AS n FROM ${table}
      WHERE data->>'request_id' LIKE $2 AND data->>'tool' = $3
        AND (subject = $1 OR (subject = $4 AND data->'execution' IS NOT NULL))`,
    [EXECUTED_SUBJECT, tagged, DENIED_TOOL, COMPLETED_SUBJECT],
  );
  const c = counts.rows[0];
  return {
    answers: answers.count,
    answers_without_audit_id: answers.withoutAuditId,
    stored: c.stored,
    distinct_event_ids: c.event_ids,
    distinct_request_ids: c.request_ids,
    duplicates: c.stored - Math.min(c.event_ids, c.request_ids),
    stored_without_answer: c.stored - answers.count,
    missing: missing.rows[0].n,
    missing_examples: missing.rows[0].examples ?? [],
    denied_answers: deniedAnswers,
    denied_stored: c.denied,
    denied_executed: executed.rows[0].n,
  };
}

// ---------------------------------------------------------------------------------------------
// Phases

/** A warm-up run (not counted) followed by the measured run. */
async function phase(target, { sample = null, settleMs = 0, audit = null } = {}) {
  let warmup = null;
  if (WARMUP_S > 0) {
    process.stderr.write(`… ${target.label}: warm-up ${WARMUP_S} s\n`);
    warmup = await load({ ...target, durationS: WARMUP_S });
    if (interrupted) return { warmup, measured: null };
  }
  process.stderr.write(`… ${target.label}: measuring ${DURATION_S} s with ${CONNECTIONS_TEXT}\n`);
  const before = sample?.();
  const watch = audit?.watch();
  const from = new Date();
  const measured = await load({ ...target, durationS: DURATION_S });
  const endedAt = performance.now();
  measured.window = { from: from.toISOString(), to: new Date().toISOString() };
  if (watch) measured.audit_lag = await watch.stop();
  if (sample) {
    // Let the audit consumer store the run's events, so their cost is counted too: at least
    // settleMs, and until its backlog is gone if that takes longer.
    const [drain] = await Promise.all([audit?.waitDrained(endedAt), sleep(settleMs)]);
    if (drain) measured.audit_drain = drain;
    measured.cpu_per_call = cpuPerCall(before, sample(), measured.requests_total);
  }
  return { warmup, measured };
}

/**
 * One client making one call after another on a single keep-alive connection (an undici
 * Client per origin: one socket, no pipelining), as an agent calling in a loop would. Each
 * target gets SEQUENTIAL_WARMUP calls first (not counted), then the measured calls in
 * SEQUENTIAL_SLICES slices that alternate between the targets. Each call is timed from sending
 * the request to having read the whole answer; the body is built before the clock starts.
 */
async function sequential(targets) {
  const state = targets.map((t) => {
    const client = new Client(t.origin, { pipelining: 1, keepAliveTimeout: 30_000 });
    const s = { t, client, latencies: [], failures: 0, firstFailure: null, connects: 0 };
    client.on('connect', () => s.connects++);
    return s;
  });
  const one = async (s, counted) => {
    const body = s.t.body();
    const started = performance.now();
    let status;
    let text;
    try {
      const res = await s.client.request({
        method: 'POST',
        path: s.t.path,
        headers: s.t.headers,
        body,
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      if (counted && s.failures++ === 0) s.firstFailure = { error: err.message };
      return;
    }
    const ms = performance.now() - started;
    s.t.onAnswer?.(status, text);
    if (!counted) return;
    if (s.t.check(status, text)) s.latencies.push(ms);
    else if (s.failures++ === 0) s.firstFailure = { status, body: text };
  };
  try {
    let warmupConnects = [];
    await takeTurns(state, one, {
      warmup: SEQUENTIAL_WARMUP,
      calls: SEQUENTIAL_CALLS,
      slices: SEQUENTIAL_SLICES,
      stopped: () => interrupted,
      warmedUp: () => (warmupConnects = state.map((s) => s.connects)),
    });
    return Object.fromEntries(
      state.map((s, i) => {
        return [
          s.t.key,
          {
            label: s.t.label,
            url: `${s.t.origin}${s.t.path}`,
            calls: s.latencies.length + s.failures,
            ok: s.latencies.length,
            failures: s.failures,
            latency_ms: latencySummary(s.latencies),
            // 1 if the connection was kept alive throughout (reconnects would add handshakes).
            connections_opened: s.connects,
            connections_opened_while_measuring: s.connects - warmupConnects[i],
            first_failure: s.firstFailure,
          },
        ];
      }),
    );
  } finally {
    await Promise.all(state.map((s) => s.client.close().catch(() => undefined)));
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function summarize({ upstream, proxy, gateway, seq }) {
  const added = {
    p50_ms: round(minus(gateway.latency_ms.p50, upstream.latency_ms.p50), 3),
    p99_ms: round(minus(gateway.latency_ms.p99, upstream.latency_ms.p99), 3),
  };
  const ratio =
    upstream.requests_per_s > 0 ? round(gateway.requests_per_s / upstream.requests_per_s, 4) : null;
  const proxyRatio =
    proxy.requests_per_s > 0 ? round(gateway.requests_per_s / proxy.requests_per_s, 4) : null;
  const direct = seq.direct.latency_ms;
  return {
    added_latency_ms: added,
    throughput_ratio: ratio,
    bare_proxy_ratio: proxyRatio,
    sequential_added_latency_ms: {
      p50_ms: round(minus(seq.allowed.latency_ms.p50, direct.p50), 3),
      p99_ms: round(minus(seq.allowed.latency_ms.p99, direct.p99), 3),
    },
    sequential_denied_ms: {
      p50_ms: seq.denied.latency_ms.p50,
      p99_ms: seq.denied.latency_ms.p99,
      p50_minus_direct_p50_ms: round(minus(seq.denied.latency_ms.p50, direct.p50), 3),
    },
  };
}

/** The issue's targets with what this run measured; `met` is null for figures only tracked. */
function targetRows({ gateway, summary, audit, complete }) {
  const errors = gateway.non_2xx + gateway.errors + gateway.body_mismatches;
  const added = summary.sequential_added_latency_ms;
  const denied = summary.sequential_denied_ms;
  const le = (x, limit) => (x === null ? false : x <= limit);
  const lag = audit.lag_seconds;
  return [
    {
      target: `gateway at ${CONNECTIONS_TEXT}, 0 errors`,
      measured: `${fmt(gateway.requests_per_s, 0)} calls/s, ${errors} failed`,
      goal: '0 failed',
      met: errors === 0,
    },
    {
      target: 'CPU per gateway call, all processes',
      measured: `${fmt(gateway.cpu_per_call?.total_ms, 3)} ms`,
      goal: '(tracked by --check)',
      met: null,
    },
    {
      target: 'sequential allowed call, added p50',
      measured: `${signed(added.p50_ms, 3)} ms`,
      goal: `≤ ${TARGETS.added_p50_ms} ms`,
      met: le(added.p50_ms, TARGETS.added_p50_ms),
    },
    {
      target: 'sequential allowed call, added p99',
      measured: `${signed(added.p99_ms, 3)} ms`,
      goal: `≤ ${TARGETS.added_p99_ms} ms`,
      met: le(added.p99_ms, TARGETS.added_p99_ms),
    },
    {
      target: 'sequential denied call, p50',
      measured: `${fmt(denied.p50_ms, 3)} ms (${signed(denied.p50_minus_direct_p50_ms, 3)} vs direct)`,
      goal: `≤ ${TARGETS.denied_p50_ms} ms`,
      met: le(denied.p50_ms, TARGETS.denied_p50_ms),
    },
    {
      target: 'gateway / bare proxy req/s',
      measured: fmt(summary.bare_proxy_ratio, 3),
      goal: `≥ ${TARGETS.bare_proxy_ratio}`,
      met:
        summary.bare_proxy_ratio !== null && summary.bare_proxy_ratio >= TARGETS.bare_proxy_ratio,
    },
    {
      target: 'audit keeps up',
      measured:
        `max ${audit.lag_events_max ?? 'n/a'} events behind, ${fmt(lag?.max_s, 3)} s max ` +
        `(p99 ${fmt(lag?.p99_s, 3)} s); drained ${audit.drain_after_load.drained ? `${fmt(audit.drain_after_load.seconds, 2)} s after the load` : 'NOT within 60 s'}`,
      goal: `drains ≤ ${DRAIN_TIMEOUT_MS / 1000} s after the load`,
      met: audit.drain_after_load.drained === true,
    },
    {
      target: 'every call audited exactly once',
      measured: complete
        ? `${complete.stored} records for ${complete.answers} answers, ${complete.missing} missing, ${complete.duplicates} duplicated`
        : 'not checked',
      goal: '0 missing, 0 duplicated',
      met: complete ? complete.missing === 0 && complete.duplicates === 0 : false,
    },
  ];
}

function printReport(
  { upstream, proxy, gateway, seq, summary, audit, complete, targets },
  machine,
) {
  const row = (name, r) => [
    name,
    fmt(r.requests_per_s, 0),
    fmt(r.latency_ms.p50),
    fmt(r.latency_ms.p99),
    r.non_2xx,
    r.errors,
  ];
  const out = [];
  out.push('');
  out.push(
    `SecureGateway benchmark — ${CONNECTIONS_TEXT}, ${DURATION_S} s measured after ${WARMUP_S} s warm-up, tool ${TOOL}`,
  );
  out.push(describeMachine(machine));
  const t = tracingSettings();
  out.push(
    `tracing: ${t.exporter === 'none' ? 'off' : `${t.exporter}, sampler ${t.sampler}${t.ratio ? ` ${t.ratio}` : ''}`}`,
  );
  out.push('');
  out.push(
    table(
      [row('upstream direct', upstream), row('bare proxy', proxy), row('gateway', gateway)],
      ['target', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'errors'],
    ),
  );
  out.push('');
  out.push(
    `gateway adds: p50 ${signed(summary.added_latency_ms.p50_ms)} ms, p99 ${signed(summary.added_latency_ms.p99_ms)} ms`,
  );
  out.push(
    `throughput ratio (gateway / upstream): ${summary.throughput_ratio === null ? 'n/a' : summary.throughput_ratio.toFixed(3)}`,
  );
  out.push(
    `throughput ratio (gateway / bare proxy): ${summary.bare_proxy_ratio === null ? 'n/a' : summary.bare_proxy_ratio.toFixed(3)}`,
  );
  const cpu = gateway.cpu_per_call;
  if (cpu) {
    out.push('');
    out.push(`CPU per gateway call (ms, user+system, from /proc; includes the audit of the call):`);
    out.push(
      table(
        Object.entries(cpu.per_process_ms)
          .sort((a, b) => b[1] - a[1])
          .map(([name, ms]) => [name, fmt(ms, 3)])
          .concat([['total', fmt(cpu.total_ms, 3)]]),
        ['process', 'ms/call'],
      ),
    );
  }
  const pcpu = proxy.cpu_per_call;
  if (pcpu) {
    out.push(
      `CPU per bare-proxy call: ${Object.entries(pcpu.per_process_ms)
        .map(([name, ms]) => `${name} ${fmt(ms, 3)}`)
        .join(' + ')} = ${fmt(pcpu.total_ms, 3)} ms`,
    );
  }

  out.push('');
  out.push(
    `sequential: one client, one keep-alive connection per target, ${SEQUENTIAL_CALLS} calls each after ${SEQUENTIAL_WARMUP} warm-up`,
  );
  const srow = (name, r) => [
    name,
    r.ok,
    fmt(r.latency_ms.p50, 3),
    fmt(r.latency_ms.p99, 3),
    fmt(r.latency_ms.mean, 3),
    fmt(r.latency_ms.max, 3),
    r.failures,
  ];
  out.push(
    table(
      [
        srow('upstream direct', seq.direct),
        srow('gateway allowed', seq.allowed),
        srow(`gateway denied (403 ${DENIED_CODE})`, seq.denied),
      ],
      ['call', 'calls', 'p50 ms', 'p99 ms', 'mean ms', 'max ms', 'failed'],
    ),
  );
  const sa = summary.sequential_added_latency_ms;
  const sd = summary.sequential_denied_ms;
  out.push('');
  out.push(
    `added latency (allowed − direct): p50 ${signed(sa.p50_ms, 3)} ms, p99 ${signed(sa.p99_ms, 3)} ms`,
  );
  out.push(
    `denied: p50 ${fmt(sd.p50_ms, 3)} ms, p99 ${fmt(sd.p99_ms, 3)} ms (p50 − direct p50: ${signed(sd.p50_minus_direct_p50_ms, 3)} ms)`,
  );

  out.push('');
  const lag = audit.lag_seconds;
  out.push(
    `audit (consumer ${AUDIT_CONSUMER}): during the gateway load at most ${audit.lag_events_max ?? 'n/a'} events behind ` +
      `(${audit.lag_samples} samples every ${LAG_SAMPLE_MS} ms); stored_at − occurred_at over its ${lag?.events ?? 0} events: ` +
      `p50 ${fmt(lag?.p50_s, 3)} s, p99 ${fmt(lag?.p99_s, 3)} s, max ${fmt(lag?.max_s, 3)} s`,
  );
  const drainText = (d) =>
    d?.drained ? `${fmt(d.seconds, 2)} s` : `not within ${DRAIN_TIMEOUT_MS / 1000} s`;
  out.push(
    `audit drained ${drainText(audit.drain_after_load)} after the gateway load, ${drainText(audit.drain_at_end)} after the last call`,
  );
  if (complete) {
    out.push(
      `completeness: ${complete.stored} ${COMPLETED_SUBJECT} records for ${complete.answers} answers ` +
        `(${complete.stored_without_answer} stored without an answer, at most ${complete.in_flight_allowance} allowed: in flight when a load stopped); ` +
        `${complete.missing} missing, ${complete.duplicates} duplicated; denied calls executed: ${complete.denied_executed}`,
    );
  }

  out.push('');
  out.push('targets:');
  out.push(
    table(
      targets.map((t) => [
        t.target,
        t.measured,
        t.goal,
        t.met === null ? 'info' : t.met ? 'met' : 'NOT MET',
      ]),
      ['target', 'measured', 'goal', 'status'],
      { leftAligned: true },
    ),
  );
  out.push('');
  process.stdout.write(`${out.join('\n')}\n`);
}

/** The figures --check compares, from a run's results. */
function keyFigures(results) {
  return {
    gateway_calls_per_s: round(results.gateway.requests_per_s, 1),
    cpu_per_call_ms: results.gateway.cpu_per_call?.total_ms ?? null,
    sequential_added_p50_ms: results.sequential_added_latency_ms.p50_ms,
    sequential_added_p99_ms: results.sequential_added_latency_ms.p99_ms,
    sequential_denied_p50_ms: results.sequential_denied_ms.p50_ms,
    bare_proxy_ratio: results.bare_proxy_ratio,
  };
}

/**
 * --check and --record-baseline, on a valid run. Returns what was done, for the results file,
 * and whether a key figure regressed.
 */
function regressionCheck(results, resultsFile) {
  const key = machineKey();
  const file = baselineFile(key);
  const shown = displayPath(file);
  const out = { machine_key: key, baseline_file: shown, compared: null, recorded: false };
  const baseline = FLAGS.check ? readBaseline(file) : null;
  if (FLAGS.check && !baseline) {
    process.stdout.write(
      `regression check: no baseline for machine ${key} yet; recording this run as the baseline\n`,
    );
  } else if (FLAGS.check) {
    const settingsNow = JSON.stringify(comparableSettings(results.settings));
    const settingsThen = JSON.stringify(comparableSettings(baseline.settings ?? {}));
    if (settingsNow !== settingsThen) {
      process.stderr.write(
        `! the baseline was recorded with other settings (${settingsThen}; now ${settingsNow}): the figures may not be comparable\n`,
      );
    }
    const verdicts = compare(results.key_figures, baseline, KEY_FIGURES);
    out.compared = {
      baseline_recorded_at: baseline.recorded_at,
      baseline_git: baseline.git,
      verdicts,
    };
    const regressed = verdicts.filter((v) => v.verdict === 'regressed');
    process.stdout.write(
      `regression check against the baseline of ${baseline.recorded_at} (${shown}; a figure fails at ` +
        `${TOLERANCE}× the baseline, or 1/${TOLERANCE} = ${(1 / TOLERANCE).toFixed(2)}× where lower is better):\n`,
    );
    for (const v of verdicts)
      process.stdout.write(
        `  ${v.verdict === 'regressed' ? '✗' : v.verdict === 'ok' ? '✓' : '-'} ${v.message}\n`,
      );
    out.regressed = regressed.map((v) => v.key);
  }
  if (FLAGS.recordBaseline || (FLAGS.check && !baseline)) {
    writeBaseline(
      {
        machine_key: key,
        recorded_at: results.timestamp,
        results_file: relative(ROOT, resultsFile),
        git: results.git,
        settings: results.settings,
        machine: results.machine,
        key_figures: results.key_figures,
      },
      file,
    );
    out.recorded = true;
    process.stdout.write(`baseline recorded: ${shown}\n`);
  }
  return out;
}

/** The settings that change what the key figures mean. */
function comparableSettings(s) {
  return {
    connections: s.connections,
    duration_s: s.duration_s,
    warmup_s: s.warmup_s,
    sequential_calls: s.sequential_calls,
    sequential_warmup: s.sequential_warmup,
  };
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  if (!(await serversReachable())) return 1;

  const machine = machineInfo();
  warnIfBusy(machine);

  const [ingressPort, federationPort, upstreamPort, proxyPort] = await distinctFreePorts(4);
  const resources = {
    stack: null,
    upstream: null,
    proxy: null,
    nc: null,
    tmpDir: null,
    otlpSink: null,
  };
  onInterrupt(() => {
    interrupted = true;
    current?.stop();
  });
  return runThenCleanUp(
    () => measure(machine, { ingressPort, federationPort, upstreamPort, proxyPort }, resources),
    () => cleanup(resources),
    () => interrupted,
  );
}

/** Starts everything, loads, checks the audit trail, reports; returns the exit code. */
async function measure(
  machine,
  { ingressPort, federationPort, upstreamPort, proxyPort },
  resources,
) {
  const serviceLog = serviceLogger();
  let exitCode = 0;

  const { dir, configDir } = prepareConfig(upstreamPort);
  resources.tmpDir = dir;

  resources.upstream = await startServer({
    label: 'upstream',
    script: join(ROOT, 'examples/upstream/server.mjs'),
    env: { UPSTREAM_PORT: String(upstreamPort), UPSTREAM_HOST: '127.0.0.1' },
    port: upstreamPort,
  });
  resources.proxy = await startServer({
    label: 'bare proxy',
    script: join(ROOT, 'bench/bare-proxy.mjs'),
    env: {
      BARE_PROXY_PORT: String(proxyPort),
      BARE_PROXY_UPSTREAM: `http://127.0.0.1:${upstreamPort}`,
    },
    port: proxyPort,
  });
  process.stderr.write(
    `… upstream on 127.0.0.1:${upstreamPort}, bare proxy on 127.0.0.1:${proxyPort}; starting the gateway (prefix ${runTag})\n`,
  );

  const env = {};
  if (process.env.OTEL_TRACES_EXPORTER === 'otlp' && !process.env.OTEL_EXPORTER_OTLP_ENDPOINT) {
    resources.otlpSink = await startOtlpSink();
    env.OTEL_EXPORTER_OTLP_ENDPOINT = resources.otlpSink.url;
  }
  resources.stack = await startIsolatedStack({
    isolation,
    ports: { ingress: ingressPort, federation: federationPort },
    configDir,
    env,
    log: serviceLog,
  });
  process.stderr.write(`… gateway ready at ${resources.stack.url}\n`);
  if (interrupted) return 130;
  resources.nc = await natsConnect({ servers: NATS_URL });
  const audit = auditMonitor(await jetstreamManager(resources.nc));
  await audit.lag(); // fails here, readably, if the audit service has no consumer on the stream

  // Every gateway request of the run carries a request id `${runTag}-<n>`, so its record can
  // be found in audit_events afterwards; every answer is counted, with its audit_id.
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}/tools/${TOOL}`;
  const proxyUrl = `http://127.0.0.1:${proxyPort}/tools/${TOOL}`;
  const gatewayUrl = `${resources.stack.url}/api/tools/call`;
  const answers = answerLog();
  let seq = 0;
  const callBody = (tool, args) => () =>
    JSON.stringify({
      agent_id: AGENT_ID,
      agent_version: '1.0.0',
      request_id: `${runTag}-${++seq}`,
      tool,
      arguments: args,
    });
  const gatewayBody = callBody(TOOL, {});
  const deniedBody = callBody(DENIED_TOOL, { table: 'bench', record: { n: 1 } });
  const gatewayHeaders = { 'x-api-key': AGENT_KEY, 'content-type': 'application/json' };
  // Its own session: a denial and a write tool raise a session's risk score, which must not
  // change the decisions on the allowed calls (session "default").
  const deniedHeaders = { ...gatewayHeaders, 'x-session-id': `${runTag}-denied` };
  const isSuccess = (text) => {
    try {
      return JSON.parse(text).success === true;
    } catch {
      return false;
    }
  };
  /** The check that refused a call: a policy refusal (403 DENIED_CODE), not a rate limit. */
  const denialCheck = (status, text) => {
    if (status !== 403) return null;
    try {
      const body = JSON.parse(text);
      if (body.allowed !== false || body.error?.code !== DENIED_CODE) return null;
      const failed = body.decision?.rule_trace?.find((e) => e.outcome === 'fail')?.check;
      return failed && failed !== 'rate_limit' ? failed : null;
    } catch {
      return null;
    }
  };
  let deniedAnswers = 0;
  const onDeniedAnswer = (status, text) => {
    answers.record(status, text);
    deniedAnswers++;
  };

  // One call each way before loading, so a misconfiguration fails fast with a readable answer.
  const probe = async (body, headers, onAnswer) => {
    const res = await fetch(gatewayUrl, { method: 'POST', headers, body: body() });
    const text = await res.text();
    onAnswer(res.status, text);
    return { status: res.status, text };
  };
  const allowedProbe = await probe(gatewayBody, gatewayHeaders, answers.record);
  if (allowedProbe.status !== 200 || !isSuccess(allowedProbe.text)) {
    console.error(
      `✗ the gateway refused a single call before any load: HTTP ${allowedProbe.status}\n${allowedProbe.text}`,
    );
    return 1;
  }
  const deniedProbe = await probe(deniedBody, deniedHeaders, onDeniedAnswer);
  const deniedBy = denialCheck(deniedProbe.status, deniedProbe.text);
  if (!deniedBy) {
    console.error(
      `✗ a call of ${DENIED_TOOL} was not refused by the policy with 403 ${DENIED_CODE}: HTTP ${deniedProbe.status}\n${deniedProbe.text}`,
    );
    return 1;
  }

  const upstream = await phase({
    label: 'upstream direct',
    url: upstreamUrl,
    headers: { 'content-type': 'application/json' },
    body: () => '{}',
    check: (text) => text.includes('"events"'),
  });
  if (interrupted) return 130;
  const proxy = await phase(
    {
      label: 'bare proxy',
      url: proxyUrl,
      headers: { 'content-type': 'application/json' },
      body: () => '{}',
      check: (text) => text.includes('"events"'),
    },
    {
      sample: ticksSampler(() => ({
        'bare-proxy': [resources.proxy.pid],
        upstream: [resources.upstream.pid],
      })),
    },
  );
  if (interrupted) return 130;
  const gateway = await phase(
    {
      label: 'gateway',
      url: gatewayUrl,
      headers: gatewayHeaders,
      body: gatewayBody,
      check: isSuccess,
      onAnswer: answers.record,
    },
    { sample: cpuSampler(resources.stack, resources.upstream), settleMs: 2000, audit },
  );
  if (interrupted) return 130;

  const seqResults = await sequential([
    {
      key: 'direct',
      label: 'upstream direct',
      origin: `http://127.0.0.1:${upstreamPort}`,
      path: `/tools/${TOOL}`,
      headers: { 'content-type': 'application/json' },
      body: () => '{}',
      check: (status, text) => status === 200 && text.includes('"events"'),
    },
    {
      key: 'allowed',
      label: 'gateway allowed',
      origin: resources.stack.url,
      path: '/api/tools/call',
      headers: gatewayHeaders,
      body: gatewayBody,
      check: (status, text) => status === 200 && isSuccess(text),
      onAnswer: answers.record,
    },
    {
      key: 'denied',
      label: `gateway denied (${DENIED_TOOL})`,
      origin: resources.stack.url,
      path: '/api/tools/call',
      headers: deniedHeaders,
      body: deniedBody,
      check: (status, text) => denialCheck(status, text) === deniedBy,
      onAnswer: onDeniedAnswer,
    },
  ]);
  if (interrupted) return 130;

  // Every event of the run stored, then: is every answer in PostgreSQL, and only once?
  process.stderr.write('… waiting for the audit service to store every event\n');
  const drainAtEnd = await audit.waitDrained(performance.now());
  if (interrupted) return 130;
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  let complete;
  let lagSeconds;
  try {
    complete = await completeness(db, answers, deniedAnswers);
    lagSeconds = await auditLagSeconds(db, gateway.measured.window);
  } finally {
    await db.end();
  }
  // Each autocannon run stops with up to one request in flight per connection: the gateway
  // may store it, but its answer never arrives.
  complete.in_flight_allowance = CONNECTIONS * (WARMUP_S > 0 ? 2 : 1);
  complete.request_ids_issued = seq;

  const crashed = [...resources.stack.exits];
  const auditSummary = {
    consumer: AUDIT_CONSUMER,
    stream: isolation.streamName,
    lag_events_max: gateway.measured.audit_lag?.max_events ?? null,
    lag_samples: gateway.measured.audit_lag?.samples ?? 0,
    lag_seconds: { window: gateway.measured.window, ...lagSeconds },
    drain_after_load: gateway.measured.audit_drain ?? { drained: false, seconds: null },
    drain_at_end: drainAtEnd,
  };
  const summary = summarize({
    upstream: upstream.measured,
    proxy: proxy.measured,
    gateway: gateway.measured,
    seq: seqResults,
  });
  const targets = targetRows({
    gateway: gateway.measured,
    summary,
    audit: auditSummary,
    complete,
  });
  printReport(
    {
      upstream: upstream.measured,
      proxy: proxy.measured,
      gateway: gateway.measured,
      seq: seqResults,
      summary,
      audit: auditSummary,
      complete,
      targets,
    },
    machine,
  );

  // Failures: any measured request that did not succeed makes the figures meaningless, and a
  // record missing or stored twice is a broken audit trail.
  const failures = [];
  for (const [name, r] of [
    ['upstream direct', upstream.measured],
    ['bare proxy', proxy.measured],
    ['gateway', gateway.measured],
  ]) {
    if (r.non_2xx > 0)
      failures.push(`${name}: ${r.non_2xx} non-2xx answers ${JSON.stringify(r.status_codes)}`);
    if (r.errors > 0)
      failures.push(
        `${name}: ${r.errors} request errors (${r.timeouts} timeouts); first: ${r.first_error}`,
      );
    if (r.body_mismatches > 0)
      failures.push(`${name}: ${r.body_mismatches} 2xx answers that are not the tool's result`);
  }
  for (const r of Object.values(seqResults)) {
    if (r.failures > 0)
      failures.push(
        `sequential ${r.label}: ${r.failures} of ${r.calls} calls failed; first: ${JSON.stringify(r.first_failure)}`,
      );
  }
  for (const e of crashed)
    failures.push(`service ${e.name} exited during the run (code ${e.code ?? e.signal})`);
  for (const [what, d] of [
    ['after the gateway load', auditSummary.drain_after_load],
    ['after the last call', drainAtEnd],
  ]) {
    if (!d.drained)
      failures.push(
        `the audit consumer did not drain within ${DRAIN_TIMEOUT_MS / 1000} s ${what} (backlog ${d.backlog_at_timeout ?? 'unknown'})`,
      );
  }
  if (complete.missing > 0)
    failures.push(
      `${complete.missing} answers have no ${COMPLETED_SUBJECT} record (audit_id e.g. ${complete.missing_examples.join(', ')})`,
    );
  if (complete.stored < complete.answers)
    failures.push(
      `${complete.stored} records for ${complete.answers} answers: ${complete.answers - complete.stored} lost`,
    );
  if (complete.duplicates > 0)
    failures.push(
      `${complete.duplicates} duplicated records (${complete.stored} rows, ${complete.distinct_event_ids} event ids, ${complete.distinct_request_ids} request ids)`,
    );
  if (complete.stored_without_answer > complete.in_flight_allowance)
    failures.push(
      `${complete.stored_without_answer} records without an answer, more than the ${complete.in_flight_allowance} that can be in flight when the loads stop`,
    );
  if (complete.answers_without_audit_id > 0)
    failures.push(
      `${complete.answers_without_audit_id} gateway answers without an audit_id; first: ${JSON.stringify(answers.firstWithout)}`,
    );
  if (complete.denied_executed > 0)
    failures.push(
      `${complete.denied_executed} denied calls of ${DENIED_TOOL} reached the executor`,
    );
  for (const [name, w] of [
    ['upstream direct', upstream.warmup],
    ['bare proxy', proxy.warmup],
    ['gateway', gateway.warmup],
  ]) {
    if (w && (w.non_2xx > 0 || w.errors > 0 || w.body_mismatches > 0)) {
      process.stderr.write(
        `! ${name} warm-up (not counted): ${w.non_2xx} non-2xx, ${w.errors} errors, ${w.body_mismatches} bad bodies\n`,
      );
    }
  }

  const results = {
    benchmark: 'gateway',
    timestamp: new Date().toISOString(),
    run_tag: runTag,
    settings: {
      ...recordedSettings(SETTINGS, 'connections'),
      tool: TOOL,
      denied_tool: DENIED_TOOL,
      denied_code: DENIED_CODE,
      denied_by_check: deniedBy,
      agent_id: AGENT_ID,
      tracing: tracingSettings(),
    },
    machine: { ...machine, load_average_at_end: loadAverage() },
    git: gitInfo(),
    upstream: upstream.measured,
    bare_proxy: proxy.measured,
    gateway: gateway.measured,
    sequential: seqResults,
    ...summary,
    audit: auditSummary,
    completeness: complete,
    targets,
    warmup: { upstream: upstream.warmup, bare_proxy: proxy.warmup, gateway: gateway.warmup },
    service_log_lines: serviceLog.lines(),
    failures,
    passed: failures.length === 0,
  };
  results.key_figures = keyFigures(results);
  const file = resultsFile('gateway', results.timestamp);
  serviceLog.printSuppressed();

  if (failures.length > 0) {
    console.error('\n✗ the benchmark is not valid: some requests failed or records are wrong');
    for (const f of failures) console.error(`  - ${f}`);
    const first = gateway.measured.first_failure ?? upstream.measured.first_failure;
    if (first) console.error(`  first failed answer (HTTP ${first.status}):\n${first.body}`);
    const mismatch = gateway.measured.first_mismatch ?? upstream.measured.first_mismatch;
    if (mismatch && !first)
      console.error(
        `  first 2xx answer that is not the tool's result (HTTP ${mismatch.status}):\n${mismatch.body}`,
      );
    if (FLAGS.check || FLAGS.recordBaseline)
      console.error(
        '  (no baseline compared or recorded: the figures of a failed run mean nothing)',
      );
    exitCode = 1;
  } else if (FLAGS.check || FLAGS.recordBaseline) {
    results.regression = regressionCheck(results, file);
    if (results.regression.regressed?.length > 0) {
      console.error(
        `\n✗ regression: ${results.regression.regressed.length} key figure(s) more than ${Math.round((1 - TOLERANCE) * 100)} % worse than this machine's baseline (see above)`,
      );
      exitCode = 3;
    }
  }

  writeResults(file, results);
  process.stdout.write(`results: ${displayPath(file)}\n`);
  return exitCode;
}

await runMain(main);
