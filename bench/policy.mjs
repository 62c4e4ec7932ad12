// `node bench/policy.mjs` (after `npm run build`): policy decisions per second and latency of the
// policy engine on a 1,000-rule policy, with @cedar-policy/cedar-wasm evaluating the same
// allowlist as the reference, in the same run, on the same requests.
//
// In one run it:
//   1. writes a config directory (1,000 rules, one per agent, 200 registered tools, one key per
//      agent) to a temporary folder and loads it exactly as the policy service does
//      (loadGatewayFiles, compileProjects, compileRegistry);
//   2. translates the same allowlist into Cedar policies and pre-parses them once
//      (preparsePolicySet), then checks that both engines decide every benchmark request alike;
//   3. measures each engine after a warm-up, in alternating slices: decisions/s over batches of
//      calls, and p50/p99 of every call timed on its own;
//   4. prints a table and writes the figures to bench/results/policy-<timestamp>.json.
// For context only, it also times Cedar with the allowlist moved into entity data (3 policies)
// and Cedar without pre-parsing; the ratio compares ours with the 2,001-policy translation.
// It exits 1 if the engines disagree on any request. Only the in-process decision is measured:
// no Redis (rate limits and the session are fixed inputs), no NATS, no HTTP.
//
// Settings (environment): BENCH_DURATION_S (5, measured seconds per engine), BENCH_WARMUP_S (1,
// per engine), BENCH_RULES (1000), BENCH_REQUESTS (10000 distinct requests, cycled).
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { loadGatewayFiles } from '@sg/config';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import v8 from 'node:v8';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { evaluate, CHECKS } from '../libs/policy-engine/dist/decision/engine.js';
import { compileGlobs } from '../libs/policy-engine/dist/decision/glob.js';
import { compileProjects } from '../libs/policy-engine/dist/registry/compile.js';
import { compileRegistry } from '../libs/policy-engine/dist/registry/tool-registry.js';
import {
  describeMachine,
  displayPath,
  loadAverage,
  machineInfo,
  mulberry32,
  percentile,
  resultsFile,
  round,
  setting,
  table,
  warnIfBusy,
  writeResults,
} from './lib.mjs';

// Node 20's V8 (11.3) aborts ("Fatal error … unreachable code" in
// Deoptimizer::DoComputeBuiltinContinuation) when it deoptimizes the measuring loop after it has
// inlined Cedar's JS-to-Wasm calls into it. Not inlining them avoids that; it costs Cedar the
// wrapper call only, well under a microsecond of its tens of microseconds per decision.
v8.setFlagsFromString('--no-turbo-inline-js-wasm-calls');

// ---------------------------------------------------------------------------------------------
// Settings

const DURATION_S = setting('BENCH_DURATION_S', 5, { integer: false });
const WARMUP_S = setting('BENCH_WARMUP_S', 1, { integer: false });
const RULES = setting('BENCH_RULES', 1000);
const REQUESTS = setting('BENCH_REQUESTS', 10_000);
const SERVICES = 50;
const OPS = 4; // tools svc<k>.op<j>: SERVICES × OPS registered tools
const SLICES = 5; // each engine's measured time is split in slices, alternating between engines
const BATCH = 256; // calls between two clock reads in the throughput passes
const NO_PREPARSE_S = 1; // informational: Cedar's isAuthorized parsing the policy text every call
const TARGET_RATIO = 2;
const PSET_ID = 'bench-allowlist';
const DATA_PSET_ID = 'bench-allowlist-as-data';
const NOW = new Date('2026-11-24T10:00:00Z');

// ---------------------------------------------------------------------------------------------
// The policy, the keys and the tools, as files

const agentId = (i) => `agent-${String(i).padStart(4, '0')}`;
const toolName = (k, j) => `svc${k}.op${j}`;

/** Rule i: the agent's own service (glob) and one exact tool elsewhere; op3* of its own service denied. */
function ruleOf(i) {
  const own = i % SERVICES;
  return {
    model: agentId(i),
    allow_tools: [`svc${own}.*`, toolName((i * 7 + 3) % SERVICES, i % OPS)],
    deny_tools: [`svc${own}.op3*`],
  };
}

const INPUT_SCHEMA = {
  type: 'object',
  properties: {
    query: { type: 'string', maxLength: 200 },
    limit: { type: 'integer', minimum: 1, maximum: 100 },
  },
  required: ['query'],
};

