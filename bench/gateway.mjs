// `npm run bench`: what the gateway costs on top of calling the tool directly.
//
// In one run, on this machine, it:
//   1. starts the example upstream and the whole gateway (six services) in isolation: its own
//      ports, NATS subject prefix (and so its own JetStream stream), Redis key prefix, database
//      schema and a temporary copy of examples/config with a rate limit the load cannot reach;
//   2. loads the upstream directly (POST /tools/calendar.list_events), then the gateway
//      (POST /api/tools/call for the same tool), with the same connections and duration, each
//      after a warm-up that is not counted;
//   3. prints requests/s, p50 and p99 latency for both, what the gateway adds, and writes the
//      figures to bench/results/gateway-<timestamp>.json;
//   4. removes everything it created, and exits 1 if any measured request failed.
//
// Settings (environment): BENCH_CONNECTIONS (20), BENCH_DURATION_S (10), BENCH_WARMUP_S (2).
// NATS_URL, REDIS_URL and DATABASE_URL are honoured as by the services.
import autocannon from 'autocannon';
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import pg from 'pg';
import { parseDocument } from 'yaml';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
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

function positiveInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`✗ ${name} must be a positive integer (got ${JSON.stringify(raw)})`);
    process.exit(2);
  }
  return n;
}
function nonNegativeInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`✗ ${name} must be a non-negative integer (got ${JSON.stringify(raw)})`);
    process.exit(2);
  }
  return n;
}

const CONNECTIONS = positiveInt('BENCH_CONNECTIONS', 20);
const CONNECTIONS_TEXT = `${CONNECTIONS} connection${CONNECTIONS === 1 ? '' : 's'}`;
const DURATION_S = positiveInt('BENCH_DURATION_S', 10);
const WARMUP_S = nonNegativeInt('BENCH_WARMUP_S', 2);
const TOOL = 'calendar.list_events';
const AGENT_ID = 'gpt-4o';
const AGENT_KEY = 'modelkey-abc123';
const RATE_LIMIT = 100_000_000; // per agent per window: far above anything a run can send
const SERVICE_LOG_LINES_SHOWN = 20;

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const runTag = `bench${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const isolation = {
  subjectPrefix: runTag,
  streamName: `${runTag}_GW_EVENTS`,
  redisPrefix: `${runTag}:`,
  schema: `bench_${runTag.slice('bench'.length)}`.toLowerCase(),
};

// ---------------------------------------------------------------------------------------------
// Helpers

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

async function distinctFreePorts(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** Exact percentile (nearest rank) of an ascending array. */
function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

const round = (x, digits = 2) => (x === null || x === undefined ? null : Number(x.toFixed(digits)));

/** A copy of examples/config that points at our upstream and whose rate limit the load cannot reach. */
function prepareConfig(upstreamPort) {
  const dir = mkdtempSync(join(os.tmpdir(), 'sg-bench-'));
  const configDir = join(dir, 'config');
  cpSync(join(ROOT, 'examples/config'), configDir, { recursive: true });

  const policyFile = join(configDir, 'policies/default.yaml');
  const policy = parseDocument(readFileSync(policyFile, 'utf8'));
  if (!policy.hasIn(['rate_limits', 'agent', 'limit']))
    throw new Error(`${policyFile} has no rate_limits.agent.limit`);
  policy.setIn(['rate_limits', 'agent', 'limit'], RATE_LIMIT);
  writeFileSync(policyFile, policy.toString());

  const toolsDir = join(configDir, 'tools');
  let pointed = 0;
  for (const file of readdirSync(toolsDir).filter((f) => f.endsWith('.json'))) {
    const path = join(toolsDir, file);
    const tool = JSON.parse(readFileSync(path, 'utf8'));
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
  return { dir, configDir };
}

function startUpstream(port) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'examples/upstream/server.mjs')], {
      cwd: ROOT,
      env: { ...process.env, UPSTREAM_PORT: String(port), UPSTREAM_HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    const onData = (chunk) => (log += chunk);
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(new Error(`the upstream exited during start (${code ?? signal}): ${log}`)),
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
        return reject(new Error(`the upstream did not answer on port ${port} within 10 s: ${log}`));
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

async function cleanup({ stack, upstream, tmpDir }) {
  const problems = [];
  const attempt = async (what, fn) => {
    try {
      await fn();
    } catch (err) {
      problems.push(`${what}: ${err.message}`);
    }
  };
  if (stack) await attempt('stop the gateway', () => stack.stop());
  if (upstream) await attempt('stop the upstream', () => stopChild(upstream));
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
  if (tmpDir)
    await attempt(`remove ${tmpDir}`, async () => rmSync(tmpDir, { recursive: true, force: true }));
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Load

let current = null; // the running autocannon instance, so Ctrl-C can stop it
let interrupted = false;

/**
 * One autocannon run. Latencies are kept here at full (sub-millisecond) resolution from the
 * 'response' event; autocannon's own histogram rounds to whole milliseconds, which is too coarse
 * for an upstream that answers in about one.
 */
async function load({ label, url, headers, body, check, durationS }) {
  const latencies = [];
  let firstFailure = null;
  let bodyMismatches = 0;
  let firstMismatch = null;
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

  const sorted = Float64Array.from(latencies).sort();
  const ok = Object.entries(result.statusCodeStats ?? {})
    .filter(([code]) => code.startsWith('2'))
    .reduce((n, [, s]) => n + Number(s.count), 0);
  const mean = sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : null;
  return {
    label,
    url,
    duration_s: result.duration,
    requests_total: result.requests.total,
    requests_2xx: ok,
    requests_per_s: result.duration > 0 ? ok / result.duration : 0,
    latency_ms: {
      mean: round(mean, 3),
      p50: round(percentile(sorted, 50), 3),
      p90: round(percentile(sorted, 90), 3),
      p99: round(percentile(sorted, 99), 3),
      max: round(sorted.length ? sorted[sorted.length - 1] : null, 3),
    },
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
// CPU per call: what each process spent, from /proc (user + system time). Unlike latency it
// hardly depends on what else the machine is doing, so it shows where the cost of a call is.

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

/** Processes to account: the gateway's own, and the servers it uses (shared: other work shows). */
function cpuSampler(stack, upstreamChild) {
  const groups = () => ({
    ...Object.fromEntries([...stack.children].map(([name, child]) => [name, [child.pid]])),
    upstream: [upstreamChild.pid],
    'nats-server': pidsOf('nats-server'),
    'redis-server': pidsOf('redis-server'),
    postgres: pidsOf('postgres'),
  });
  return () =>
    Object.fromEntries(
      Object.entries(groups()).map(([name, pids]) => [
        name,
        pids.reduce((n, pid) => n + cpuTicks(pid), 0),
      ]),
    );
}

function cpuPerCall(before, after, calls) {
  const rows = Object.keys(after).map((name) => [
    name,
    round(((after[name] - (before[name] ?? 0)) * TICK_MS) / calls, 3),
  ]);
  const total = round(
    rows.reduce((n, [, ms]) => n + ms, 0),
    3,
  );
  return { per_process_ms: Object.fromEntries(rows), total_ms: total };
}

/** A warm-up run (not counted) followed by the measured run. */
async function phase(target, sample = null) {
  let warmup = null;
  if (WARMUP_S > 0) {
    process.stderr.write(`… ${target.label}: warm-up ${WARMUP_S} s\n`);
    warmup = await load({ ...target, durationS: WARMUP_S });
    if (interrupted) return { warmup, measured: null };
  }
  process.stderr.write(`… ${target.label}: measuring ${DURATION_S} s with ${CONNECTIONS_TEXT}\n`);
  const before = sample?.();
  const measured = await load({ ...target, durationS: DURATION_S });
  if (sample) {
    // Let the audit consumer store the run's events, so their cost is counted too.
    await new Promise((r) => setTimeout(r, 2000));
    measured.cpu_per_call = cpuPerCall(before, sample(), measured.requests_total);
  }
  return { warmup, measured };
}

// ---------------------------------------------------------------------------------------------
// Report

function table(rows, header) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells
      .map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])))
      .join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const fmt = (x, digits = 2) => (x === null || x === undefined ? 'n/a' : x.toFixed(digits));
const signed = (x, digits = 2) =>
  x === null || x === undefined ? 'n/a' : `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;

