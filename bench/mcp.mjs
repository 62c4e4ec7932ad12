// What the gateway's MCP front door costs: MCP tools/call through the ingress's `/mcp`
// (Streamable HTTP) against the same upstream MCP server called directly, in one run.
//
// In one run, on this machine, it:
//   1. starts the example MCP server (examples/mcp-server/server.mjs --http: stateless, a fresh
//      SDK server per POST) on a free port, imports its tools with scripts/import-mcp-tools.mjs
//      and registers `notes.search` in a temporary copy of examples/config, with an agent of its
//      own (key scoped to that tool, a rule allowing it, a rate limit the load cannot reach);
//   2. starts the whole gateway (six services) in isolation, as bench/gateway.mjs does: its own
//      ports, NATS subject prefix (so its own JetStream stream), Redis key prefix and schema;
//   3. with the official SDK (Client + StreamableHTTPClientTransport), opens BENCH_CONNECTIONS
//      sessions to each target and calls `notes.search` in a closed loop on each of them, first
//      straight at the upstream, then at the gateway's /mcp with X-API-Key, each after a warm-up
//      that is not counted; it reads the CPU time of every process from /proc meanwhile; then,
//      for context, the same tool through POST /api/tools/call (the governed path and the
//      executor's MCP client without the MCP front door), with fetch, in the same way;
//   4. times one call after another on one session per target, the targets alternating in slices;
//   5. prints calls/s, p50/p99, what the gateway adds and the ratio of throughputs, next to the
//      figure ContextForge reports, and writes bench/results/mcp-<timestamp>.json;
//   6. removes everything it created, and exits 1 if any measured call failed.
//
// Settings (environment): BENCH_CONNECTIONS (20), BENCH_DURATION_S (10), BENCH_WARMUP_S (10),
// BENCH_SEQUENTIAL_CALLS (2000), BENCH_SEQUENTIAL_WARMUP (200); MCP_PORT (the upstream's port,
// default a free one). NATS_URL, REDIS_URL, DATABASE_URL and AUDIT_CONSUMER as for the services.
// Exit codes: 0 valid run, 1 invalid (a failed call, a service that exited), 2 bad setting,
// 130 interrupted.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import pg from 'pg';
import { parseDocument } from 'yaml';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join, relative } from 'node:path';
import { preflight, ROOT, startStack } from '../scripts/stack.mjs';
import { gitInfo, machineInfo } from './lib.mjs';

// ---------------------------------------------------------------------------------------------
// Settings

function intSetting(name, fallback, min) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    console.error(
      `✗ ${name} must be ${min === 0 ? 'a non-negative' : 'a positive'} integer (got ${JSON.stringify(raw)})`,
    );
    process.exit(2);
  }
  return n;
}

for (const arg of process.argv.slice(2)) {
  if (arg === '--help' || arg === '-h') {
    console.log('usage: node bench/mcp.mjs   (settings in the environment: see bench/README.md)');
    process.exit(0);
  }
  console.error(`✗ unknown argument ${JSON.stringify(arg)}; usage: node bench/mcp.mjs`);
  process.exit(2);
}

const CONNECTIONS = intSetting('BENCH_CONNECTIONS', 20, 1);
const DURATION_S = intSetting('BENCH_DURATION_S', 10, 1);
const WARMUP_S = intSetting('BENCH_WARMUP_S', 10, 0);
const SEQUENTIAL_CALLS = intSetting('BENCH_SEQUENTIAL_CALLS', 2000, 1);
const SEQUENTIAL_WARMUP = intSetting('BENCH_SEQUENTIAL_WARMUP', 200, 0);
const SEQUENTIAL_SLICES = Math.min(5, SEQUENTIAL_CALLS);
const MCP_PORT = intSetting('MCP_PORT', 0, 0); // 0: a free port
const SESSIONS_TEXT = `${CONNECTIONS} session${CONNECTIONS === 1 ? '' : 's'}`;

const TOOL = 'notes.search';
const ARGS = { query: 'gateway', limit: 5 };
const AGENT_ID = 'mcp-bench';
const AGENT_KEY = `mcpbench-${randomBytes(12).toString('hex')}`;
const RATE_LIMIT = 100_000_000; // per agent per window: far above anything a run can send
const CALL_TIMEOUT_MS = 10_000;
const DRAIN_TIMEOUT_MS = 60_000;
const SERVICE_LOG_LINES_SHOWN = 20;
const TRACE_META = 'securegateway/trace_id';
/** What ContextForge reports for MCP over Streamable HTTP, as issue 11 quotes it (not measured here). */
const CONTEXTFORGE = {
  calls_per_s_per_pod: [250, 400],
  note: 'as quoted in issue 11; hardware, concurrency and tool not stated there',
};

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const AUDIT_CONSUMER = process.env.AUDIT_CONSUMER || 'audit';

