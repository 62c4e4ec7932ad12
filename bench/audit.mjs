// Audit ingest: events/s from JetStream into PostgreSQL, through the real audit service
// (masking, hash chain, batched inserts, acks; its anomaly consumer runs beside it).
//
//   npm run build && node bench/audit.mjs [--calls 10000] [--runs 1,2]
//
// Publishes `calls` events (toolcall.completed with the call, its decision and its run: an
// allowed call's one event since ADR 0011, with some PII in the arguments and results) into an
// isolated stream, then starts
// 1 (and then 2) audit processes on a fresh consumer and schema each, and times them until every
// event is a row. Beside it, in the same run, the same rows written by a plain batched INSERT
// (no NATS, no masking, no chain): the ceiling PostgreSQL sets here, for the ratio.
// Writes bench/results/audit-<timestamp>.json.
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { isolate, TEST_SERVERS } from '@sg/testing';
import { ROOT } from '../scripts/stack.mjs';
import { verifyChain } from '../services/audit/dist/chain/verify.js';
import {
  displayPath,
  gitInfo,
  machineInfo,
  mulberry32,
  resultsFile,
  round,
  writeResults,
} from './lib.mjs';

const { values: opts } = parseArgs({
  options: {
    calls: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '1,2' },
  },
});
const CALLS = Number(opts.calls);
const RUNS = opts.runs.split(',').map(Number);
const EVENTS = CALLS;
const rand = mulberry32(5);

function eventsOfCall(i, project) {
  const trace = `bench-${i}-${Math.floor(rand() * 1e9).toString(36)}`;
  const base = {
    agent_id: `agent-${i % 20}`,
    session_id: `sess-${i % 500}`,
    request_id: `req-${i}`,
    tool: `crm.tool_${i % 30}`,
  };
  const args = {
    customer: `cust-${i}`,
    email: `user${i}@example.com`,
    note: 'call me at +1 415 555 2671',
    limit: 10,
  };
  const decision = {
    allowed: true,
    code: null,
    reason: 'allowed by rule 0',
    rule_trace: [{ check: 'allow_tools', outcome: 'pass', rule: 'policies/default.yaml#rules[0]' }],
    reasoning: ['ok'],
    suggestions: [],
    risk_score: 0.1,
    requires_approval: false,
    policy_version: 'abcdef012345',
  };
  const result = {
    rows: Array.from({ length: 3 }, (_, k) => ({
      id: k,
      name: `Name ${k}`,
      phone: '+1 415 555 2671',
      city: 'Lyon',
    })),
  };
  const now = new Date().toISOString();
  const env = (subject, source, data) => ({
    subject,
    body: { event_id: randomUUID(), occurred_at: now, trace_id: trace, project, source, data },
  });
  const execution = {
    status: 'ok',
    duration_ms: 3.2,
    upstream_status: 200,
    error_code: null,
    result,
    result_bytes: JSON.stringify(result).length,
    result_truncated: false,
  };
  return [
    env('gw.evt.toolcall.completed.v1', 'executor', {
      channel: 'rest',
      ...base,
      outcome: 'allowed',
      http_status: 200,
      code: null,
      risk_score: 0.1,
      duration_ms: 12,
      agent_version: null,
      user_id: null,
      arguments: args,
      decision,
      execution,
    }),
  ];
}

async function publishAll(iso, events) {
  const nc = await natsConnect({ servers: TEST_SERVERS.natsUrl });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: `${iso.subjectPrefix}_GW_EVENTS`,
    subjects: [`${iso.subjectPrefix}.gw.evt.>`],
    storage: 'file',
    duplicate_window: 600e9,
  });
  const js = jetstream(nc);
  const window = 1000;
  for (let i = 0; i < events.length; i += window) {
    await Promise.all(
      events.slice(i, i + window).map((e) =>
        js.publish(`${iso.subjectPrefix}.${e.subject}`, JSON.stringify(e.body), {
          msgID: e.body.event_id,
        }),
      ),
    );
  }
  await nc.close();
}

function startAudit(env) {
  // SG_NODE_ARGS adds node flags, as for npm start (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
  const nodeArgs = (process.env.SG_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'services/audit/dist/main.js')], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  return {
    child,
    output: () => out,
    stop: () =>
      new Promise((r) =>
        child.exitCode !== null ? r() : (child.once('exit', r), child.kill('SIGTERM')),
      ),
  };
}