function summarize(upstream, gateway) {
  const added = {
    p50_ms:
      upstream.latency_ms.p50 !== null && gateway.latency_ms.p50 !== null
        ? round(gateway.latency_ms.p50 - upstream.latency_ms.p50, 3)
        : null,
    p99_ms:
      upstream.latency_ms.p99 !== null && gateway.latency_ms.p99 !== null
        ? round(gateway.latency_ms.p99 - upstream.latency_ms.p99, 3)
        : null,
  };
  const ratio =
    upstream.requests_per_s > 0 ? round(gateway.requests_per_s / upstream.requests_per_s, 4) : null;
  return { added_latency_ms: added, throughput_ratio: ratio };
}

function printReport(upstream, gateway, summary, machine) {
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
  out.push(
    `machine: ${machine.cpus} × ${machine.cpu_model}, ${machine.platform} ${machine.release}, node ${machine.node}`,
  );
  out.push('');
  out.push(
    table(
      [row('upstream direct', upstream), row('gateway', gateway)],
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
  out.push('');
  process.stdout.write(`${out.join('\n')}\n`);
}

// ---------------------------------------------------------------------------------------------
// Main

// A closed stdout or stderr (e.g. `node bench/gateway.mjs | head`) must not kill the process
// before it has stopped what it started and cleaned up.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

async function main() {
  const problems = await preflight({ NATS_URL, REDIS_URL, DATABASE_URL });
  if (problems.length > 0) {
    for (const p of problems) console.error(`✗ ${p}`);
    return 1;
  }

  const machine = machineInfo();
  if (machine.load_average_at_start[0] > machine.cpus * 0.5) {
    process.stderr.write(
      `! load average is ${machine.load_average_at_start[0]} on ${machine.cpus} CPUs: other work will skew the figures\n`,
    );
  }

  const [ingressPort, federationPort, upstreamPort] = await distinctFreePorts(3);
  const resources = { stack: null, upstream: null, tmpDir: null };
  const serviceLog = { shown: 0, suppressed: 0, last: [] };
  let exitCode = 0;

  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write('\ninterrupted: stopping and cleaning up…\n');
    current?.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const { dir, configDir } = prepareConfig(upstreamPort);
    resources.tmpDir = dir;

    resources.upstream = await startUpstream(upstreamPort);
    process.stderr.write(
      `… upstream on 127.0.0.1:${upstreamPort}; starting the gateway (prefix ${runTag})\n`,
    );

    const env = {
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
    };
    resources.stack = await startStack({
      env,
      upstream: false,
      readyTimeoutMs: 60_000,
      output: (line) => {
        serviceLog.last.push(line);
        if (serviceLog.last.length > 20) serviceLog.last.shift();
        if (serviceLog.shown < SERVICE_LOG_LINES_SHOWN) {
          serviceLog.shown++;
          process.stderr.write(line);
        } else {
          serviceLog.suppressed++;
        }
      },
    });
    process.stderr.write(`… gateway ready at ${resources.stack.url}\n`);
    if (interrupted) return 130;

    // One call each way before loading, so a misconfiguration fails fast with a readable answer.
    const upstreamUrl = `http://127.0.0.1:${upstreamPort}/tools/${TOOL}`;
    const gatewayUrl = `${resources.stack.url}/api/tools/call`;
    let seq = 0;
    const gatewayBody = () =>
      JSON.stringify({
        agent_id: AGENT_ID,
        agent_version: '1.0.0',
        request_id: `${runTag}-${++seq}`,
        tool: TOOL,
        arguments: {},
      });
    const gatewayHeaders = { 'x-api-key': AGENT_KEY, 'content-type': 'application/json' };
    const isSuccess = (text) => {
      try {
        return JSON.parse(text).success === true;
      } catch {
        return false;
      }
    };
    const probe = await fetch(gatewayUrl, {
      method: 'POST',
      headers: gatewayHeaders,
      body: gatewayBody(),
    });
    const probeText = await probe.text();
    if (!probe.ok || !isSuccess(probeText)) {
      console.error(
        `✗ the gateway refused a single call before any load: HTTP ${probe.status}\n${probeText}`,
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
    const gateway = await phase(
      {
        label: 'gateway',
        url: gatewayUrl,
        headers: gatewayHeaders,
        body: gatewayBody,
        check: isSuccess,
      },
      cpuSampler(resources.stack, resources.upstream),
    );
    if (interrupted) return 130;

    const crashed = [...resources.stack.exits];
    const summary = summarize(upstream.measured, gateway.measured);
    printReport(upstream.measured, gateway.measured, summary, machine);

    // Failures: any measured request that did not succeed makes the figures meaningless.
    const failures = [];
    for (const [name, r] of [
      ['upstream direct', upstream.measured],
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
    for (const e of crashed)
      failures.push(`service ${e.name} exited during the run (code ${e.code ?? e.signal})`);
    for (const [name, w] of [
      ['upstream direct', upstream.warmup],
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
      settings: {
        connections: CONNECTIONS,
        duration_s: DURATION_S,
        warmup_s: WARMUP_S,
        tool: TOOL,
        agent_id: AGENT_ID,
      },
      machine: { ...machine, load_average_at_end: os.loadavg().map((x) => round(x, 2)) },
      git: gitInfo(),
      upstream: upstream.measured,
      gateway: gateway.measured,
      ...summary,
      warmup: { upstream: upstream.warmup, gateway: gateway.warmup },
      service_log_lines: serviceLog.shown + serviceLog.suppressed,
      failures,
      passed: failures.length === 0,
    };
    const resultsDir = join(ROOT, 'bench/results');
    mkdirSync(resultsDir, { recursive: true });
    const file = join(resultsDir, `gateway-${results.timestamp.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`results: ${relative(process.cwd(), file) || file}\n`);

    if (serviceLog.suppressed > 0) {
      process.stderr.write(
        `! the services logged ${serviceLog.shown + serviceLog.suppressed} lines at warn or above; the last ones:\n`,
      );
      for (const line of serviceLog.last) process.stderr.write(line);
    }

    if (failures.length > 0) {
      console.error('\n✗ the benchmark is not valid: some requests failed');
      for (const f of failures) console.error(`  - ${f}`);
      const first = gateway.measured.first_failure ?? upstream.measured.first_failure;
      if (first) console.error(`  first failed answer (HTTP ${first.status}):\n${first.body}`);
      const mismatch = gateway.measured.first_mismatch ?? upstream.measured.first_mismatch;
      if (mismatch && !first)
        console.error(
          `  first 2xx answer that is not the tool's result (HTTP ${mismatch.status}):\n${mismatch.body}`,
        );
      exitCode = 1;
    }
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
// Stray handles (sockets of a stopped load run) must not keep the process alive.
setTimeout(() => process.exit(process.exitCode), 200).unref();