const runTag = `bench${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const isolation = {
  subjectPrefix: runTag,
  streamName: `${runTag}_GW_EVENTS`,
  redisPrefix: `${runTag}:`,
  schema: `bench_${runTag.slice('bench'.length)}`.toLowerCase(),
};

let interrupted = false;

// ---------------------------------------------------------------------------------------------
// Helpers (the same as bench/gateway.mjs's, which runs on import and so cannot be imported)

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function distinctFreePorts(n, taken) {
  const ports = new Set();
  while (ports.size < n) {
    const p = await freePort();
    if (p !== taken) ports.add(p);
  }
  return [...ports];
}

/** Exact percentile (nearest rank) of an ascending array. */
function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

function latencySummary(latencies) {
  const sorted = Float64Array.from(latencies).sort();
  const mean = sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : null;
  return {
    mean: round(mean, 3),
    p50: round(percentile(sorted, 50), 3),
    p90: round(percentile(sorted, 90), 3),
    p99: round(percentile(sorted, 99), 3),
    max: round(sorted.length ? sorted[sorted.length - 1] : null, 3),
  };
}

const round = (x, digits = 2) => (x === null || x === undefined ? null : Number(x.toFixed(digits)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const minus = (a, b) => (a === null || b === null ? null : a - b);
const fmt = (x, digits = 2) => (x === null || x === undefined ? 'n/a' : x.toFixed(digits));
const signed = (x, digits = 2) =>
  x === null || x === undefined ? 'n/a' : `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;
const loadAverage = () => os.loadavg().map((x) => round(x, 2));

function table(rows, header) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells
      .map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])))
      .join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Runs a Node script to its end; rejects with its output when it fails. */
function runScript(script, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (out += c));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${script} exited with ${code}: ${out}`)),
    );
  });
}

/** Starts the example MCP server; resolves with the child once GET /health answers. */
function startMcpServer(port) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'examples/mcp-server/server.mjs'), '--http'],
      {
        cwd: ROOT,
        env: { ...process.env, MCP_PORT: String(port), MCP_HOST: '127.0.0.1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let log = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (log += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (log += c));
    child.log = () => log;
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(new Error(`the MCP server exited during start (${code ?? signal}): ${log}`)),
    );
    const deadline = Date.now() + 10_000;
    const poll = async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`, {
          signal: AbortSignal.timeout(1000),
        });
        if (res.ok) return resolve(child);
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        return reject(
          new Error(`the MCP server did not answer on port ${port} within 10 s: ${log}`),
        );
      }
      setTimeout(poll, 100);
    };
    poll();
  });
}

function stopChild(child) {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => (clearTimeout(timer), resolve()));
    child.kill('SIGTERM');
  });
}

/**
 * A copy of examples/config with `notes.search` as scripts/import-mcp-tools.mjs writes it (pin
 * included), and an agent of this run allowed to call it with a rate limit the load cannot reach.
 */
async function prepareConfig(mcpUrl) {
  const dir = mkdtempSync(join(os.tmpdir(), 'sg-bench-mcp-'));
  const configDir = join(dir, 'config');
  cpSync(join(ROOT, 'examples/config'), configDir, { recursive: true });

  const imported = join(dir, 'imported');
  await runScript(join(ROOT, 'scripts/import-mcp-tools.mjs'), ['--url', mcpUrl, '--out', imported]);
  const toolFile = join(imported, `${TOOL}.json`);
  const tool = JSON.parse(readFileSync(toolFile, 'utf8'));
  if (tool.upstream?.type !== 'mcp' || tool.upstream.url !== mcpUrl || tool.writes !== false)
    throw new Error(`import-mcp-tools wrote an unexpected ${TOOL}: ${JSON.stringify(tool)}`);
  copyFileSync(toolFile, join(configDir, 'tools', `${TOOL}.json`));

  const policyFile = join(configDir, 'policies/default.yaml');
  const policy = parseDocument(readFileSync(policyFile, 'utf8'));
  if (!policy.hasIn(['rate_limits', 'agent', 'limit']))
    throw new Error(`${policyFile} has no rate_limits.agent.limit`);
  policy.setIn(['rate_limits', 'agent', 'limit'], RATE_LIMIT);
  policy.addIn(['rules'], policy.createNode({ model: AGENT_ID, allow_tools: [TOOL] }));
  writeFileSync(policyFile, policy.toString());

  const keysFile = join(configDir, 'model_keys/default.yaml');
  const keys = parseDocument(readFileSync(keysFile, 'utf8'));
  keys.setIn(['models', AGENT_ID], keys.createNode({ key: AGENT_KEY, tools: [TOOL] }));
  writeFileSync(keysFile, keys.toString());
  return { dir, configDir, tool };
}

