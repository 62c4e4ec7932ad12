// Helpers the benchmarks share: the same settings, statistics, tables, machine description,
// commit and random stream in every results file, and, for bench/gateway.mjs and bench/mcp.mjs,
// the same way of running a whole gateway in isolation next to the servers it uses.
import { execFileSync, spawn } from 'node:child_process';
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
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import pg from 'pg';
import { parseDocument } from 'yaml';
import { preflight, ROOT, startStack } from '../scripts/stack.mjs';

// ---------------------------------------------------------------------------------------------
// Settings

/**
 * A number from the environment variable `name`, or `fallback` when it is unset or empty.
 * Anything else ends the process with exit code 2 and a message that names the variable.
 */
export function setting(name, fallback, { integer = true, allowZero = false } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if ((integer && !Number.isInteger(n)) || !(allowZero ? n >= 0 : n > 0)) {
    console.error(
      `✗ ${name} must be ${allowZero ? 'a non-negative' : 'a positive'} ${integer ? 'integer' : 'number'} (got ${JSON.stringify(raw)})`,
    );
    process.exit(2);
  }
  return n;
}

/** The load settings of bench/gateway.mjs and bench/mcp.mjs (bench/README.md lists them). */
export function loadSettings() {
  const settings = {
    CONNECTIONS: setting('BENCH_CONNECTIONS', 20),
    DURATION_S: setting('BENCH_DURATION_S', 10),
    WARMUP_S: setting('BENCH_WARMUP_S', 10, { allowZero: true }),
    SEQUENTIAL_CALLS: setting('BENCH_SEQUENTIAL_CALLS', 2000),
    SEQUENTIAL_WARMUP: setting('BENCH_SEQUENTIAL_WARMUP', 200, { allowZero: true }),
  };
  // The sequential calls of the targets alternate in this many slices (see takeTurns).
  return { ...settings, SEQUENTIAL_SLICES: Math.min(5, settings.SEQUENTIAL_CALLS) };
}

/** The load settings as a results file records them, BENCH_CONNECTIONS under `connectionsKey`. */
export function recordedSettings(s, connectionsKey) {
  return {
    [connectionsKey]: s.CONNECTIONS,
    duration_s: s.DURATION_S,
    warmup_s: s.WARMUP_S,
    sequential_calls: s.SEQUENTIAL_CALLS,
    sequential_warmup: s.SEQUENTIAL_WARMUP,
    sequential_slices: s.SEQUENTIAL_SLICES,
  };
}

// ---------------------------------------------------------------------------------------------
// Numbers and tables

/** A small seeded PRNG (mulberry32): the same seed gives the same data on every run. */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const round = (x, digits = 2) =>
  x === null || x === undefined ? null : Number(x.toFixed(digits));
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const minus = (a, b) =>
  a === null || a === undefined || b === null || b === undefined ? null : a - b;
export const fmt = (x, digits = 2) => (x === null || x === undefined ? 'n/a' : x.toFixed(digits));
export const signed = (x, digits = 2) =>
  x === null || x === undefined ? 'n/a' : `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;

/** Exact percentile (nearest rank, `p` in %) of an ascending array; null when it is empty. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Mean and exact percentiles (ms, 3 decimals) of response times; null where there are none. */
export function latencySummary(latencies) {
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

/**
 * Rows under a header, in columns two spaces apart: the first column left-aligned and the others
 * right-aligned (figures), or every column left-aligned with `leftAligned` (text).
 */
export function table(rows, header, { leftAligned = false } = {}) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const cell = (c, i) =>
    i === 0 || leftAligned ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]);
  const line = (cells) => cells.map(cell).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// The machine, the commit and the results file

/** The commit measured, and whether the tree had uncommitted changes; null outside git. */
export function gitInfo() {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return { commit, dirty };
  } catch {
    return null;
  }
}

/** The load averages over 1, 5 and 15 minutes, to 2 decimals. */
export const loadAverage = () => os.loadavg().map((x) => round(x, 2));

/** What the figures were measured on, with the load average at start (other work skews them). */
export function machineInfo() {
  return {
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model?.trim() ?? 'unknown',
    platform: os.platform(),
    release: os.release(),
    arch: os.arch(),
    total_memory_mb: Math.round(os.totalmem() / 1024 / 1024),
    node: process.version,
    v8: process.versions.v8,
    load_average_at_start: loadAverage(),
  };
}

/** The machine line of a report. */
export const describeMachine = (machine) =>
  `machine: ${machine.cpus} × ${machine.cpu_model}, ${machine.platform} ${machine.release}, node ${machine.node}`;

/** Says (through `say`, stderr by default) when other work already keeps the CPUs busy. */
export function warnIfBusy(machine, say = (line) => process.stderr.write(`${line}\n`)) {
  if (machine.load_average_at_start[0] > machine.cpus * 0.5)
    say(
      `! load average is ${machine.load_average_at_start[0]} on ${machine.cpus} CPUs: other work will skew the figures`,
    );
}

/**
 * A file-name-safe name for this machine: figures are only comparable on the same hardware, so
 * baselines are kept per host name, CPU model and CPU count (a resized VM gets a new one).
 */
export function machineKey() {
  const raw = `${os.hostname()}-${os.cpus()[0]?.model?.trim() ?? 'unknown'}-${os.cpus().length}cpu`;
  return (
    raw
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 120) || 'unknown'
  );
}

/** bench/results/<benchmark>-<timestamp>.json (the folder made if missing). */
export function resultsFile(benchmark, timestamp) {
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${benchmark}-${timestamp.replace(/[:.]/g, '-')}.json`);
}

