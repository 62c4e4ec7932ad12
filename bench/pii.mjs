// `node bench/pii.mjs` (after `npx nx run redaction:build`): how fast @sg/redaction masks PII.
//
// In one run it:
//   1. builds a deterministic corpus of customer records as JSON-like objects (about 8 MB as JSON:
//      names, emails, phones, postal addresses, cards, IBANs, SSNs, IPs, order lines, free-text
//      notes with PII in the middle of sentences, and look-alikes that must be left alone);
//   2. masks the whole corpus with maskPii() at levels standard and strict, several times each
//      after a warm-up, and reports MB/s (JSON bytes of the input / time of the maskPii call);
//   3. times seed 003's case: 100 customer records (customer_id, name, email, phone, ssn, card,
//      notes) masked by one maskPii() call, many times; mean, p50, p99 and max in ms;
//   4. times one maskText() call, level strict, on each pathological input (long runs that almost
//      match a detector: libs/redaction/src/pathological.ts);
//   5. prints a table and writes the figures to bench/results/pii-<timestamp>.json.
// It exits 1 if a sample check of the output fails (a planted value left unmasked).
//
// Settings (environment): BENCH_CORPUS_MB (8), BENCH_PASSES (5, measured passes over the corpus
// per level), BENCH_SEED_REPS (2000, timed calls of the 100-record case per level).

import { maskPii, maskText } from '../libs/redaction/dist/index.js';
import { PATHOLOGICAL_INPUTS } from '../libs/redaction/dist/pathological.js';
import {
  describeMachine,
  displayPath,
  gitInfo,
  latencySummary,
  loadAverage,
  machineInfo,
  mulberry32,
  resultsFile,
  round,
  setting,
  table,
  warnIfBusy,
  writeResults,
} from './lib.mjs';

const CORPUS_MB = setting('BENCH_CORPUS_MB', 8, { integer: false });
const PASSES = Math.round(setting('BENCH_PASSES', 5, { integer: false }));
const SEED_REPS = Math.round(setting('BENCH_SEED_REPS', 2000, { integer: false }));
const WARMUP_PASSES = 2;
const SEED_WARMUP = 200;
const SEED_TARGET_MS = 100;
const LEVELS = ['standard', 'strict'];

// ---------------------------------------------------------------------------------------------
// Deterministic data