// ---------------------------------------------------------------------------------------------
// MCP clients

/**
 * One MCP session: the SDK's Client on a StreamableHTTPClientTransport, as an agent would open
 * it (initialize, then the session's GET stream where the server offers one). Errors the
 * transport reports outside a call (its GET stream failing) are counted as failures too.
 */
async function openSession(url, headers) {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: 'sg-bench', version: '1.0.0' }, { capabilities: {} });
  const s = { client, transport, transportErrors: 0, firstTransportError: null, closing: false };
  client.onerror = (err) => {
    if (s.closing) return;
    if (s.transportErrors++ === 0) s.firstTransportError = err?.message ?? String(err);
  };
  await client.connect(transport, { timeout: CALL_TIMEOUT_MS });
  return s;
}

async function closeSession(s) {
  s.closing = true;
  await s.transport.terminateSession().catch(() => undefined); // DELETE, where there is a session
  await s.client.close().catch(() => undefined);
}

const callTool = (s) =>
  s.client.callTool({ name: TOOL, arguments: ARGS }, undefined, { timeout: CALL_TIMEOUT_MS });

/**
 * The same tool through the gateway's REST endpoint (POST /api/tools/call), for context: the
 * governed path and the executor's MCP client without the MCP front door. A "session" here is
 * only a place for the counters; fetch keeps its connections alive as the SDK's transport does.
 */
function restTarget(base, key) {
  let seq = 0;
  const url = `${base}/api/tools/call`;
  const headers = { 'x-api-key': key, 'content-type': 'application/json' };
  return {
    key: 'rest',
    label: 'gateway REST (info)',
    url,
    open: async () => ({ transportErrors: 0, firstTransportError: null, close: async () => {} }),
    call: async () => {
      const res = await fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          agent_id: AGENT_ID,
          agent_version: '1.0.0',
          request_id: `${runTag}-${++seq}`,
          tool: TOOL,
          arguments: ARGS,
        }),
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
      const text = await res.text();
      try {
        return { status: res.status, body: JSON.parse(text) };
      } catch {
        return { status: res.status, text };
      }
    },
    check: (r) =>
      r.status === 200 && r.body?.success === true && Array.isArray(r.body.result?.notes),
  };
}

/** A target spoken to with the SDK's client. */
function mcpTarget({ key, label, url, headers, check }) {
  return {
    key,
    label,
    url,
    open: async () => {
      const s = await openSession(url, headers);
      s.close = () => closeSession(s);
      return s;
    },
    call: callTool,
    check,
  };
}

/** The tool's answer: notes found, not an error result. */
function isNotes(result) {
  return (
    result?.isError !== true &&
    Array.isArray(result?.structuredContent?.notes) &&
    result.structuredContent.notes.length > 0
  );
}

const short = (value) => JSON.stringify(value)?.slice(0, 2000);

// ---------------------------------------------------------------------------------------------
// Load: every session calls in a loop (closed loop) for the duration

/**
 * Calls on every session in a loop until `durationS` has passed. A call that succeeds after the
 * end is not counted (as autocannon drops what is in flight); a failure at any time is.
 */
