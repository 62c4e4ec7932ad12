// The audit at scale (issue 16): ingest into the time-partitioned audit_events, verification of
// the chains across partitions, and retention's partition drops, at millions of rows.
//
//   npm run build && node bench/audit-scale.mjs [--rows 10000000] [--projects 4] [--months 4] [--batch 5000]
//
// Rows go through the service's own append path (EventStore.append: the chain lock, the
// idempotency table, hashing, one INSERT per batch), from this process, into a throwaway schema
// (isolate()), with stored_at spread evenly over `months` monthly partitions. Then every chain is
// verified (verifyChain, the code behind GET /api/audit/verify), the heads are signed, and
// retention (dropExpiredPartitions, with the cutoff at the start of the last month) drops every
// month but the last; each drop includes its own verification of the chains it cuts. Finally the
// kept part is verified again, from the checkpoints. Writes bench/results/audit-scale-<timestamp>.json.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createPgPool, migrate } from '@sg/runtime';
import { isolate, TEST_SERVERS } from '@sg/testing';
import { CheckpointSigner } from '../services/audit/dist/chain/checkpoint-signer.js';
import { dropExpiredPartitions } from '../services/audit/dist/chain/retention.js';
import { verifyChain } from '../services/audit/dist/chain/verify.js';
import { EventStore } from '../services/audit/dist/store/event-store.js';
import { ensurePartitions } from '../services/audit/dist/store/partitions.js';
import { MIGRATIONS_DIR } from '../services/audit/dist/store/pg.provider.js';
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
    rows: { type: 'string', default: '1000000' },
    projects: { type: 'string', default: '4' },
    months: { type: 'string', default: '4' },
    batch: { type: 'string', default: '5000' },
    keep: { type: 'boolean', default: false },
  },
});
const ROWS = Number(opts.rows);
const PROJECTS = Array.from({ length: Number(opts.projects) }, (_, i) => `scale-${i}`);
const MONTHS = Number(opts.months);
const BATCH = Number(opts.batch);
const START = Date.UTC(2024, 0, 1);
const monthStart = (m) => new Date(Date.UTC(2024, m, 1));
const rand = mulberry32(16);
const say = (line) => process.stdout.write(`${line}\n`);

function event(i) {
  return {
    event_id: randomUUID(),
    subject: 'gw.evt.toolcall.completed.v1',
    source: 'ingress',
    project: PROJECTS[i % PROJECTS.length],
    trace_id: `scale-${i}`,
    occurred_at: new Date(START + i).toISOString(),
    stream_seq: i + 1,
    data: {
      agent_id: `agent-${i % 20}`,
      session_id: `sess-${i % 500}`,
      tool: `crm.tool_${i % 30}`,
      arguments: { customer: `cust-${i}`, email: '[email]', limit: 10 },
      result: { ok: rand() > 0.1, items: Math.floor(rand() * 100) },
      execution_time_ms: Math.floor(rand() * 200),
    },
  };
}

const keyDir = mkdtempSync(join(tmpdir(), 'sg-audit-scale-'));
const keyFile = join(keyDir, 'signing.pem');
writeFileSync(
  keyFile,
  generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
);
const signer = CheckpointSigner.fromFile(keyFile);

const iso = isolate('auditscale');
const pool = createPgPool(TEST_SERVERS.databaseUrl, iso.schema, 4);
const started = new Date().toISOString();
try {
  await migrate(pool, iso.schema, MIGRATIONS_DIR);
  await ensurePartitions(pool, monthStart(0), MONTHS - 1);
  const store = new EventStore(pool);

  // Ingest: batches in order, stored_at moving through the months as the rows do.
  const span = monthStart(MONTHS).getTime() - monthStart(0).getTime();
  let t0 = performance.now();
  let last = t0;
  for (let i = 0; i < ROWS; i += BATCH) {
    const n = Math.min(BATCH, ROWS - i);
    const batch = Array.from({ length: n }, (_, k) => event(i + k));
    await store.append(batch, new Date(monthStart(0).getTime() + Math.floor((i / ROWS) * span)));
    if (performance.now() - last > 10_000) {
      last = performance.now();
      say(`  ingest: ${i + n} rows, ${Math.round((i + n) / ((last - t0) / 1000))} rows/s`);
    }
  }
  const ingestS = (performance.now() - t0) / 1000;
  const ingest = { rows: ROWS, seconds: round(ingestS, 1), rows_per_s: Math.round(ROWS / ingestS) };
  say(`ingest: ${ROWS} rows in ${ingest.seconds} s = ${ingest.rows_per_s} rows/s`);
  await pool.query('ANALYZE audit_events');
  const sizes = await pool.query(
    `SELECT c.relname AS partition, c.reltuples::bigint AS rows, pg_size_pretty(pg_total_relation_size(c.oid)) AS size
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit_events'::regclass ORDER BY 1`,
  );

  // Every chain's head signed, as the service does every AUDIT_CHECKPOINT_MS.
  const heads = await pool.query('SELECT project, chain_seq, hash FROM audit_chain_heads');
  for (const h of heads.rows)
    await signer.signAndStore(
      pool,
      { project: h.project, chain_seq: Number(h.chain_seq), hash: h.hash },
      new Date(),
    );

  const verifyAll = async () => {
    const v0 = performance.now();
    let rows = 0;
    for (const project of PROJECTS) {
      const r = await verifyChain(pool, project, { publicKey: signer.publicKey });
      if (!r.ok)
        throw new Error(
          `the chain of ${project} does not verify: ${JSON.stringify(r.first_mismatch)}`,
        );
      rows += r.rows_checked;
    }
    const s = (performance.now() - v0) / 1000;
    return { rows, seconds: round(s, 1), rows_per_s: Math.round(rows / s) };
  };
  const verify = await verifyAll();
  say(`verify: ${verify.rows} rows in ${verify.seconds} s = ${verify.rows_per_s} rows/s`);

  // Retention: every month but the last has ended before the cutoff.
  t0 = performance.now();
  const retention = await dropExpiredPartitions(pool, store, signer, monthStart(MONTHS - 1), () =>
    monthStart(MONTHS - 1),
  );
  const drops = retention.dropped.map((d) => ({
    partition: d.partition,
    rows: d.rows,
    ms: d.ms,
    verify_ms: d.verify_ms,
    drop_ms: d.ms - d.verify_ms,
  }));
  for (const d of drops)
    say(
      `drop: ${d.partition} (${d.rows} rows) in ${d.ms} ms: ${d.verify_ms} ms verifying the chains it cuts, ${d.drop_ms} ms the rest`,
    );
  if (retention.kept) throw new Error(`a partition was kept: ${JSON.stringify(retention.kept)}`);
  const after = await verifyAll();
  say(
    `verify after retention (from the checkpoints): ${after.rows} rows in ${after.seconds} s = ${after.rows_per_s} rows/s`,
  );

  const file = resultsFile('audit-scale', started);
  writeResults(file, {
    benchmark: 'audit-scale',
    started,
    git: gitInfo(),
    machine: machineInfo(),
    settings: { rows: ROWS, projects: PROJECTS.length, months: MONTHS, batch: BATCH },
    ingest,
    partitions: sizes.rows,
    verify,
    drops,
    verify_after_retention: after,
  });
  say(`results: ${displayPath(file)}`);
} finally {
  await pool.end();
  if (!opts.keep) await iso.cleanup();
  rmSync(keyDir, { recursive: true, force: true });
}
