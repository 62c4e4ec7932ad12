// What forwarding a call to a peer gateway costs: a call of a peer's tool through this gateway
// (federation, docs/federation.md) against the same call of a local tool, in one run.
//
// In one run, on this machine, it:
//   1. starts the example upstream once, and two whole gateways, gw-a and gw-b, each in isolation
//      as bench/gateway.mjs runs one (its own ports, FEDERATION_PORT included, NATS subject
//      prefix and so JetStream stream, Redis key prefix, schema and copy of examples/config, the
//      tools pointing at that upstream); gw-a's trusted_peers.yaml names gw-b and gw-b's names
//      gw-a, one HMAC pair key between them (`{{secret:PAIR}}`, SECRET_PAIR in both stacks'
//      environment); an agent of the run (`fed-bench`) may call `calendar.*` and
//      `gw-b/calendar.*` at gw-a, gw-b lets gw-a call `calendar.*` and its policy lets
//      `gw-a/fed-bench` do so; no rate limit can be reached;
//   2. loads, in turn, each after a warm-up that is not counted (the first forwarded call fetches
//      gw-b's catalogue), with BENCH_CONNECTIONS keep-alive connections in a closed loop:
//      (a) local: POST /api/tools/call at gw-a for calendar.list_events; (b) forwarded: the same
//      call at gw-a with `forward_to: gw-b`; (c) for context, the same local call at gw-b; it reads
//      the CPU time of every process of both gateways from /proc meanwhile;
//   3. times one call after another on one keep-alive connection per target, the targets
//      alternating in slices;
//   4. prints calls/s, p50/p99, what forwarding adds and the ratio of throughputs, and writes
//      bench/results/federation-<timestamp>.json;
//   5. removes everything it created, and exits 1 if any measured call failed: every answer must
//      be 200 with `success: true`, a forwarded one with `remote_decision.status: executed`.
//
// Settings (environment): BENCH_CONNECTIONS (20), BENCH_DURATION_S (10), BENCH_WARMUP_S (10),
// BENCH_SEQUENTIAL_CALLS (2000), BENCH_SEQUENTIAL_WARMUP (200). NATS_URL, REDIS_URL,
// DATABASE_URL and AUDIT_CONSUMER as for the services.
// Exit codes: 0 valid run, 1 invalid (a failed call, a service that exited), 2 bad setting,
// 130 interrupted.
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Client } from 'undici';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
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
    console.log(
      'usage: node bench/federation.mjs   (settings in the environment: see bench/README.md)',
    );
    process.exit(0);
  }
  console.error(`✗ unknown argument ${JSON.stringify(arg)}; usage: node bench/federation.mjs`);
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
const CONNECTIONS_TEXT = `${CONNECTIONS} connection${CONNECTIONS === 1 ? '' : 's'}`;

const GW_A = 'gw-a';
const GW_B = 'gw-b';
const TOOL = 'calendar.list_events';
const ARGS = {};
const AGENT_ID = 'fed-bench';
const AGENT_KEY = `fedbench-${randomBytes(12).toString('hex')}`;
// The pair's shared HMAC key, in both stacks' environment only (the secret store's `env` provider).
const PAIR_SECRET = 'PAIR';
const PAIR_KEY = randomBytes(32).toString('hex');
const PAIR_KEY_ID = `${GW_A}:${GW_B}`;
const CALL_TIMEOUT_MS = 10_000;
// gw-a's settings for gw-b: a timeout no answer under this load comes near, and more call slots
// than there are connections (catalogue fetches take slots too).
const PEER_TIMEOUT_MS = 10_000;
const PEER_MAX_CONCURRENCY = Math.min(10_000, Math.max(64, CONNECTIONS * 2));
// No call of the run names its end user (X-User-Id), so the user limit does not apply; it is
// raised anyway, with any tool limit, as copyExampleConfig raises the agent's.
const RATE_LIMIT = 100_000_000;
// The ingress keeps a peer's catalogue this long (its default unless set in this environment).
const CATALOGUE_TTL_MS = Number(process.env.REMOTE_CATALOGUE_TTL_MS || 30_000);

const isolations = { [GW_A]: benchIsolation(), [GW_B]: benchIsolation() };

let interrupted = false;

// ---------------------------------------------------------------------------------------------
// Configuration of the two gateways