async function load(target, sessions, durationS) {
  const latencies = [];
  let completed = 0;
  let failures = 0;
  let firstFailure = null;
  const transportBefore = sessions.reduce((n, s) => n + s.transportErrors, 0);
  const start = performance.now();
  const end = start + durationS * 1000;
  const fail = (what) => {
    if (failures++ === 0) firstFailure = what;
  };
  await Promise.all(
    sessions.map(async (s) => {
      while (!interrupted && performance.now() < end) {
        const t0 = performance.now();
        let result;
        try {
          result = await target.call(s);
        } catch (err) {
          completed++;
          fail({ error: err?.message ?? String(err) });
          continue;
        }
        const t1 = performance.now();
        completed++;
        if (!target.check(result)) fail({ result: short(result) });
        else if (t1 <= end) latencies.push(t1 - t0);
      }
    }),
  );
  const transportErrors = sessions.reduce((n, s) => n + s.transportErrors, 0) - transportBefore;
  return {
    label: target.label,
    url: target.url,
    sessions: sessions.length,
    duration_s: durationS,
    calls_ok: latencies.length,
    calls_completed: completed,
    calls_per_s: latencies.length / durationS,
    latency_ms: latencySummary(latencies),
    failures,
    first_failure: firstFailure,
    transport_errors: transportErrors,
    first_transport_error:
      transportErrors > 0
        ? (sessions.find((s) => s.firstTransportError)?.firstTransportError ?? null)
        : null,
  };
}

// ---------------------------------------------------------------------------------------------
// CPU per call, from /proc (user + system time), per process id (as bench/gateway.mjs reads it)

const TICK_MS = 10; // USER_HZ is 100 on Linux

function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  } catch {
    return 0;
  }
}

function pidsOf(command) {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === command) out.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return out;
}

function ticksSampler(groups) {
  return () =>
    Object.fromEntries(
      Object.entries(groups()).map(([name, pids]) => [
        name,
        Object.fromEntries(pids.map((pid) => [pid, cpuTicks(pid)])),
      ]),
    );
}

function cpuPerCall(before, after, calls) {
  const rows = Object.entries(after).map(([name, pids]) => {
    const ticks = Object.entries(pids).reduce(
      (n, [pid, t]) => n + Math.max(0, t - (before[name]?.[pid] ?? 0)),
      0,
    );
    return [name, calls > 0 ? round((ticks * TICK_MS) / calls, 3) : null];
  });
  const total = round(
    rows.reduce((n, [, ms]) => n + (ms ?? 0), 0),
    3,
  );
  return { per_process_ms: Object.fromEntries(rows), total_ms: total };
}

/** The audit consumer's backlog reaches 0 (three polls in a row), or the timeout passes. */
async function waitAuditDrained(jsm, since) {
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  let zeros = 0;
  let zeroAt = null;
  let last = null;
  while (!interrupted && performance.now() < deadline) {
    const t = performance.now();
    try {
      const ci = await jsm.consumers.info(isolation.streamName, AUDIT_CONSUMER);
      last = ci.num_pending + ci.num_ack_pending;
    } catch (err) {
      last = `error: ${err.message}`;
    }
    if (last === 0) {
      if (zeros++ === 0) zeroAt = t;
      if (zeros >= 3) return { drained: true, seconds: round((zeroAt - since) / 1000, 3) };
    } else {
      zeros = 0;
    }
    await sleep(100);
  }
  return { drained: false, seconds: null, backlog_at_timeout: last };
}

/** A warm-up (not counted) and the measured load, with the CPU of `sample`'s processes. */
async function phase(target, sessions, { sample, settle }) {
  let warmup = null;
  if (WARMUP_S > 0) {
    process.stderr.write(`… ${target.label}: warm-up ${WARMUP_S} s\n`);
    warmup = await load(target, sessions, WARMUP_S);
    if (interrupted) return { warmup, measured: null };
  }
  process.stderr.write(`… ${target.label}: measuring ${DURATION_S} s with ${SESSIONS_TEXT}\n`);
  const before = sample();
  const measured = await load(target, sessions, DURATION_S);
  const endedAt = performance.now();
  // The gateway audits each call after answering it: its cost is counted once the backlog is gone.
  const [drain] = await Promise.all([settle?.(endedAt), sleep(settle ? 2000 : 0)]);
  if (drain) measured.audit_drain = drain;
  measured.cpu_per_call = cpuPerCall(before, sample(), measured.calls_completed);
  return { warmup, measured };
}

/**
 * One session per target, one call after another, the targets alternating in slices so that
 * other work on the machine affects both alike. Each call is timed around client.callTool().
 */