export function writeResults(file, results) {
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}

/** A path as a report shows it: relative to the working directory where that is shorter. */
export const displayPath = (file) => relative(process.cwd(), file) || file;

// ---------------------------------------------------------------------------------------------
// Processes: ports, servers, CPU time

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** `n` different free ports, none of them `taken`. */
export async function distinctFreePorts(n, taken) {
  const ports = new Set();
  while (ports.size < n) {
    const p = await freePort();
    if (p !== taken) ports.add(p);
  }
  return [...ports];
}

/**
 * Starts a Node script that serves GET /health on `port`; resolves with the child once it
 * answers. The child's `log()` is what it has written so far.
 */
export function startServer({ label, script, args = [], env, port }) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    const onData = (chunk) => (log += chunk);
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.log = () => log;
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(new Error(`the ${label} exited during start (${code ?? signal}): ${log}`)),
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
        return reject(new Error(`the ${label} did not answer on port ${port} within 10 s: ${log}`));
      }
      setTimeout(poll, 100);
    };
    poll();
  });
}

export function stopChild(child) {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => (clearTimeout(timer), resolve()));
    child.kill('SIGTERM');
  });
}

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

export function pidsOf(command) {
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

/** The gateway's services, one group each, by name ({ name: [pid] }). */
export const stackPids = (stack) =>
  Object.fromEntries([...stack.children].map(([name, child]) => [name, [child.pid]]));

/** The servers the gateway uses (shared with any other work on the machine, which then shows). */
export const serverPids = () => ({
  'nats-server': pidsOf('nats-server'),
  'redis-server': pidsOf('redis-server'),
  postgres: pidsOf('postgres'),
});

/**
 * A sampler of the CPU ticks of each group ({ name: () => pids }), per process id, read at each
 * call. Kept per pid because a group's processes change between samples (a PostgreSQL backend
 * of other work exits, another starts): a sum per group would then drop, even below zero.
 */
export function ticksSampler(groups) {
  return () =>
    Object.fromEntries(
      Object.entries(groups()).map(([name, pids]) => [
        name,
        Object.fromEntries(pids.map((pid) => [pid, cpuTicks(pid)])),
      ]),
    );
}

/**
 * Per group, the ticks its processes spent between the two samples, in ms per call (null without
 * calls): a process seen only in the second sample started in between, so all of its time
 * counts; one that exited in between cannot be read any more, and its time in the period is
 * missing (only short-lived backends of other work on the shared PostgreSQL, in practice).
 */
export function cpuPerCall(before, after, calls) {
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

// ---------------------------------------------------------------------------------------------
// A whole gateway in isolation: its own ports, NATS subject prefix (and so its own JetStream
// stream), Redis key prefix, database schema and copy of examples/config, all removed at the end

export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
// The services inherit this process's environment, so the audit service uses the same name.
export const AUDIT_CONSUMER = process.env.AUDIT_CONSUMER || 'audit';
export const DRAIN_TIMEOUT_MS = 60_000;
const RATE_LIMIT = 100_000_000; // per agent per window: far above anything a run can send
const SERVICE_LOG_LINES_SHOWN = 20;

/** The names of this run's own slice of NATS, Redis and PostgreSQL. */
export function benchIsolation() {
  const runTag = `bench${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  return {
    runTag,
    subjectPrefix: runTag,
    streamName: `${runTag}_GW_EVENTS`,
    redisPrefix: `${runTag}:`,
    schema: `bench_${runTag.slice('bench'.length)}`.toLowerCase(),
  };
}

/** Whether NATS, Redis and PostgreSQL answer; prints how to start whichever does not. */
export async function serversReachable() {
  const problems = await preflight({ NATS_URL, REDIS_URL, DATABASE_URL });
  for (const p of problems) console.error(`✗ ${p}`);
  return problems.length === 0;
}

/** Parses a YAML file, lets `edit` change the document (comments kept) and writes it back. */
export function editYaml(file, edit) {
  const doc = parseDocument(readFileSync(file, 'utf8'));
  edit(doc);
  writeFileSync(file, doc.toString());
}

/**
 * A temporary copy of examples/config (in a new folder named `${tmpPrefix}…`) whose agent rate
 * limit the load cannot reach; `editPolicy` may change its policy document further.
 */
export function copyExampleConfig(tmpPrefix, editPolicy = () => undefined) {
  const dir = mkdtempSync(join(os.tmpdir(), tmpPrefix));
  const configDir = join(dir, 'config');
  cpSync(join(ROOT, 'examples/config'), configDir, { recursive: true });
  const policyFile = join(configDir, 'policies/default.yaml');
  editYaml(policyFile, (policy) => {
    if (!policy.hasIn(['rate_limits', 'agent', 'limit']))
      throw new Error(`${policyFile} has no rate_limits.agent.limit`);
    policy.setIn(['rate_limits', 'agent', 'limit'], RATE_LIMIT);
    editPolicy(policy);
  });
  return { dir, configDir };
}

/**
 * What the services log (warn and above): the first lines go to stderr as they come, the rest
 * are counted, and the last 20 kept for printSuppressed().
 */
export function serviceLogger() {
  const log = { shown: 0, suppressed: 0, last: [] };
  log.output = (line) => {
    log.last.push(line);
    if (log.last.length > 20) log.last.shift();
    if (log.shown < SERVICE_LOG_LINES_SHOWN) {
      log.shown++;
      process.stderr.write(line);
    } else {
      log.suppressed++;
    }
  };
  log.lines = () => log.shown + log.suppressed;
  log.printSuppressed = () => {
    if (log.suppressed === 0) return;
    process.stderr.write(
      `! the services logged ${log.lines()} lines at warn or above; the last ones:\n`,
    );
    for (const line of log.last) process.stderr.write(line);
  };
  return log;
}

/** The six services on the run's ports, slice and config, as `npm start` runs them. */
export function startIsolatedStack({ isolation, ports, configDir, env = {}, log }) {
  return startStack({
    env: {
      NODE_ENV: 'production',
      PORT: String(ports.ingress),
      HOST: '127.0.0.1',
      HEALTH_PORT: '0',
      FEDERATION_PORT: String(ports.federation),
      CONFIG_DIR: configDir,
      SUBJECT_PREFIX: isolation.subjectPrefix,
      REDIS_PREFIX: isolation.redisPrefix,
      DATABASE_SCHEMA: isolation.schema,
      NATS_URL,
      REDIS_URL,
      DATABASE_URL,
      LOG_LEVEL: 'warn',
      LOG_PRETTY: 'false',
      ...env,
    },
    upstream: false,
    readyTimeoutMs: 60_000,
    output: log.output,
  });
}

/**
 * The audit service's backlog on the run's stream, in events: what JetStream holds for its
 * durable consumer, not delivered yet (num_pending) plus delivered and not acked yet
 * (num_ack_pending; the service acks a batch after its transaction commits).
 */
export async function auditBacklog(jsm, isolation) {
  const ci = await jsm.consumers.info(isolation.streamName, AUDIT_CONSUMER);
  return ci.num_pending + ci.num_ack_pending;
}

/**
 * Resolves once `backlog()` is 0 on three polls in a row (100 ms apart: events are published
 * without the caller waiting, so a call answered last may still be on its way to JetStream),
 * with the seconds from `since` (a performance.now() time) to the first of those polls; or
 * when DRAIN_TIMEOUT_MS has passed, or `stopped()`.
 */
export async function waitDrained(backlog, since, stopped) {
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  let zeros = 0;
  let zeroAt = null;
  let last = null;
  while (!stopped()) {
    const t = performance.now();
    try {
      last = await backlog();
    } catch (err) {
      last = `error: ${err.message}`;
    }
    if (last === 0) {
      if (zeros++ === 0) zeroAt = t;
      if (zeros >= 3) return { drained: true, seconds: round((zeroAt - since) / 1000, 3) };
    } else {
      zeros = 0;
    }
    if (t > deadline) return { drained: false, seconds: null, backlog_at_timeout: last };
    await sleep(100);
  }
  return { drained: false, seconds: null, interrupted: true };
}

/**
 * Runs each [what, fn] step in turn (a falsy step is skipped), whether or not one before it
 * failed, and prints what could not be done.
 */
export async function cleanUp(steps) {
  for (const step of steps) {
    if (!step) continue;
    const [what, fn] = step;
    try {
      await fn();
    } catch (err) {
      console.error(`! cleanup: could not ${what}: ${err.message}`);
    }
  }
}

/** The clean-up steps of the run's stream, Redis keys, schema and temporary config folder. */
export function isolationCleanup(isolation, tmpDir) {
  return [
    [
      `delete JetStream stream ${isolation.streamName}`,
      async () => {
        const nc = await natsConnect({ servers: NATS_URL });
        try {
          const jsm = await jetstreamManager(nc);
          await jsm.streams.delete(isolation.streamName).catch((err) => {
            if (!/stream not found/i.test(err.message)) throw err;
          });
        } finally {
          await nc.close();
        }
      },
    ],
    [
      `delete Redis keys ${isolation.redisPrefix}*`,
      async () => {
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
      },
    ],
    [
      `drop schema ${isolation.schema}`,
      async () => {
        const client = new pg.Client({ connectionString: DATABASE_URL });
        await client.connect();
        try {
          await client.query(`DROP SCHEMA IF EXISTS "${isolation.schema}" CASCADE`);
        } finally {
          await client.end();
        }
      },
    ],
    tmpDir && [`remove ${tmpDir}`, async () => rmSync(tmpDir, { recursive: true, force: true })],
  ];
}

// ---------------------------------------------------------------------------------------------
// Running

/**
 * One call after another: `warmup` calls of each target first (not counted), then `calls`
 * counted calls of each, the targets taking turns in `slices` slices so that other work on the
 * machine during those seconds affects all of them alike instead of one. `one(target, counted)`
 * makes a call; `warmedUp()` runs between the two parts.
 */
export async function takeTurns(targets, one, { warmup, calls, slices, stopped, warmedUp }) {
  process.stderr.write(
    `… sequential: ${warmup} warm-up calls, then ${calls} measured, for each of ${targets.length}\n`,
  );
  for (const t of targets) for (let i = 0; i < warmup && !stopped(); i++) await one(t, false);
  warmedUp?.();
  for (let slice = 0; slice < slices && !stopped(); slice++) {
    const n = Math.floor((calls * (slice + 1)) / slices) - Math.floor((calls * slice) / slices);
    for (const t of targets) for (let i = 0; i < n && !stopped(); i++) await one(t, true);
  }
}

/** On the first Ctrl-C (or SIGTERM): says so and calls `stop`; the run then stops and cleans up. */
export function onInterrupt(stop) {
  let seen = false;
  const handler = () => {
    if (seen) return;
    seen = true;
    process.stderr.write('\ninterrupted: stopping and cleaning up…\n');
    stop();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/**
 * Runs `run`, then `cleanup` whatever happened, and returns the exit code: run's, 1 when it threw
 * (its message printed), 130 once `interrupted()`.
 */
export async function runThenCleanUp(run, cleanup, interrupted) {
  let code;
  try {
    code = await run();
  } catch (err) {
    console.error(`✗ ${err.message}`);
    code = 1;
  } finally {
    await cleanup();
  }
  return interrupted() ? 130 : code;
}

/** Runs `main` and exits with the code it returns. */
export async function runMain(main) {
  // A closed stdout or stderr (e.g. `node bench/gateway.mjs | head`) must not kill the process
  // before it has stopped what it started and cleaned up.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  process.exitCode = await main();
  // Stray handles (sockets of a stopped load run or of closed sessions) must not keep the
  // process alive.
  setTimeout(() => process.exit(process.exitCode), 200).unref();
}