async function timeIngest(iso, instances, db) {
  const run = randomUUID().slice(0, 8);
  const schema = `${iso.schema}_${instances}`;
  const env = {
    ...iso.env,
    DATABASE_SCHEMA: schema,
    CONFIG_DIR: join(ROOT, 'examples/config'),
    HEALTH_PORT: '0',
    LOG_LEVEL: 'warn',
    LOG_PRETTY: 'false',
    AUDIT_SIGNING_KEY_FILE: signingKey,
    AUDIT_CHECKPOINT_MS: '1000',
    AUDIT_CONSUMER: `bench_${run}`,
    ANOMALY_CONSUMER: `bench_anomaly_${run}`,
  };
  const procs = [];
  const started = performance.now();
  for (let i = 0; i < instances; i++) procs.push(startAudit(env));
  let first = null;
  let count = 0;
  const deadline = Date.now() + 600_000;
  while (count < EVENTS && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    const exited = procs.find((p) => p.child.exitCode !== null);
    if (exited) throw new Error(`audit exited: ${exited.output()}`);
    try {
      count = Number(
        (await db.query(`SELECT count(*) AS n FROM "${schema}".audit_events`)).rows[0].n,
      );
    } catch {
      continue; // the schema is being created
    }
    if (count > 0 && first === null) first = { t: performance.now(), count };
  }
  const done = performance.now();
  for (const p of procs) await p.stop();
  const problems = procs.flatMap((p) =>
    p
      .output()
      .split('\n')
      .filter((l) => /"level":(40|50|60)/.test(l)),
  );
  if (problems.length > 0)
    process.stdout.write(
      `audit x${instances} logged ${problems.length} warnings/errors:\n${problems.slice(0, 6).join('\n')}\n`,
    );
  if (count < EVENTS) throw new Error(`only ${count} of ${EVENTS} events stored`);
  // Verifying what was stored: every project's chain, from its first row.
  const pool = new pg.Pool({
    connectionString: TEST_SERVERS.databaseUrl,
    options: `-c search_path=${schema}`,
    max: 2,
  });
  const verifyStart = performance.now();
  const reports = [];
  for (const project of ['acme', 'default']) reports.push(await verifyChain(pool, project));
  const verifyS = (performance.now() - verifyStart) / 1000;
  await pool.end();
  await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  if (reports.some((r) => !r.ok))
    throw new Error(`chain does not verify: ${JSON.stringify(reports)}`);
  return {
    verify_rows_per_s: Math.round(EVENTS / verifyS),
    instances,
    events: EVENTS,
    total_s: round((done - started) / 1000),
    events_per_s_including_start: Math.round(EVENTS / ((done - started) / 1000)),
    events_per_s: Math.round((EVENTS - first.count) / ((done - first.t) / 1000)),
  };
}

/** The same rows, one plain INSERT per 500 (what the ingest batches), no chain or masking. */
async function plainInsert(db, schema, events) {
  await db.query(
    `CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".plain (event_id uuid PRIMARY KEY, subject text, source text, project text, trace_id text, occurred_at timestamptz, data jsonb)`,
  );
  const started = performance.now();
  for (let i = 0; i < events.length; i += 500) {
    const batch = events.slice(i, i + 500);
    const values = [];
    const tuples = batch.map((e, k) => {
      values.push(
        e.body.event_id,
        e.subject,
        e.body.source,
        e.body.project,
        e.body.trace_id,
        e.body.occurred_at,
        JSON.stringify(e.body.data),
      );
      return `(${Array.from({ length: 7 }, (_, c) => `$${k * 7 + c + 1}`).join(',')})`;
    });
    await db.query(
      `INSERT INTO "${schema}".plain VALUES ${tuples.join(',')} ON CONFLICT DO NOTHING`,
      values,
    );
  }
  const s = (performance.now() - started) / 1000;
  await db.query(`DROP SCHEMA "${schema}" CASCADE`);
  return { events: events.length, total_s: round(s), events_per_s: Math.round(events.length / s) };
}

// Checkpoints are signed as in production (every second here, so their cost is in the figures).
const keyDir = mkdtempSync(join(tmpdir(), 'sg-bench-audit-'));
const signingKey = join(keyDir, 'audit-signing.pem');
writeFileSync(
  signingKey,
  generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
);

const iso = isolate('benchaudit');
const db = new pg.Client({ connectionString: TEST_SERVERS.databaseUrl });
await db.connect();
try {
  const events = Array.from({ length: CALLS }, (_, i) =>
    eventsOfCall(i, i % 4 === 0 ? 'acme' : 'default'),
  ).flat();
  const bytes = events.reduce((n, e) => n + JSON.stringify(e.body).length, 0);
  process.stdout.write(
    `publishing ${EVENTS} events (${Math.round(bytes / EVENTS)} B each on average)\n`,
  );
  await publishAll(iso, events);
  const plain = await plainInsert(db, `${iso.schema}_plain`, events);
  process.stdout.write(
    `plain batched INSERT (no NATS, masking or chain): ${plain.events_per_s} events/s\n`,
  );
  const runs = [];
  for (const n of RUNS) {
    const r = await timeIngest(iso, n, db);
    r.ratio_to_plain_insert = round(r.events_per_s / plain.events_per_s);
    runs.push(r);
    process.stdout.write(
      `audit service x${n}: ${r.events_per_s} events/s steady (${r.events_per_s_including_start} incl. start), ${r.ratio_to_plain_insert}x the plain INSERT; chain verified at ${r.verify_rows_per_s} rows/s\n`,
    );
  }
  const results = {
    benchmark: 'audit-ingest',
    timestamp: new Date().toISOString(),
    git: gitInfo(),
    machine: machineInfo(),
    calls: CALLS,
    events: EVENTS,
    avg_event_bytes: Math.round(bytes / EVENTS),
    plain_insert: plain,
    runs,
  };
  const file = resultsFile('audit', results.timestamp);
  writeResults(file, results);
  process.stdout.write(`results: ${displayPath(file)}\n`);
} finally {
  await db.end();
  await iso.cleanup();
  rmSync(keyDir, { recursive: true, force: true });
}