async function sequential(targets) {
  const state = targets.map((t) => ({ t, latencies: [], failures: 0, firstFailure: null }));
  const one = async (s, counted) => {
    const started = performance.now();
    let result;
    try {
      result = await s.t.call(s.t.session);
    } catch (err) {
      if (counted && s.failures++ === 0) s.firstFailure = { error: err?.message ?? String(err) };
      return;
    }
    const ms = performance.now() - started;
    if (!counted) return;
    if (s.t.check(result)) s.latencies.push(ms);
    else if (s.failures++ === 0) s.firstFailure = { result: short(result) };
  };
  process.stderr.write(
    `… sequential: ${SEQUENTIAL_WARMUP} warm-up calls, then ${SEQUENTIAL_CALLS} measured, for each of ${targets.length}\n`,
  );
  for (const s of state)
    for (let i = 0; i < SEQUENTIAL_WARMUP && !interrupted; i++) await one(s, false);
  for (let slice = 0; slice < SEQUENTIAL_SLICES && !interrupted; slice++) {
    const n =
      Math.floor((SEQUENTIAL_CALLS * (slice + 1)) / SEQUENTIAL_SLICES) -
      Math.floor((SEQUENTIAL_CALLS * slice) / SEQUENTIAL_SLICES);
    for (const s of state) for (let i = 0; i < n && !interrupted; i++) await one(s, true);
  }
  return Object.fromEntries(
    state.map((s) => [
      s.t.key,
      {
        label: s.t.label,
        calls: s.latencies.length + s.failures,
        ok: s.latencies.length,
        failures: s.failures,
        latency_ms: latencySummary(s.latencies),
        first_failure: s.firstFailure,
        transport_errors: s.t.session.transportErrors,
      },
    ]),
  );
}

// ---------------------------------------------------------------------------------------------
// Report

function summarize({ direct, gateway, rest }, seq) {
  const ratio = (a, b) => (b.calls_per_s > 0 ? round(a.calls_per_s / b.calls_per_s, 4) : null);
  const added = (a, b) => ({
    p50_ms: round(minus(a.latency_ms.p50, b.latency_ms.p50), 3),
    p99_ms: round(minus(a.latency_ms.p99, b.latency_ms.p99), 3),
  });
  return {
    added_latency_ms: added(gateway, direct),
    throughput_ratio: ratio(gateway, direct),
    sequential_added_latency_ms: added(seq.gateway, seq.direct),
    // What the gateway's own processes and servers spend per call (not the client, not the upstream).
    gateway_cpu_per_call_ms: gatewayCpu(gateway.cpu_per_call),
    // For context: the same tool over the REST endpoint, i.e. without the MCP front door.
    rest: {
      throughput_ratio_mcp_to_rest: ratio(gateway, rest),
      sequential_mcp_minus_rest_ms: added(seq.gateway, seq.rest),
      gateway_cpu_per_call_ms: gatewayCpu(rest.cpu_per_call),
    },
  };
}

const NOT_GATEWAY = new Set(['bench client', 'upstream']);
function gatewayCpu(cpu) {
  if (!cpu) return null;
  return round(
    Object.entries(cpu.per_process_ms)
      .filter(([name]) => !NOT_GATEWAY.has(name))
      .reduce((n, [, ms]) => n + (ms ?? 0), 0),
    3,
  );
}

