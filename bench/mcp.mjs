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
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../scripts/stack.mjs';
import {
  auditBacklog,
  benchIsolation,
  cleanUp,
  copyExampleConfig,
  cpuPerCall,
  describeMachine,
  displayPath,
  distinctFreePorts,
  DRAIN_TIMEOUT_MS,
  editYaml,
  fmt,
  freePort,
  gitInfo,
  isolationCleanup,
  latencySummary,
  loadAverage,
  loadSettings,
  machineInfo,
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
  setting,
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

for (const arg of process.argv.slice(2)) {
  if (arg === '--help' || arg === '-h') {
    console.log('usage: node bench/mcp.mjs   (settings in the environment: see bench/README.md)');
    process.exit(0);
  }
  console.error(`✗ unknown argument ${JSON.stringify(arg)}; usage: node bench/mcp.mjs`);
  process.exit(2);
}

const SETTINGS = loadSettings();
const {
  CONNECTIONS,
  DURATION_S,
  WARMUP_S,
  SEQUENTIAL_CALLS,
  SEQUENTIAL_WARMUP,
  SEQUENTIAL_SLICES,
} = SETTINGS;
const MCP_PORT = setting('MCP_PORT', 0, { allowZero: true }); // 0: a free port
const SESSIONS_TEXT = `${CONNECTIONS} session${CONNECTIONS === 1 ? '' : 's'}`;

const TOOL = 'notes.search';
const ARGS = { query: 'gateway', limit: 5 };
const AGENT_ID = 'mcp-bench';
const AGENT_KEY = `mcpbench-${randomBytes(12).toString('hex')}`;
const CALL_TIMEOUT_MS = 10_000;
const TRACE_META = 'securegateway/trace_id';
/** What ContextForge reports for MCP over Streamable HTTP, as issue 11 quotes it (not measured here). */
const CONTEXTFORGE = {
  calls_per_s_per_pod: [250, 400],
  note: 'as quoted in issue 11; hardware, concurrency and tool not stated there',
};

const isolation = benchIsolation();
const { runTag } = isolation;

let interrupted = false;

// ---------------------------------------------------------------------------------------------
// Helpers

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

/**
 * A copy of examples/config with `notes.search` as scripts/import-mcp-tools.mjs writes it (pin
 * included), and an agent of this run allowed to call it with a rate limit the load cannot reach.
 */
async function prepareConfig(mcpUrl) {
  const { dir, configDir } = copyExampleConfig('sg-bench-mcp-', (policy) =>
    policy.addIn(['rules'], policy.createNode({ model: AGENT_ID, allow_tools: [TOOL] })),
  );

  const imported = join(dir, 'imported');
  await runScript(join(ROOT, 'scripts/import-mcp-tools.mjs'), ['--url', mcpUrl, '--out', imported]);
  const toolFile = join(imported, `${TOOL}.json`);
  const tool = JSON.parse(readFileSync(toolFile, 'utf8'));
  if (tool.upstream?.type !== 'mcp' || tool.upstream.url !== mcpUrl || tool.writes !== false)
    throw new Error(`import-mcp-tools wrote an unexpected ${TOOL}: ${JSON.stringify(tool)}`);
  copyFileSync(toolFile, join(configDir, 'tools', `${TOOL}.json`));
  editYaml(join(configDir, 'model_keys/default.yaml'), (keys) =>
    keys.setIn(['models', AGENT_ID], keys.createNode({ key: AGENT_KEY, tools: [TOOL] })),
  );
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
// Phases

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
  await takeTurns(state, one, {
    warmup: SEQUENTIAL_WARMUP,
    calls: SEQUENTIAL_CALLS,
    slices: SEQUENTIAL_SLICES,
    stopped: () => interrupted,
  });
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
  out.push(describeMachine(machine));
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
  await Promise.all(r.sessions.map((s) => s.close()));
  await cleanUp([
    r.nc && ['close the NATS connection', () => r.nc.close()],
    r.stack && ['stop the gateway', () => r.stack.stop()],
    r.upstream && ['stop the MCP server', () => stopChild(r.upstream)],
    ...isolationCleanup(isolation, r.tmpDir),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  if (!(await serversReachable())) return 1;
  const machine = machineInfo();
  warnIfBusy(machine);

  const mcpPort = MCP_PORT || (await freePort());
  const [ingressPort, federationPort] = await distinctFreePorts(2, mcpPort);
  const resources = { stack: null, upstream: null, nc: null, tmpDir: null, sessions: [] };
  onInterrupt(() => (interrupted = true));
  return runThenCleanUp(
    () => measure(machine, { mcpPort, ingressPort, federationPort }, resources),
    () => cleanup(resources),
    () => interrupted,
  );
}

/** Starts everything, loads each target, reports; returns the exit code. */
async function measure(machine, { mcpPort, ingressPort, federationPort }, resources) {
  const serviceLog = serviceLogger();
  let exitCode = 0;

  const mcpUrl = `http://127.0.0.1:${mcpPort}/mcp`;
  resources.upstream = await startServer({
    label: 'MCP server',
    script: join(ROOT, 'examples/mcp-server/server.mjs'),
    args: ['--http'],
    env: { MCP_PORT: String(mcpPort), MCP_HOST: '127.0.0.1' },
    port: mcpPort,
  });
  const { dir, configDir, tool } = await prepareConfig(mcpUrl);
  resources.tmpDir = dir;
  process.stderr.write(
    `… MCP server on ${mcpUrl}, ${TOOL} registered (pin ${tool.upstream.pin_sha256?.slice(0, 12) ?? 'none'}…); starting the gateway (prefix ${runTag})\n`,
  );
  if (interrupted) return 130;

  resources.stack = await startIsolatedStack({
    isolation,
    ports: { ingress: ingressPort, federation: federationPort },
    configDir,
    log: serviceLog,
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
    ...stackPids(resources.stack),
    ...serverPids(),
  }));
  const loads = {};
  loads.direct = await phase(direct, await open(direct, CONNECTIONS), {
    sample: ticksSampler(() => ({ 'bench client': [benchPid], upstream: [upstreamPid] })),
  });
  if (interrupted) return 130;
  for (const target of [gateway, rest]) {
    loads[target.key] = await phase(target, await open(target, CONNECTIONS), {
      sample: gatewaySample,
      settle: (since) =>
        waitDrained(
          () => auditBacklog(jsm, isolation),
          since,
          () => interrupted,
        ),
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
    failures.push(`the MCP server exited during the run: ${resources.upstream.log().slice(-500)}`);
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
  serviceLog.printSuppressed();

  const results = {
    benchmark: 'mcp',
    timestamp: new Date().toISOString(),
    run_tag: runTag,
    settings: {
      ...recordedSettings(SETTINGS, 'sessions'),
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
    service_log_lines: serviceLog.lines(),
    failures,
    passed: failures.length === 0,
  };
  const file = resultsFile('mcp', results.timestamp);
  writeResults(file, results);
  if (failures.length > 0) {
    console.error('\n✗ the benchmark is not valid: some calls failed');
    for (const f of failures) console.error(`  - ${f}`);
    exitCode = 1;
  }
  process.stdout.write(`results: ${displayPath(file)}\n`);
  return exitCode;
}

await runMain(main);