/**
 * A copy of examples/config for one side: `tool` pointing at the run's upstream, the run's agent
 * with `scope` and `rules`, no rate limit within reach, and `peers` as trusted_peers.yaml.
 */
function prepareConfig(side, { upstreamPort, scope, rules, peers }) {
  const { dir, configDir } = copyExampleConfig(`sg-bench-fed-${side}-`, (policy) => {
    for (const scopeName of ['user', 'tool'])
      if (policy.hasIn(['rate_limits', scopeName, 'limit']))
        policy.setIn(['rate_limits', scopeName, 'limit'], RATE_LIMIT);
    for (const rule of rules) policy.addIn(['rules'], policy.createNode(rule));
  });
  const toolFile = join(configDir, 'tools', `${TOOL}.json`);
  const tool = JSON.parse(readFileSync(toolFile, 'utf8'));
  if (tool.upstream?.type !== 'http')
    throw new Error(`examples/config/tools/${TOOL}.json has no http upstream`);
  tool.upstream.url = `http://127.0.0.1:${upstreamPort}/tools/${TOOL}`;
  writeFileSync(toolFile, `${JSON.stringify(tool, null, 2)}\n`);
  editYaml(join(configDir, 'model_keys/default.yaml'), (keys) =>
    keys.setIn(['models', AGENT_ID], keys.createNode({ key: AGENT_KEY, tools: scope })),
  );
  writeFileSync(join(configDir, 'trusted_peers.yaml'), stringify({ self: side, peers }));
  return { dir, configDir };
}

/** One side of the pair in trusted_peers.yaml: the other's /forward, the shared key. */
const peerEntry = (federationPort, extra = {}) => ({
  url: `http://127.0.0.1:${federationPort}/forward`,
  key_id: PAIR_KEY_ID,
  key: `{{secret:${PAIR_SECRET}}}`,
  ...extra,
});

// ---------------------------------------------------------------------------------------------
// Calls: one request on an undici Client (one keep-alive connection, no pipelining)

const short = (value) =>
  (typeof value === 'string' ? value : JSON.stringify(value))?.slice(0, 2000);

/** POST /api/tools/call at `origin`, as the run's agent, with `headers` added. */
function toolCallTarget({ key, label, origin, headers = {}, forwarded, requestIds }) {
  return {
    key,
    label,
    origin,
    url: `${origin}/api/tools/call`,
    headers: { 'x-api-key': AGENT_KEY, 'content-type': 'application/json', ...headers },
    body: () =>
      JSON.stringify({
        agent_id: AGENT_ID,
        agent_version: '1.0.0',
        request_id: requestIds(),
        tool: TOOL,
        arguments: ARGS,
      }),
    /** Why an answer is not the one expected, or null when it is. */
    check(status, text) {
      if (status !== 200) return `HTTP ${status}`;
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        return 'not JSON';
      }
      if (body.success !== true) return 'success is not true';
      if (!Array.isArray(body.result?.events)) return "the result is not the tool's";
      if (forwarded) {
        const remote = body.remote_decision;
        if (remote?.status !== 'executed') return 'remote_decision.status is not executed';
        if (remote.gateway !== GW_B) return `remote_decision.gateway is not ${GW_B}`;
      } else if (body.remote_decision !== undefined) {
        return 'a local call answered with a remote_decision';
      }
      return null;
    },
  };
}

const newClient = (origin) =>
  new Client(origin, {
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: CALL_TIMEOUT_MS,
    bodyTimeout: CALL_TIMEOUT_MS,
  });

/**
 * One call: the body built before the clock starts, timed from sending the request to having
 * read the whole answer. Resolves with { ms, failure } (failure null when the answer is right).
 */
async function callOnce(client, target) {
  const body = target.body();
  const started = performance.now();
  let status;
  let text;
  try {
    const res = await client.request({
      method: 'POST',
      path: '/api/tools/call',
      headers: target.headers,
      body,
    });
    status = res.statusCode;
    text = await res.body.text();
  } catch (err) {
    return { ms: performance.now() - started, failure: { error: err?.message ?? String(err) } };
  }
  const ms = performance.now() - started;
  const why = target.check(status, text);
  return { ms, failure: why ? { why, status, body: short(text) } : null };
}