function printReport({ measured, seq, summary, machine, loadAtEnd }) {
  const { direct, gateway, rest } = measured;
  const out = [''];
  out.push(
    `SecureGateway MCP benchmark — tools/call ${TOOL}, ${SESSIONS_TEXT} per target, ${DURATION_S} s measured after ${WARMUP_S} s warm-up`,
  );
  out.push(
    `machine: ${machine.cpus} × ${machine.cpu_model}, ${machine.platform} ${machine.release}, node ${machine.node}`,
  );
  out.push(
    `load average: ${machine.load_average_at_start.join(' ')} at start, ${loadAtEnd.join(' ')} at end (other work skews the figures)`,
  );
  out.push('');
  const row = (r) => [
    r.label,
    fmt(r.calls_per_s, 0),
    fmt(r.latency_ms.p50),
    fmt(r.latency_ms.p99),
    r.failures + r.transport_errors,
  ];
  out.push(
    table(
      [row(direct), row(gateway), row(rest)],
      ['target', 'calls/s', 'p50 ms', 'p99 ms', 'errors'],
    ),
  );
  out.push('');
  out.push(
    `gateway adds: p50 ${signed(summary.added_latency_ms.p50_ms)} ms, p99 ${signed(summary.added_latency_ms.p99_ms)} ms`,
  );
  out.push(
    `throughput ratio (gateway /mcp / upstream direct): ${fmt(summary.throughput_ratio, 3)}`,
  );
  out.push(
    `throughput ratio (gateway /mcp / gateway REST, same tool): ${fmt(summary.rest.throughput_ratio_mcp_to_rest, 3)}`,
  );
  const [lo, hi] = CONTEXTFORGE.calls_per_s_per_pod;
  out.push(
    `ContextForge reports about ${lo}–${hi} calls/s per pod for MCP over Streamable HTTP (${CONTEXTFORGE.note}); ` +
      `ours: ${fmt(gateway.calls_per_s, 0)} calls/s through /mcp, with the whole gateway (six services, NATS, Redis, PostgreSQL), ` +
      `the load generator and the upstream on these ${machine.cpus} CPUs`,
  );

  const names = [
    ...new Set([direct, gateway, rest].flatMap((r) => Object.keys(r.cpu_per_call.per_process_ms))),
  ];
  out.push('');
  out.push(
    'CPU per call (ms, user+system, from /proc; the gateway columns include auditing the call):',
  );
  const cpuOf = (r, n) => fmt(r.cpu_per_call.per_process_ms[n], 3);
  out.push(
    table(
      names
        .map((n) => [n, cpuOf(direct, n), cpuOf(gateway, n), cpuOf(rest, n)])
        .concat([
          [
            'total',
            fmt(direct.cpu_per_call.total_ms, 3),
            fmt(gateway.cpu_per_call.total_ms, 3),
            fmt(rest.cpu_per_call.total_ms, 3),
          ],
        ]),
      ['process', 'direct', 'gateway /mcp', 'gateway REST'],
    ),
  );
  out.push(
    `the gateway's own processes and servers: ${fmt(summary.gateway_cpu_per_call_ms, 3)} ms per /mcp call, ` +
      `${fmt(summary.rest.gateway_cpu_per_call_ms, 3)} ms per REST call`,
  );

  out.push('');
  out.push(
    `sequential: one session per target, ${SEQUENTIAL_CALLS} calls each after ${SEQUENTIAL_WARMUP} warm-up, alternating in ${SEQUENTIAL_SLICES} slices`,
  );
  const srow = (r) => [
    r.label,
    r.ok,
    fmt(r.latency_ms.p50, 3),
    fmt(r.latency_ms.p99, 3),
    fmt(r.latency_ms.mean, 3),
    fmt(r.latency_ms.max, 3),
    r.failures + r.transport_errors,
  ];
  out.push(
    table(
      [srow(seq.direct), srow(seq.gateway), srow(seq.rest)],
      ['call', 'calls', 'p50 ms', 'p99 ms', 'mean ms', 'max ms', 'failed'],
    ),
  );
  const sa = summary.sequential_added_latency_ms;
  const sr = summary.rest.sequential_mcp_minus_rest_ms;
  out.push(
    `added latency (gateway /mcp − direct): p50 ${signed(sa.p50_ms, 3)} ms, p99 ${signed(sa.p99_ms, 3)} ms`,
  );
  out.push(
    `the MCP front door (gateway /mcp − gateway REST): p50 ${signed(sr.p50_ms, 3)} ms, p99 ${signed(sr.p99_ms, 3)} ms`,
  );
  out.push('');
  process.stdout.write(`${out.join('\n')}\n`);
}

// ---------------------------------------------------------------------------------------------
// Clean-up