function writeConfig(dir) {
  const rules = Array.from({ length: RULES }, (_, i) => ruleOf(i));
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies/default.yaml'), stringify({ rules }));
  const models = Object.fromEntries(rules.map((r) => [r.model, { key: `bench-key-${r.model}` }]));
  mkdirSync(join(dir, 'model_keys'));
  writeFileSync(join(dir, 'model_keys/default.yaml'), stringify({ models }));
  mkdirSync(join(dir, 'tools'));
  for (let k = 0; k < SERVICES; k++) {
    for (let j = 0; j < OPS; j++) {
      const name = toolName(k, j);
      const tool = {
        name,
        description: `bench tool ${name}`,
        input_schema: INPUT_SCHEMA,
        upstream: { type: 'http', url: 'http://127.0.0.1:9/x' },
      };
      writeFileSync(join(dir, 'tools', `${name}.json`), `${JSON.stringify(tool)}\n`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The same allowlist in Cedar

/** A tool glob as a Cedar condition: `like` for `*` globs, `==` for exact names. */
function cedarMatch(glob) {
  if (/[?[\]\\]/.test(glob)) throw new Error(`glob ${glob} has no Cedar "like" equivalent`);
  return glob.includes('*')
    ? `resource.name like ${JSON.stringify(glob)}`
    : `resource.name == ${JSON.stringify(glob)}`;
}

/**
 * Per rule: one permit (its allow globs, or'ed) and one forbid (its deny globs); forbid wins, as
 * deny_tools does. Plus one forbid for tools not in the registry. Default deny, as in evaluate.
 */
function cedarPolicies(rules) {
  const out = [
    '@id("tool_registry")\nforbid (principal, action == Action::"call", resource)\nunless { resource in Registry::"tools" };',
  ];
  rules.forEach((r, i) => {
    const scope = `principal == Agent::${JSON.stringify(r.model)}, action == Action::"call", resource`;
    if (r.allow_tools.length) {
      out.push(
        `@id("rules[${i}].allow_tools")\npermit (${scope})\nwhen { ${r.allow_tools.map(cedarMatch).join(' || ')} };`,
      );
    }
    if (r.deny_tools.length) {
      out.push(
        `@id("rules[${i}].deny_tools")\nforbid (${scope})\nwhen { ${r.deny_tools.map(cedarMatch).join(' || ')} };`,
      );
    }
  });
  return out;
}

/**
 * Informational second encoding: three policies, the allowlist moved into entity data. Each
 * agent's globs are resolved against the registry when the config loads: `svc<k>.*` becomes
 * membership of ToolGroup::"svc<k>", any other glob the list of registered tools it matches.
 */
const CEDAR_DATA_POLICIES = [
  '@id("tool_registry")\nforbid (principal, action == Action::"call", resource)\nunless { resource in Registry::"tools" };',
  '@id("allow_tools")\npermit (principal, action == Action::"call", resource)\nwhen { resource in principal.allowGroups || principal.allowTools.contains(resource.name) };',
  '@id("deny_tools")\nforbid (principal, action == Action::"call", resource)\nwhen { resource in principal.denyGroups || principal.denyTools.contains(resource.name) };',
];

function cedarAgentEntities(rules, toolNames) {
  const resolve = (globs) => {
    const groups = [];
    const tools = [];
    for (const g of globs) {
      const m = /^(svc\d+)\.\*$/.exec(g);
      if (m) groups.push({ __entity: { type: 'ToolGroup', id: m[1] } });
      else {
        const list = compileGlobs([g]);
        tools.push(...toolNames.filter((t) => list.firstMatch(t) === 0));
      }
    }
    return [groups, tools];
  };
  return new Map(
    rules.map((r) => {
      const [allowGroups, allowTools] = resolve(r.allow_tools);
      const [denyGroups, denyTools] = resolve(r.deny_tools);
      return [
        r.model,
        {
          uid: { type: 'Agent', id: r.model },
          attrs: { allowGroups, allowTools, denyGroups, denyTools },
          parents: [],
        },
      ];
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Requests: a deterministic mix of agents and tools

/**
 * 70 % a tool of the agent's own service (op3 of it is denied), 15 % its exact extra tool,
 * 13 % any registered tool (mostly not allowed), 2 % an unregistered tool.
 */
function requestMix(n) {
  const rnd = mulberry32(20261124);
  const int = (m) => Math.floor(rnd() * m);
  const out = [];
  for (let r = 0; r < n; r++) {
    const i = int(RULES);
    const p = rnd();
    let tool;
    let kind;
    if (p < 0.7) [tool, kind] = [toolName(i % SERVICES, int(OPS)), 'own service'];
    else if (p < 0.85) [tool, kind] = [toolName((i * 7 + 3) % SERVICES, i % OPS), 'exact allow'];
    else if (p < 0.98) [tool, kind] = [toolName(int(SERVICES), int(OPS)), 'any registered'];
    else [tool, kind] = [`svc${int(SERVICES)}.op${OPS + int(5)}`, 'unregistered'];
    out.push({
      kind,
      req: {
        project: 'default',
        agent_id: agentId(i),
        session_id: `session-${r % 997}`,
        request_id: `request-${r}`,
        channel: 'rest',
        tool,
        arguments: { query: `find item ${r % 100}`, limit: 1 + (r % 50) },
      },
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Measurement

const hr = process.hrtime.bigint;

/** Calls fn on inputs (cycled) in batches, reading the clock once per batch. */
function throughputPass(fn, inputs, seconds, state) {
  const start = hr();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  let calls = 0;
  let sink = 0;
  let i = state.next;
  while (now < end) {
    for (let b = 0; b < BATCH; b++) {
      sink += fn(inputs[i]);
      if (++i === inputs.length) i = 0;
    }
    calls += BATCH;
    now = hr();
  }
  state.next = i;
  state.sink += sink;
  return { calls, ns: Number(now - start) };
}

/** Calls fn on inputs (cycled), timing every call on its own; appends the times (ns) to lat. */
function latencyPass(fn, inputs, seconds, state, lat) {
  const end = hr() + BigInt(Math.round(seconds * 1e9));
  let sink = 0;
  let i = state.next;
  for (;;) {
    const a = hr();
    sink += fn(inputs[i]);
    const b = hr();
    lat.push(Number(b - a));
    if (++i === inputs.length) i = 0;
    if (b >= end) break;
  }
  state.next = i;
  state.sink += sink;
}

class Samples {
  constructor() {
    this.data = new Float64Array(1 << 16);
    this.length = 0;
  }
  push(x) {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = x;
  }
  percentiles() {
    const s = this.data.subarray(0, this.length).sort();
    return { p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] };
  }
}

// ---------------------------------------------------------------------------------------------
// Output

function printTable(rows) {
  const head = ['engine', 'decisions/s', 'p50 µs', 'p99 µs', 'timed calls'];
  const body = rows.map((r) => [
    r.label,
    Math.round(r.decisions_per_s).toLocaleString('en-US'),
    r.p50_us.toFixed(2),
    r.p99_us.toFixed(2),
    r.timed_calls.toLocaleString('en-US'),
  ]);
  console.log(table(body, head));
}

// ---------------------------------------------------------------------------------------------
// Main

function main() {
  const machine = machineInfo();
  warnIfBusy(machine, console.log);

  // 1. Our engine's inputs, loaded as the policy service loads them.
  const dir = mkdtempSync(join(os.tmpdir(), 'sg-bench-policy-'));
  let files;
  let registry;
  let compiled;
  const setupStart = performance.now();
  try {
    writeConfig(dir);
    files = loadGatewayFiles(dir);
    compiled = compileProjects(files);
    registry = compileRegistry(files.tools, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const oursSetupMs = performance.now() - setupStart;
  const policy = compiled.live.get('default');
  const keys = compiled.keys.get('default');
  const limits = { kind: 'ok', used: [{ scope: 'agent', used: 1, limit: 600, window_s: 60 }] };

  const mix = requestMix(REQUESTS);
  const oursInputs = mix.map(({ req }) => ({
    req,
    tool: registry.get(req.tool),
    policy,
    keys,
    limits,
    session: { calls: 1, writes: 0, denials: 0, history: [] },
    now: NOW,
    version: files.version,
  }));

  // 2. The Cedar reference: the same allowlist (read back from the loaded policy file), with
  //    the policy sets pre-parsed once.
  const loadedRules = files.policies.get('default').rules;
  const toolNames = [...registry.keys()];
  const cedarList = cedarPolicies(loadedRules);
  const cedarText = cedarList.join('\n\n');
  const parseStart = performance.now();
  const parsed = cedar.preparsePolicySet(PSET_ID, { staticPolicies: cedarText });
  const cedarParseMs = performance.now() - parseStart;
  const dataText = CEDAR_DATA_POLICIES.join('\n\n');
  const parsedData = cedar.preparsePolicySet(DATA_PSET_ID, { staticPolicies: dataText });
  for (const p of [parsed, parsedData]) {
    if (p.type !== 'success') {
      console.error('✗ Cedar refused a policy set:', JSON.stringify(p.errors, null, 2));
      process.exit(2);
    }
  }
  const agentEntities = cedarAgentEntities(loadedRules, toolNames);
  const service = (tool) => tool.split('.')[0];
  // The request's entity slice: the tool, a member of the registry if it is registered.
  const toolEntity = (tool, groups) => ({
    uid: { type: 'Tool', id: tool },
    attrs: { name: tool },
    parents: registry.has(tool)
      ? [
          { type: 'Registry', id: 'tools' },
          ...(groups ? [{ type: 'ToolGroup', id: service(tool) }] : []),
        ]
      : [],
  });
  const request = (req) => ({
    principal: { type: 'Agent', id: req.agent_id },
    action: { type: 'Action', id: 'call' },
    resource: { type: 'Tool', id: req.tool },
    context: {},
  });
  const cedarInputs = mix.map(({ req }) => ({
    ...request(req),
    preparsedPolicySetId: PSET_ID,
    entities: [toolEntity(req.tool, false)],
  }));
  const cedarDataInputs = mix.map(({ req }) => ({
    ...request(req),
    preparsedPolicySetId: DATA_PSET_ID,
    entities: [agentEntities.get(req.agent_id), toolEntity(req.tool, true)],
  }));
  const cedarUnparsedInputs = mix.map(({ req }) => ({
    ...request(req),
    policies: { staticPolicies: cedarText },
    entities: [toolEntity(req.tool, false)],
  }));

  const ours = (input) => (evaluate(input).allowed ? 1 : 0);
  const cedarOf = (authorize) => (call) => {
    const answer = authorize(call);
    if (answer.type !== 'success')
      throw new Error(`Cedar failed: ${JSON.stringify(answer.errors)}`);
    return answer.response.decision === 'allow' ? 1 : 0;
  };

  // Agreement on every request, and what the mix contains.
  const agreement = {
    cedar: { disagreements: 0, answers_with_errors: 0, examples: [] },
    cedar_data: { disagreements: 0, answers_with_errors: 0, examples: [] },
  };
  let allowed = 0;
  const byKind = {};
  const denialsByCheck = {};
  for (let r = 0; r < mix.length; r++) {
    const d = evaluate(oursInputs[r]);
    if (d.rule_trace.length !== CHECKS.length) {
      throw new Error(`a decision's rule_trace does not list all ${CHECKS.length} checks`);
    }
    const k = (byKind[mix[r].kind] ??= { requests: 0, allowed: 0 });
    k.requests++;
    if (d.allowed) {
      allowed++;
      k.allowed++;
    } else {
      const failed = d.rule_trace.find((t) => t.outcome === 'fail')?.check ?? 'unknown';
      denialsByCheck[failed] = (denialsByCheck[failed] ?? 0) + 1;
    }
    for (const [id, call] of [
      ['cedar', cedarInputs[r]],
      ['cedar_data', cedarDataInputs[r]],
    ]) {
      const answer = cedar.statefulIsAuthorized(call);
      if (answer.type !== 'success')
        throw new Error(`Cedar failed: ${JSON.stringify(answer.errors)}`);
      const a = agreement[id];
      if (answer.response.diagnostics.errors.length) a.answers_with_errors++;
      const cedarAllowed = answer.response.decision === 'allow';
      if (d.allowed === cedarAllowed) continue;
      a.disagreements++;
      if (a.examples.length < 5) {
        a.examples.push({
          agent: mix[r].req.agent_id,
          tool: mix[r].req.tool,
          ours: d.allowed ? 'allow' : `deny (${d.code}: ${d.reason})`,
          cedar: answer.response.decision,
          cedar_policies: answer.response.diagnostics.reason,
        });
      }
    }
  }
  const disagreements = agreement.cedar.disagreements + agreement.cedar_data.disagreements;

  const n = (x) => x.toLocaleString('en-US');
  console.log(
    `policy: ${n(RULES)} rules (one per agent), ${registry.size} registered tools, ${n(keys.agents.size)} agent keys, ` +
      `no contextual policy; loaded and compiled in ${oursSetupMs.toFixed(0)} ms`,
  );
  console.log(
    `cedar ${cedar.getCedarVersion()}: ${n(cedarList.length)} policies (${(cedarText.length / 1024).toFixed(0)} KiB), ` +
      `pre-parsed once in ${cedarParseMs.toFixed(0)} ms; info variant: ${CEDAR_DATA_POLICIES.length} policies, allowlist in entity data`,
  );
  console.log(
    `requests: ${n(mix.length)} distinct, cycled; ${((100 * allowed) / mix.length).toFixed(1)} % allowed; denied by ` +
      Object.entries(denialsByCheck)
        .map(([c, k]) => `${c} ${n(k)}`)
        .join(', '),
  );
  for (const [id, a] of Object.entries(agreement)) {
    console.log(
      `agreement (${id}): ${a.disagreements} disagreement(s) with ours on ${n(mix.length)} requests` +
        (a.answers_with_errors ? `; ${a.answers_with_errors} answers with evaluation errors` : ''),
    );
    for (const e of a.examples) console.log('  ✗', JSON.stringify(e));
  }

  // 3. Warm-up, then alternating measured slices.
  const engines = [
    { id: 'ours', label: 'ours: evaluate()', fn: ours, inputs: oursInputs },
    {
      id: 'cedar',
      label: 'cedar-wasm statefulIsAuthorized()',
      fn: cedarOf(cedar.statefulIsAuthorized),
      inputs: cedarInputs,
    },
    {
      id: 'cedar_data',
      label: 'cedar-wasm, allowlist as entity data (info)',
      fn: cedarOf(cedar.statefulIsAuthorized),
      inputs: cedarDataInputs,
    },
  ];
  for (const e of engines) {
    e.state = { next: 0, sink: 0 };
    e.lat = new Samples();
    e.calls = 0;
    e.ns = 0;
  }
  console.log(
    `\nwarm-up ${WARMUP_S} s per engine, then ${DURATION_S} s per engine in ${SLICES} alternating slices ` +
      `(half batched for decisions/s, half timing each call for p50/p99)…`,
  );
  for (const e of engines) throughputPass(e.fn, e.inputs, WARMUP_S, e.state);
  const slice = DURATION_S / SLICES / 2;
  for (let s = 0; s < SLICES; s++) {
    for (const e of engines) {
      const t = throughputPass(e.fn, e.inputs, slice, e.state);
      e.calls += t.calls;
      e.ns += t.ns;
      latencyPass(e.fn, e.inputs, slice, e.state, e.lat);
    }
  }
  // Informational: Cedar without pre-parsing, parsing the whole policy text on every call.
  const unparsed = {
    id: 'cedar_no_preparse',
    label: 'cedar-wasm isAuthorized(), no pre-parse (info)',
    fn: cedarOf(cedar.isAuthorized),
    inputs: cedarUnparsedInputs,
    state: { next: 0, sink: 0 },
    lat: new Samples(),
  };
  unparsed.fn(unparsed.inputs[0]);
  latencyPass(unparsed.fn, unparsed.inputs, NO_PREPARSE_S, unparsed.state, unparsed.lat);
  // What timing a call costs by itself: two clock reads with nothing between them.
  const clock = new Samples();
  latencyPass(() => 0, [0], 0.2, { next: 0, sink: 0 }, clock);

  const row = (e, decisionsPerS) => {
    const p = e.lat.percentiles();
    return {
      id: e.id,
      label: e.label,
      decisions_per_s: decisionsPerS,
      batched_calls: e.calls ?? 0,
      p50_us: p.p50 / 1000,
      p99_us: p.p99 / 1000,
      max_us: p.max / 1000,
      timed_calls: e.lat.length,
      allowed_in_measured_calls: e.state.sink,
    };
  };
  const rows = engines.map((e) => row(e, e.calls / (e.ns / 1e9)));
  const unparsedTotal = unparsed.lat.data
    .subarray(0, unparsed.lat.length)
    .reduce((a, b) => a + b, 0);
  rows.push(row(unparsed, unparsed.lat.length / (unparsedTotal / 1e9)));
  const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
  const ratio = byId.ours.decisions_per_s / byId.cedar.decisions_per_s;
  const p99Ratio = byId.cedar.p99_us / byId.ours.p99_us;
  const dataRatio = byId.ours.decisions_per_s / byId.cedar_data.decisions_per_s;
  const clockP50Us = clock.percentiles().p50 / 1000;

  // 4. Report.
  console.log('');
  printTable(rows);
  console.log('');
  console.log(
    `ours / cedar: ${ratio.toFixed(2)}× the decisions/s, Cedar's p99 ${p99Ratio.toFixed(2)}× ours ` +
      `(target ≥ ${TARGET_RATIO}×: ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'}); ` +
      `ours / cedar with the allowlist as entity data: ${dataRatio.toFixed(2)}×`,
  );
  console.log(
    `timing one call adds about ${clockP50Us.toFixed(2)} µs (two clock reads) to p50/p99`,
  );
  console.log(describeMachine(machine));
  console.log(
    'ours: all 14 checks with rule_trace and reasoning on every decision; rate limits and session are fixed inputs (no Redis).\n' +
      'cedar: policy set pre-parsed once; the request and its entities converted and parsed on every call; no schema.',
  );

  const results = {
    timestamp: new Date().toISOString(),
    passed: disagreements === 0,
    settings: {
      duration_s_per_engine: DURATION_S,
      warmup_s_per_engine: WARMUP_S,
      slices: SLICES,
      batch: BATCH,
      no_preparse_s: NO_PREPARSE_S,
      rules: RULES,
      registered_tools: registry.size,
      distinct_requests: mix.length,
    },
    policy: {
      ours: {
        rules: RULES,
        agents: keys.agents.size,
        tools: registry.size,
        contextual_policy: false,
        load_and_compile_ms: round(oursSetupMs, 1),
      },
      cedar: {
        version: cedar.getCedarVersion(),
        policies: cedarList.length,
        text_bytes: cedarText.length,
        preparse_ms: round(cedarParseMs, 1),
        encoding:
          'per rule: permit (principal == Agent, action == call) when resource.name like/== each allow glob; forbid likewise for deny globs; forbid unless resource in Registry::"tools"',
        preparsed: ['policy set (preparsePolicySet, once)'],
        not_preparsed: [
          'entities (the tool entity; for the data variant also the agent entity) on every call',
          'the request (principal, action, resource, context) on every call',
        ],
        schema: 'none, no request validation',
      },
      cedar_data: {
        policies: CEDAR_DATA_POLICIES.length,
        encoding:
          'allowlist moved into each Agent entity (globs resolved against the registry at load: svc<k>.* as ToolGroup, other globs as tool names)',
      },
    },
    requests: {
      allowed_share: round(allowed / mix.length, 4),
      by_kind: byKind,
      denials_by_check: denialsByCheck,
    },
    agreement,
    results: rows.map((r) => ({
      ...r,
      decisions_per_s: Math.round(r.decisions_per_s),
      p50_us: round(r.p50_us, 3),
      p99_us: round(r.p99_us, 3),
      max_us: round(r.max_us, 1),
    })),
    clock_overhead_p50_us: round(clockP50Us, 3),
    ours_over_cedar_decisions_per_s: round(ratio, 3),
    cedar_p99_over_ours: round(p99Ratio, 3),
    ours_over_cedar_data_decisions_per_s: round(dataRatio, 3),
    target_ratio: TARGET_RATIO,
    target_met: ratio >= TARGET_RATIO,
    scope: {
      ours: 'evaluate(): rate_limit (fixed outcome), tool_registry, key_scope, allow_tools over every rule, argument_schema (ajv), forbidden_fields, tenant_access, pii_permission, complexity, session_limit, forbidden_sequence, time_window, suspicious_input, session_risk; full rule_trace and reasoning',
      cedar: 'statefulIsAuthorized(): decision and the ids of the determining policies',
      not_measured: 'Redis (rate limits, session), NATS, HTTP, building the inputs',
    },
    machine: { ...machine, load_average_at_end: loadAverage() },
  };
  const file = resultsFile('policy', results.timestamp);
  writeResults(file, results);
  console.log(`results: ${displayPath(file)}`);
  if (disagreements > 0) {
    console.error(`✗ the engines disagree on ${disagreements} decision(s)`);
    process.exit(1);
  }
}

main();