// ---------------------------------------------------------------------------------------------
// Load: every connection calls in a loop (closed loop) for the duration

/**
 * Calls on every client in a loop until `durationS` has passed. A call that succeeds after the
 * end is not counted (as autocannon drops what is in flight); a failure at any time is.
 */
async function load(target, clients, durationS) {
  const latencies = [];
  let completed = 0;
  let failures = 0;
  let firstFailure = null;
  const end = performance.now() + durationS * 1000;
  await Promise.all(
    clients.map(async (client) => {
      while (!interrupted && performance.now() < end) {
        const { ms, failure } = await callOnce(client, target);
        completed++;
        if (failure) {
          if (failures++ === 0) firstFailure = failure;
        } else if (performance.now() <= end) latencies.push(ms);
      }
    }),
  );
  return {
    label: target.label,
    url: target.url,
    connections: clients.length,
    duration_s: durationS,
    calls_ok: latencies.length,
    calls_completed: completed,
    calls_per_s: latencies.length / durationS,
    latency_ms: latencySummary(latencies),
    failures,
    first_failure: firstFailure,
  };
}

/** A warm-up (not counted) and the measured load, with the CPU of every process per call. */
async function phase(target, { sample, settle }) {
  const clients = Array.from({ length: CONNECTIONS }, () => newClient(target.origin));
  try {
    let warmup = null;
    if (WARMUP_S > 0) {
      process.stderr.write(`… ${target.label}: warm-up ${WARMUP_S} s\n`);
      warmup = await load(target, clients, WARMUP_S);
      if (interrupted) return { warmup, measured: null };
    }
    process.stderr.write(`… ${target.label}: measuring ${DURATION_S} s with ${CONNECTIONS_TEXT}\n`);
    const before = sample();
    const measured = await load(target, clients, DURATION_S);
    const endedAt = performance.now();
    // Both gateways audit each call after answering it: its cost is counted once both
    // backlogs are gone (at least 2 s).
    const [drain] = await Promise.all([settle(endedAt), sleep(2000)]);
    measured.audit_drain = drain;
    measured.cpu_per_call = cpuPerCall(before, sample(), measured.calls_completed);
    return { warmup, measured };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  }
}

/**
 * One keep-alive connection per target, one call after another, the targets alternating in
 * slices so that other work on the machine affects them alike (takeTurns).
 */