async function cleanup(r) {
  const problems = [];
  const attempt = async (what, fn) => {
    try {
      await fn();
    } catch (err) {
      problems.push(`${what}: ${err.message}`);
    }
  };
  await Promise.all(r.sessions.map((s) => s.close()));
  if (r.nc) await attempt('close the NATS connection', () => r.nc.close());
  if (r.stack) await attempt('stop the gateway', () => r.stack.stop());
  if (r.upstream) await attempt('stop the MCP server', () => stopChild(r.upstream));
  await attempt(`delete JetStream stream ${isolation.streamName}`, async () => {
    const nc = await natsConnect({ servers: NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(isolation.streamName).catch((err) => {
        if (!/stream not found/i.test(err.message)) throw err;
      });
    } finally {
      await nc.close();
    }
  });
  await attempt(`delete Redis keys ${isolation.redisPrefix}*`, async () => {
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
    try {
      await redis.connect();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(
          cursor,
          'MATCH',
          `${isolation.redisPrefix}*`,
          'COUNT',
          1000,
        );
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  });
  await attempt(`drop schema ${isolation.schema}`, async () => {
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${isolation.schema}" CASCADE`);
    } finally {
      await client.end();
    }
  });
  if (r.tmpDir)
    await attempt(`remove ${r.tmpDir}`, async () =>
      rmSync(r.tmpDir, { recursive: true, force: true }),
    );
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Main

for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

async function main() {
  const problems = await preflight({ NATS_URL, REDIS_URL, DATABASE_URL });
  if (problems.length > 0) {
    for (const p of problems) console.error(`✗ ${p}`);
    return 1;
  }
  const machine = machineInfo();
  if (machine.load_average_at_start[0] > machine.cpus * 0.5)
    process.stderr.write(
      `! load average is ${machine.load_average_at_start[0]} on ${machine.cpus} CPUs: other work will skew the figures\n`,
    );

  const mcpPort = MCP_PORT || (await freePort());
  const [ingressPort, federationPort] = await distinctFreePorts(2, mcpPort);
  const resources = { stack: null, upstream: null, nc: null, tmpDir: null, sessions: [] };
  const serviceLog = { shown: 0, suppressed: 0, last: [] };
  let exitCode = 0;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write('\ninterrupted: stopping and cleaning up…\n');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const mcpUrl = `http://127.0.0.1:${mcpPort}/mcp`;
    resources.upstream = await startMcpServer(mcpPort);
    const { dir, configDir, tool } = await prepareConfig(mcpUrl);
    resources.tmpDir = dir;
    process.stderr.write(
      `… MCP server on ${mcpUrl}, ${TOOL} registered (pin ${tool.upstream.pin_sha256?.slice(0, 12) ?? 'none'}…); starting the gateway (prefix ${runTag})\n`,
    );
    if (interrupted) return 130;

    resources.stack = await startStack({
      env: {
        NODE_ENV: 'production',
        PORT: String(ingressPort),
        HOST: '127.0.0.1',
        HEALTH_PORT: '0',
        FEDERATION_PORT: String(federationPort),
        CONFIG_DIR: configDir,
        SUBJECT_PREFIX: isolation.subjectPrefix,
        REDIS_PREFIX: isolation.redisPrefix,
        DATABASE_SCHEMA: isolation.schema,
        NATS_URL,
        REDIS_URL,
        DATABASE_URL,
        LOG_LEVEL: 'warn',
        LOG_PRETTY: 'false',
      },
      upstream: false,
      readyTimeoutMs: 60_000,
      output: (line) => {
        serviceLog.last.push(line);
        if (serviceLog.last.length > 20) serviceLog.last.shift();
        if (serviceLog.shown < SERVICE_LOG_LINES_SHOWN) {
          serviceLog.shown++;
          process.stderr.write(line);
        } else serviceLog.suppressed++;
      },
    });
    process.stderr.write(`… gateway ready at ${resources.stack.url}\n`);
    if (interrupted) return 130;
    resources.nc = await natsConnect({ servers: NATS_URL });
    const jsm = await jetstreamManager(resources.nc);

    const direct = mcpTarget({
      key: 'direct',
      label: 'upstream direct',
      url: mcpUrl,
      headers: {},
      check: isNotes,
    });
    const gateway = mcpTarget({
      key: 'gateway',
      label: 'gateway /mcp',
      url: `${resources.stack.url}/mcp`,
      headers: { 'X-API-Key': AGENT_KEY },
      // The tool's result, passed through, with the gateway's trace id.
      check: (r) => isNotes(r) && typeof r._meta?.[TRACE_META] === 'string',
    });
    const rest = restTarget(resources.stack.url, AGENT_KEY);
    const targets = [direct, gateway, rest];
    const open = async (target, n) => {
      const sessions = [];
      for (let i = 0; i < n; i++) {
        const s = await target.open();
        resources.sessions.push(s);
        sessions.push(s);
      }
      return sessions;
    };

    // One call each way first, so a misconfiguration fails fast with a readable answer.
    for (const target of targets) {
      const [probe] = await open(target, 1);
      const result = await target.call(probe);
      if (!target.check(result)) {
        console.error(`✗ ${target.label}: a single call before any load failed:\n${short(result)}`);
        return 1;
      }
      target.session = probe; // the sequential calls' session
    }

    const benchPid = process.pid;
    const upstreamPid = resources.upstream.pid;
    const gatewaySample = ticksSampler(() => ({
      'bench client': [benchPid],
      upstream: [upstreamPid],
      ...Object.fromEntries([...resources.stack.children].map(([n, c]) => [n, [c.pid]])),
      'nats-server': pidsOf('nats-server'),
      'redis-server': pidsOf('redis-server'),
      postgres: pidsOf('postgres'),
    }));
    const loads = {};
    loads.direct = await phase(direct, await open(direct, CONNECTIONS), {
      sample: ticksSampler(() => ({ 'bench client': [benchPid], upstream: [upstreamPid] })),
    });
    if (interrupted) return 130;
    for (const target of [gateway, rest]) {
      loads[target.key] = await phase(target, await open(target, CONNECTIONS), {
        sample: gatewaySample,
        settle: (since) => waitAuditDrained(jsm, since),
      });
      if (interrupted) return 130;
    }
    const seq = await sequential(targets);
    if (interrupted) return 130;

    const loadAtEnd = loadAverage();
    const measured = Object.fromEntries(Object.entries(loads).map(([k, v]) => [k, v.measured]));
    const summary = summarize(measured, seq);
    printReport({ measured, seq, summary, machine, loadAtEnd });

    const failures = [];
    for (const r of [...Object.values(measured), ...Object.values(seq)]) {
      if (r.failures > 0)
        failures.push(`${r.label}: ${r.failures} failed calls; first: ${short(r.first_failure)}`);
      if (r.transport_errors > 0)
        failures.push(
          `${r.label}: ${r.transport_errors} transport errors; first: ${r.first_transport_error ?? 'see the sessions'}`,
        );
    }
    for (const e of resources.stack.exits)
      failures.push(`service ${e.name} exited during the run (code ${e.code ?? e.signal})`);
    if (resources.upstream.exitCode !== null)
      failures.push(
        `the MCP server exited during the run: ${resources.upstream.log().slice(-500)}`,
      );
    for (const r of Object.values(measured))
      if (r.audit_drain && !r.audit_drain.drained)
        process.stderr.write(
          `! ${r.label}: the audit consumer did not drain within ${DRAIN_TIMEOUT_MS / 1000} s; its CPU per call misses part of the audit\n`,
        );
    for (const { warmup: w } of Object.values(loads))
      if (w && w.failures + w.transport_errors > 0)
        process.stderr.write(
          `! ${w.label} warm-up (not counted): ${w.failures} failed calls, ${w.transport_errors} transport errors; first: ${short(w.first_failure ?? w.first_transport_error)}\n`,
        );
    if (serviceLog.suppressed > 0) {
      process.stderr.write(
        `! the services logged ${serviceLog.shown + serviceLog.suppressed} lines at warn or above; the last ones:\n`,
      );
      for (const line of serviceLog.last) process.stderr.write(line);
    }

    const results = {
      benchmark: 'mcp',
      timestamp: new Date().toISOString(),
      run_tag: runTag,
      settings: {
        sessions: CONNECTIONS,
        duration_s: DURATION_S,
        warmup_s: WARMUP_S,
        sequential_calls: SEQUENTIAL_CALLS,
        sequential_warmup: SEQUENTIAL_WARMUP,
        sequential_slices: SEQUENTIAL_SLICES,
        tool: TOOL,
        arguments: ARGS,
        agent_id: AGENT_ID,
        call_timeout_ms: CALL_TIMEOUT_MS,
      },
      machine: { ...machine, load_average_at_end: loadAtEnd },
      git: gitInfo(),
      upstream_direct: measured.direct,
      gateway: measured.gateway,
      gateway_rest: measured.rest,
      sequential: seq,
      ...summary,
      contextforge_reference: CONTEXTFORGE,
      warmup: Object.fromEntries(Object.entries(loads).map(([k, v]) => [k, v.warmup])),
      service_log_lines: serviceLog.shown + serviceLog.suppressed,
      failures,
      passed: failures.length === 0,
    };
    const resultsDir = join(ROOT, 'bench/results');
    mkdirSync(resultsDir, { recursive: true });
    const file = join(resultsDir, `mcp-${results.timestamp.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    if (failures.length > 0) {
      console.error('\n✗ the benchmark is not valid: some calls failed');
      for (const f of failures) console.error(`  - ${f}`);
      exitCode = 1;
    }
    process.stdout.write(`results: ${relative(process.cwd(), file) || file}\n`);
  } catch (err) {
    console.error(`✗ ${err.message}`);
    exitCode = 1;
  } finally {
    const problems = await cleanup(resources);
    for (const p of problems) console.error(`! cleanup: could not ${p}`);
  }
  return interrupted ? 130 : exitCode;
}

process.exitCode = await main();
// Stray handles (sockets of closed sessions) must not keep the process alive.
setTimeout(() => process.exit(process.exitCode), 200).unref();