function makeData(seed) {
  const rnd = mulberry32(seed);
  const int = (min, max) => min + Math.floor(rnd() * (max - min + 1));
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const digits = (n) => Array.from({ length: n }, () => int(0, 9)).join('');
  const pad = (n, w) => String(n).padStart(w, '0');

  const FIRST = [
    'Jane',
    'John',
    'Maria',
    'Wei',
    'Aisha',
    'Lars',
    'Sofia',
    'Mateo',
    'Yuki',
    'Omar',
    'Chloé',
    'Ravi',
  ];
  const LAST = [
    'Doe',
    'Smith',
    'García',
    'Chen',
    'Khan',
    'Larsen',
    'Rossi',
    'Silva',
    'Tanaka',
    'Haddad',
    'Martin',
  ];
  const STREETS = [
    'Main St',
    'Oak Avenue',
    'Rue de Rivoli',
    'Hauptstraße',
    'Baker Street',
    'Elm Road',
    'Via Roma',
  ];
  const CITIES = [
    'Springfield',
    'Paris',
    'Berlin',
    'London',
    'Austin',
    'Milano',
    'Osaka',
    'Toronto',
  ];
  const DOMAINS = [
    'example.com',
    'mail.example.org',
    'corp.example.net',
    'example.co.uk',
    'inbox.example.de',
  ];
  const US_AREAS = [
    '201',
    '212',
    '213',
    '305',
    '312',
    '415',
    '512',
    '617',
    '646',
    '702',
    '718',
    '917',
  ];
  const INTL = [
    '+44 20 7946 0958',
    '+33 1 23 45 67 89',
    '+49 30 901820',
    '+8613812345678',
    '+61 2 9374 4000',
  ];
  const SKUS = ['SKU-10442', 'SKU-20017', 'SKU-99310', 'SKU-00871', 'SKU-31337'];
  const SENTENCES = [
    'Customer asked about the delivery window for the next order.',
    'Follow up next week regarding the refund of the damaged item.',
    'Prefers contact by email in the morning; do not call after 6 pm.',
    'Order 2024-0042 shipped on 2024-03-14 with tracking 1Z999AA10123456784.',
    'Escalated to tier 2 after the third failed payment attempt.',
    'Version 3.2.1 of the app crashed at 10:30:00 when opening settings.',
    'Loyalty tier upgraded; 1,250 points credited to the account.',
  ];

  function luhn(payload) {
    let sum = 0;
    for (let i = 0; i < payload.length; i++) {
      let d = Number(payload[payload.length - 1 - i]);
      if (i % 2 === 0) {
        d *= 2;
        if (d > 9) d -= 9;
      }
      sum += d;
    }
    return String((10 - (sum % 10)) % 10);
  }
  const card = () => {
    const p = pick(['4', '51', '55', '6011', '2221']);
    const payload = (p + digits(15)).slice(0, 15);
    const d = payload + luhn(payload);
    return rnd() < 0.5 ? d.match(/\d{4}/g).join(rnd() < 0.5 ? ' ' : '-') : d;
  };
  const ssn = () =>
    `${pad(pick([int(1, 665), int(667, 899)]), 3)}-${pad(int(1, 99), 2)}-${pad(int(1, 9999), 4)}`;
  const iban = () => {
    const bban = digits(18);
    let rem = 0;
    for (const c of `${bban}DE00`)
      rem = c <= '9' ? (rem * 10 + Number(c)) % 97 : (rem * 100 + c.charCodeAt(0) - 55) % 97;
    const compact = `DE${pad(98 - rem, 2)}${bban}`;
    return rnd() < 0.5 ? compact.match(/.{1,4}/g).join(' ') : compact;
  };
  const phone = () => {
    if (rnd() < 0.3) return pick(INTL);
    const a = pick(US_AREAS);
    const e = int(200, 999);
    const s = digits(4);
    return pick([`(${a}) ${e}-${s}`, `${a}-${e}-${s}`, `+1 ${a} ${e} ${s}`]);
  };
  const name = () => `${pick(FIRST)} ${pick(LAST)}`;
  const email = (n) =>
    `${n
      .toLowerCase()
      .normalize('NFD')
      .replace(/[^a-z ]/g, '')
      .replace(' ', '.')}${int(1, 99)}@${pick(DOMAINS)}`;
  const ip = () =>
    rnd() < 0.8
      ? `${int(1, 223)}.${int(0, 255)}.${int(0, 255)}.${int(1, 254)}`
      : `2001:db8:${int(0, 65535).toString(16)}::${int(1, 65535).toString(16)}`;
  const notes = (n) => {
    const parts = [pick(SENTENCES), pick(SENTENCES)];
    const r = rnd();
    if (r < 0.25) parts.push(`Alternate email ${email(n)}, phone ${phone()}.`);
    else if (r < 0.4) parts.push(`Paid with card ${card()} from ${ip()}.`);
    else if (r < 0.5) parts.push(`Look-alikes: ref 4111 1111 1111 1112, code 000-12-3456.`);
    else if (r < 0.55) parts.push('Authorization: Bearer 8f2b1c9e4d7a6b3c5e0f1a2b3c4d5e6f');
    return parts.join(' ');
  };

  return {
    /** A realistic record for the corpus. */
    corpusRecord(i) {
      const n = name();
      return {
        id: `cus_${pad(i, 8)}`,
        name: n,
        email: email(n),
        phone: phone(),
        address: {
          street: `${int(1, 999)} ${pick(STREETS)}`,
          city: pick(CITIES),
          zip: pad(int(1000, 99999), 5),
          country: pick(['US', 'GB', 'FR', 'DE']),
        },
        payment:
          rnd() < 0.5
            ? { card: card(), expires: `${pad(int(1, 12), 2)}/${int(26, 31)}` }
            : { iban: iban() },
        ssn: rnd() < 0.3 ? ssn() : null,
        last_ip: ip(),
        created_at: `2024-${pad(int(1, 12), 2)}-${pad(int(1, 28), 2)}T${pad(int(0, 23), 2)}:${pad(int(0, 59), 2)}:00Z`,
        active: rnd() < 0.9,
        balance: Math.round(rnd() * 100000) / 100,
        orders: Array.from({ length: int(0, 4) }, () => ({
          sku: pick(SKUS),
          qty: int(1, 5),
          amount: Math.round(rnd() * 50000) / 100,
        })),
        notes: notes(n),
      };
    },
    /** Seed 003's record: customer_id, name, email, phone, ssn, card, notes. */
    seedRecord(i) {
      const n = name();
      return {
        customer_id: `C-${pad(i, 6)}`,
        name: n,
        email: email(n),
        phone: phone(),
        ssn: ssn(),
        card: card(),
        notes: notes(n),
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Measuring

const sum = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);
const nonZero = (counts) => Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));

function throughput(corpus, bytes, level) {
  for (let i = 0; i < WARMUP_PASSES; i++) maskPii(corpus, { level });
  const times = [];
  let report;
  for (let i = 0; i < PASSES; i++) {
    const t0 = performance.now();
    report = maskPii(corpus, { level }).report;
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  return {
    level,
    passes: PASSES,
    ms_median: round(median, 1),
    ms_min: round(times[0], 1),
    mb_per_s: round(bytes / 1e6 / (median / 1000), 2),
    mb_per_s_best: round(bytes / 1e6 / (times[0] / 1000), 2),
    masked: nonZero(report.masked),
    rejected: nonZero(report.rejected),
    masked_total: sum(report.masked),
  };
}

function seedCase(records, level) {
  for (let i = 0; i < SEED_WARMUP; i++) maskPii(records, { level });
  const times = new Array(SEED_REPS);
  for (let i = 0; i < SEED_REPS; i++) {
    const t0 = performance.now();
    maskPii(records, { level });
    times[i] = performance.now() - t0;
  }
  const ms = latencySummary(times);
  return {
    level,
    reps: SEED_REPS,
    mean_ms: ms.mean,
    p50_ms: ms.p50,
    p99_ms: ms.p99,
    max_ms: ms.max,
    target_ms: SEED_TARGET_MS,
    met: ms.p99 < SEED_TARGET_MS,
  };
}

const printTable = (head, rows) => console.log(table(rows, head));

// ---------------------------------------------------------------------------------------------
// Main

function main() {
  const machine = machineInfo();
  console.log(describeMachine(machine));
  warnIfBusy(machine, console.log);

  // The corpus: records until the JSON reaches the size asked for.
  const data = makeData(3);
  const corpus = [];
  let bytes = 2;
  while (bytes < CORPUS_MB * 1e6) {
    const r = data.corpusRecord(corpus.length);
    corpus.push(r);
    bytes += Buffer.byteLength(JSON.stringify(r)) + 1;
  }
  bytes = Buffer.byteLength(JSON.stringify(corpus));
  let strings = 0;
  (function count(v) {
    if (typeof v === 'string') strings++;
    else if (Array.isArray(v)) v.forEach(count);
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(count);
  })(corpus);
  console.log(
    `corpus: ${corpus.length.toLocaleString('en-US')} records, ${(bytes / 1e6).toFixed(2)} MB as JSON, ${strings.toLocaleString('en-US')} strings`,
  );

  // Sample check: nothing planted may survive.
  const failures = [];
  const sample = maskPii(corpus.slice(0, 500), { level: 'strict' }).value;
  sample.forEach((r, i) => {
    const o = corpus[i];
    for (const [field, v] of [
      ['email', o.email],
      ['phone', o.phone],
      ['card', o.payment.card],
      ['iban', o.payment.iban],
      ['ssn', o.ssn],
      ['last_ip', o.last_ip],
    ]) {
      if (v && JSON.stringify(r).includes(v)) failures.push(`record ${i}: ${field} left unmasked`);
    }
  });

  const corpusRows = LEVELS.map((level) => throughput(corpus, bytes, level));
  console.log(
    `\nmasking throughput (maskPii over the whole corpus, ${PASSES} passes after ${WARMUP_PASSES} warm-up)`,
  );
  printTable(
    ['level', 'MB/s (median)', 'MB/s (best)', 'ms / pass', 'masked', 'rejected'],
    corpusRows.map((r) => [
      r.level,
      r.mb_per_s.toFixed(2),
      r.mb_per_s_best.toFixed(2),
      r.ms_median.toFixed(1),
      r.masked_total.toLocaleString('en-US'),
      sum(r.rejected).toLocaleString('en-US'),
    ]),
  );

  // Own generator, so the 100 records are the same whatever the corpus size.
  const seedData = makeData(303);
  const seedRecords = Array.from({ length: 100 }, (_, i) => seedData.seedRecord(i));
  const seedBytes = Buffer.byteLength(JSON.stringify(seedRecords));
  const seedRows = LEVELS.map((level) => seedCase(seedRecords, level));
  const seedReport = maskPii(seedRecords, { level: 'standard' }).report;
  console.log(
    `\nseed 003: 100 customer records (${(seedBytes / 1024).toFixed(1)} KiB as JSON), one maskPii() call, ${SEED_REPS} timed calls after ${SEED_WARMUP} warm-up`,
  );
  printTable(
    ['level', 'mean ms', 'p50 ms', 'p99 ms', 'max ms', `target < ${SEED_TARGET_MS} ms`],
    seedRows.map((r) => [
      r.level,
      r.mean_ms.toFixed(3),
      r.p50_ms.toFixed(3),
      r.p99_ms.toFixed(3),
      r.max_ms.toFixed(3),
      r.met ? 'met' : 'NOT met',
    ]),
  );
  console.log(
    `seed 003 masked (standard): ${JSON.stringify(nonZero(seedReport.masked))}, rejected: ${JSON.stringify(nonZero(seedReport.rejected))}`,
  );

  const pathological = PATHOLOGICAL_INPUTS.map((input) => {
    const started = performance.now();
    maskText(input, { level: 'strict' });
    return {
      input: `${JSON.stringify(input.slice(0, 12))}… (${input.length} chars)`,
      ms: round(performance.now() - started, 1),
    };
  });
  console.log('\npathological inputs: one maskText() call each, level strict');
  printTable(
    ['input', 'ms'],
    pathological.map((p) => [p.input, p.ms.toFixed(1)]),
  );

  if (failures.length > 0) {
    console.log(`\n✗ ${failures.length} planted values left unmasked, first: ${failures[0]}`);
  }

  const results = {
    timestamp: new Date().toISOString(),
    passed: failures.length === 0,
    settings: {
      corpus_mb: CORPUS_MB,
      passes: PASSES,
      warmup_passes: WARMUP_PASSES,
      seed_reps: SEED_REPS,
      seed_warmup: SEED_WARMUP,
    },
    corpus: { records: corpus.length, json_bytes: bytes, strings, results: corpusRows },
    seed_003: {
      records: seedRecords.length,
      json_bytes: seedBytes,
      results: seedRows,
      report_standard: seedReport,
    },
    pathological,
    failures,
    git: gitInfo() ?? { commit: null, dirty: null },
    machine: { ...machine, load_average_at_end: loadAverage() },
  };
  const file = resultsFile('pii', results.timestamp);
  writeResults(file, results);
  console.log(`\nresults: ${displayPath(file)}`);
  process.exit(failures.length === 0 ? 0 : 1);
}

main();