async function sequential(targets) {
  const state = targets.map((t) => {
    const client = newClient(t.origin);
    const s = { t, client, latencies: [], failures: 0, firstFailure: null, connects: 0 };
    client.on('connect', () => s.connects++);
    return s;
  });
  const one = async (s, counted) => {
    const { ms, failure } = await callOnce(s.client, s.t);
    if (!counted) return;
    if (!failure) s.latencies.push(ms);
    else if (s.failures++ === 0) s.firstFailure = failure;
  };
  try {
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
          url: s.t.url,
          calls: s.latencies.length + s.failures,
          ok: s.latencies.length,
          failures: s.failures,
          latency_ms: latencySummary(s.latencies),
          // 1 if the connection was kept alive throughout.
          connections_opened: s.connects,
          first_failure: s.firstFailure,
        },
      ]),
    );
  } finally {
    await Promise.all(state.map((s) => s.client.close().catch(() => undefined)));
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const SHARED_SERVERS = ['nats-server', 'redis-server', 'postgres']; // serverPids()'s groups

/** CPU per call summed over groups of processes: each gateway's services, the shared servers. */
function cpuSplit(cpu) {
  const sum = (pred) =>
    round(
      Object.entries(cpu.per_process_ms)
        .filter(([name]) => pred(name))
        .reduce((n, [, ms]) => n + (ms ?? 0), 0),
      3,
    );
  return {
    [GW_A]: sum((n) => n.startsWith(`${GW_A} `)),
    [GW_B]: sum((n) => n.startsWith(`${GW_B} `)),
    servers: sum((n) => SHARED_SERVERS.includes(n)),
    client_and_upstream: sum((n) => n === 'bench client' || n === 'upstream'),
    total: cpu.total_ms,
  };
}

function summarize(loaded, seq) {
  const added = (a, b) => ({
    p50_ms: round(minus(a.latency_ms.p50, b.latency_ms.p50), 3),
    p99_ms: round(minus(a.latency_ms.p99, b.latency_ms.p99), 3),
  });
  const { local, forwarded } = loaded;
  return {
    // Sequential, nothing queueing: what forwarding adds to one call.
    forwarding_adds_ms: added(seq.forwarded, seq.local),
    // Under the closed-loop load.
    loaded_forwarding_adds_ms: added(forwarded, local),
    throughput_ratio_forwarded_to_local:
      local.calls_per_s > 0 ? round(forwarded.calls_per_s / local.calls_per_s, 4) : null,
    cpu_per_call_ms: Object.fromEntries(
      Object.entries(loaded).map(([k, r]) => [k, cpuSplit(r.cpu_per_call)]),
    ),
  };
}

function printReport({ loaded, seq, summary, machine, loadAtEnd }) {
  const rows = Object.values(loaded);
  const out = [''];
  out.push(
    `SecureGateway federation benchmark — POST /api/tools/call ${TOOL}, ${CONNECTIONS_TEXT} per target, ${DURATION_S} s measured after ${WARMUP_S} s warm-up`,
  );
  out.push(describeMachine(machine));
  out.push(
    `load average: ${machine.load_average_at_start.join(' ')} at start, ${loadAtEnd.join(' ')} at end (other work skews the figures)`,
  );
  out.push('');
  out.push(
    table(
      rows.map((r) => [
        r.label,
        fmt(r.calls_per_s, 0),
        fmt(r.latency_ms.p50),
        fmt(r.latency_ms.p99),
        fmt(r.cpu_per_call.total_ms, 3),
        r.failures,
      ]),
      ['target', 'calls/s', 'p50 ms', 'p99 ms', 'CPU ms/call', 'failed'],
    ),
  );
  out.push('');
  const la = summary.loaded_forwarding_adds_ms;
  out.push(
    `throughput ratio (forwarded / local): ${fmt(summary.throughput_ratio_forwarded_to_local, 3)}`,
  );
  out.push(`under load, forwarding adds: p50 ${signed(la.p50_ms)} ms, p99 ${signed(la.p99_ms)} ms`);

  out.push('');
  out.push(
    'CPU per call (ms, user+system, from /proc, until both audits drained; servers shared by both gateways):',
  );
  const names = [...new Set(rows.flatMap((r) => Object.keys(r.cpu_per_call.per_process_ms)))];
  const busy = names.filter((n) =>
    rows.some((r) => (r.cpu_per_call.per_process_ms[n] ?? 0) >= 0.001),
  );
  const split = Object.values(summary.cpu_per_call_ms);
  out.push(
    table(
      [
        ...busy.map((n) => [n, ...rows.map((r) => fmt(r.cpu_per_call.per_process_ms[n], 3))]),
        [`${GW_A} services`, ...split.map((s) => fmt(s[GW_A], 3))],
        [`${GW_B} services`, ...split.map((s) => fmt(s[GW_B], 3))],
        ['total', ...split.map((s) => fmt(s.total, 3))],
      ],
      ['process', ...rows.map((r) => r.label)],
    ),
  );

  out.push('');
  out.push(
    `sequential: one keep-alive connection per target, ${SEQUENTIAL_CALLS} calls each after ${SEQUENTIAL_WARMUP} warm-up, alternating in ${SEQUENTIAL_SLICES} slices`,
  );
  out.push(
    table(
      Object.values(seq).map((r) => [
        r.label,
        r.ok,
        fmt(r.latency_ms.p50, 3),
        fmt(r.latency_ms.p99, 3),
        fmt(r.latency_ms.mean, 3),
        fmt(r.latency_ms.max, 3),
        r.failures,
      ]),
      ['call', 'calls', 'p50 ms', 'p99 ms', 'mean ms', 'max ms', 'failed'],
    ),
  );
  const sa = summary.forwarding_adds_ms;
  out.push(
    `forwarding adds (forwarded − local): p50 ${signed(sa.p50_ms, 3)} ms, p99 ${signed(sa.p99_ms, 3)} ms`,
  );
  out.push('');
  process.stdout.write(`${out.join('\n')}\n`);
}

// ---------------------------------------------------------------------------------------------
// Clean-up

function cleanup(r) {
  return cleanUp([
    r.nc && ['close the NATS connection', () => r.nc.close()],
    r.stacks[GW_A] && [`stop ${GW_A}`, () => r.stacks[GW_A].stop()],
    r.stacks[GW_B] && [`stop ${GW_B}`, () => r.stacks[GW_B].stop()],
    r.upstream && ['stop the upstream', () => stopChild(r.upstream)],
    ...isolationCleanup(isolations[GW_A], r.tmpDirs[GW_A]),
    ...isolationCleanup(isolations[GW_B], r.tmpDirs[GW_B]),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  if (!(await serversReachable())) return 1;
  const machine = machineInfo();
  warnIfBusy(machine);

  const [upstreamPort, ingressA, federationA, ingressB, federationB] = await distinctFreePorts(5);
  const ports = {
    upstream: upstreamPort,
    [GW_A]: { ingress: ingressA, federation: federationA },
    [GW_B]: { ingress: ingressB, federation: federationB },
  };
  const resources = { stacks: {}, upstream: null, nc: null, tmpDirs: {} };
  onInterrupt(() => (interrupted = true));
  return runThenCleanUp(
    () => measure(machine, ports, resources),
    () => cleanup(resources),
    () => interrupted,
  );
}

/** Starts everything, loads each target, reports; returns the exit code. */
async function measure(machine, ports, resources) {
  const startedAt = performance.now();
  const serviceLog = serviceLogger();
  let exitCode = 0;

  resources.upstream = await startServer({
    label: 'upstream',
    script: join(ROOT, 'examples/upstream/server.mjs'),
    env: { UPSTREAM_PORT: String(ports.upstream), UPSTREAM_HOST: '127.0.0.1' },
    port: ports.upstream,
  });

  const configs = {
    [GW_A]: prepareConfig(GW_A, {
      upstreamPort: ports.upstream,
      scope: ['calendar.*', `${GW_B}/*`],
      rules: [{ model: AGENT_ID, allow_tools: ['calendar.*', `${GW_B}/calendar.*`] }],
      peers: {
        [GW_B]: peerEntry(ports[GW_B].federation, {
          timeout_ms: PEER_TIMEOUT_MS,
          max_concurrency: PEER_MAX_CONCURRENCY,
        }),
      },
    }),
    [GW_B]: prepareConfig(GW_B, {
      upstreamPort: ports.upstream,
      scope: ['calendar.*'],
      rules: [
        { model: `${GW_A}/${AGENT_ID}`, allow_tools: ['calendar.*'] },
        // Its own agent of the same name, for the context target (c).
        { model: AGENT_ID, allow_tools: ['calendar.*'] },
      ],
      peers: { [GW_A]: peerEntry(ports[GW_A].federation, { allow: { tools: ['calendar.*'] } }) },
    }),
  };
  for (const side of [GW_A, GW_B]) resources.tmpDirs[side] = configs[side].dir;

  // gw-b first, so that gw-a's first pings and catalogue fetch find it.
  for (const side of [GW_B, GW_A]) {
    const isolation = isolations[side];
    process.stderr.write(`… starting ${side} (prefix ${isolation.runTag})\n`);
    resources.stacks[side] = await startIsolatedStack({
      isolation,
      ports: ports[side],
      configDir: configs[side].configDir,
      env: { [`SECRET_${PAIR_SECRET}`]: PAIR_KEY },
      log: { output: (line) => serviceLog.output(`${side} ${line}`) },
    });
    process.stderr.write(`… ${side} ready at ${resources.stacks[side].url}\n`);
    if (interrupted) return 130;
  }
  resources.nc = await natsConnect({ servers: NATS_URL });
  const jsm = await jetstreamManager(resources.nc);
  const backlog = async () =>
    (await auditBacklog(jsm, isolations[GW_A])) + (await auditBacklog(jsm, isolations[GW_B]));
  await backlog(); // fails here, readably, if an audit service has no consumer on its stream

  let seqNo = 0;
  const requestIds = () => `${isolations[GW_A].runTag}-${++seqNo}`;
  const a = resources.stacks[GW_A].url;
  const b = resources.stacks[GW_B].url;
  const local = toolCallTarget({ key: 'local', label: `local (${GW_A})`, origin: a, requestIds });
  const forwarded = toolCallTarget({
    key: 'forwarded',
    label: `forwarded (${GW_A} → ${GW_B})`,
    origin: a,
    headers: { forward_to: GW_B },
    forwarded: true,
    requestIds,
  });
  const direct = toolCallTarget({
    key: 'gw_b_local',
    label: `local at ${GW_B} (info)`,
    origin: b,
    requestIds,
  });
  const targets = [local, forwarded, direct];

  // One call each first, so a misconfiguration fails fast with a readable answer (the
  // forwarded one also has gw-a fetch gw-b's catalogue).
  for (const target of targets) {
    const client = newClient(target.origin);
    try {
      const { failure } = await callOnce(client, target);
      if (failure) {
        console.error(
          `✗ ${target.label}: a single call before any load failed (${failure.why ?? failure.error}):\n${failure.body ?? ''}`,
        );
        return 1;
      }
    } finally {
      await client.close().catch(() => undefined);
    }
  }

  const benchPid = process.pid;
  const upstreamPid = resources.upstream.pid;
  const prefixed = (side) =>
    Object.fromEntries(
      Object.entries(stackPids(resources.stacks[side])).map(([n, pids]) => [`${side} ${n}`, pids]),
    );
  const sample = ticksSampler(() => ({
    'bench client': [benchPid],
    upstream: [upstreamPid],
    ...prefixed(GW_A),
    ...prefixed(GW_B),
    ...serverPids(),
  }));
  const settle = (since) => waitDrained(backlog, since, () => interrupted);

  const loads = {};
  for (const target of targets) {
    loads[target.key] = await phase(target, { sample, settle });
    if (interrupted) return 130;
  }
  const seq = await sequential(targets);
  if (interrupted) return 130;

  const loadAtEnd = loadAverage();
  const loaded = Object.fromEntries(Object.entries(loads).map(([k, v]) => [k, v.measured]));
  const summary = summarize(loaded, seq);
  printReport({ loaded, seq, summary, machine, loadAtEnd });

  const failures = [];
  for (const r of [...Object.values(loaded), ...Object.values(seq)])
    if (r.failures > 0)
      failures.push(`${r.label}: ${r.failures} failed calls; first: ${short(r.first_failure)}`);
  for (const side of [GW_A, GW_B])
    for (const e of resources.stacks[side].exits)
      failures.push(`${side} service ${e.name} exited during the run (code ${e.code ?? e.signal})`);
  if (resources.upstream.exitCode !== null)
    failures.push(`the upstream exited during the run: ${resources.upstream.log().slice(-500)}`);
  for (const r of Object.values(loaded))
    if (!r.audit_drain?.drained)
      process.stderr.write(
        `! ${r.label}: the audit consumers did not drain within ${DRAIN_TIMEOUT_MS / 1000} s; its CPU per call misses part of the audit\n`,
      );
  for (const { warmup: w } of Object.values(loads))
    if (w && w.failures > 0)
      process.stderr.write(
        `! ${w.label} warm-up (not counted): ${w.failures} failed calls; first: ${short(w.first_failure)}\n`,
      );
  serviceLog.printSuppressed();

  const results = {
    benchmark: 'federation',
    timestamp: new Date().toISOString(),
    run_tags: { [GW_A]: isolations[GW_A].runTag, [GW_B]: isolations[GW_B].runTag },
    settings: {
      ...recordedSettings(SETTINGS, 'connections'),
      tool: TOOL,
      arguments: ARGS,
      agent_id: AGENT_ID,
      forwarded_as: `header forward_to: ${GW_B}`,
      call_timeout_ms: CALL_TIMEOUT_MS,
      peer_timeout_ms: PEER_TIMEOUT_MS,
      peer_max_concurrency: PEER_MAX_CONCURRENCY,
      remote_catalogue_ttl_ms: CATALOGUE_TTL_MS,
      signing: 'hmac-sha256 (RFC 9421)',
    },
    machine: { ...machine, load_average_at_end: loadAtEnd },
    git: gitInfo(),
    run_duration_s: round((performance.now() - startedAt) / 1000, 1),
    loaded,
    sequential: seq,
    ...summary,
    warmup: Object.fromEntries(Object.entries(loads).map(([k, v]) => [k, v.warmup])),
    service_log_lines: serviceLog.lines(),
    failures,
    passed: failures.length === 0,
  };
  const file = resultsFile('federation', results.timestamp);
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
