// The MCP conformance suite (@modelcontextprotocol/conformance, server mode) run twice: against
// tests/conformance/upstream.mjs directly, and against the gateway's /mcp with that server's
// tools imported into the registry, so every tools/call takes the governed path to it. A
// scenario the upstream passes must pass through the gateway too, unless
// tests/conformance/expected-failures.yaml lists it with the reason; an entry there that
// passes fails this test, so the list cannot go stale. Then a smoke test of the MCP Inspector
// CLI through the gateway.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { isScalar, isSeq, parseDocument } from 'yaml';
import { waitFor } from '@sg/testing';
import { ROOT } from '../../../scripts/stack.mjs';
import { AGENT_KEY, startGateway, type Gateway } from './harness.js';

const BASELINE = join(ROOT, 'tests/conformance/expected-failures.yaml');
const CONFORMANCE_CLI = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const INSPECTOR_CLI = join(ROOT, 'node_modules/@modelcontextprotocol/inspector-cli/build/cli.js');
/**
 * Scenarios the upstream itself cannot pass, with why. server-sse-polling (a pending scenario)
 * sends `MCP-Protocol-Version: 2025-03-26` on its raw POST, and the SDK sends the SEP-1699
 * priming event and retry field only to clients of 2025-11-25 or later.
 */
const UPSTREAM_FAILS = ['server-sse-polling'];

let upstream: ChildProcess;
let upstreamUrl: string;
let gw: Gateway;
let proxy: Server;
const outDirs: string[] = [];
let direct: Results;
let gateway: Results;

/** Each scenario the CLI ran: whether it passed (no FAILURE or WARNING), and what failed. */
type Results = Map<string, { passed: boolean; problems: string[] }>;

interface Check {
  id: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED';
  errorMessage?: string;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: opts.cwd ?? ROOT,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Runs every server scenario (`--suite all`, pending ones included) in one CLI invocation. The
 * scenarios it ran are read from its log; their checks from the `-o` directory, where each
 * scenario writes `server-<scenario>-<timestamp>/checks.json`. A scenario that threw writes
 * nothing and counts as failed. Warnings fail a scenario, as they do in the CLI's own baseline
 * check.
 */
async function conformance(url: string): Promise<Results> {
  const out = mkdtempSync(join(tmpdir(), 'sg-conformance-'));
  outDirs.push(out);
  const { stdout, stderr } = await run([
    CONFORMANCE_CLI,
    'server',
    '--url',
    url,
    '--suite',
    'all',
    '-o',
    out,
  ]);
  const ran = [...stdout.matchAll(/^=== Running scenario: (\S+) ===$/gm)].map((m) => m[1]!);
  if (ran.length === 0) throw new Error(`the conformance CLI ran no scenario:\n${stdout}${stderr}`);
  const checks = new Map<string, Check[]>();
  for (const dir of readdirSync(out)) {
    const m = /^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$/.exec(dir);
    if (m) checks.set(m[1]!, JSON.parse(readFileSync(join(out, dir, 'checks.json'), 'utf8')));
  }
  return new Map(
    ran.map((scenario) => {
      const list = checks.get(scenario);
      const bad = (list ?? []).filter((c) => c.status === 'FAILURE' || c.status === 'WARNING');
      return [
        scenario,
        {
          passed: list !== undefined && list.length > 0 && bad.length === 0,
          problems: list
            ? bad.map((c) => `${c.status} ${c.id}: ${c.errorMessage ?? ''}`)
            : ['the scenario threw (no checks.json)'],
        },
      ];
    }),
  );
}

const passing = (r: Results) => [...r].filter(([, v]) => v.passed).map(([s]) => s);
const failing = (r: Results) => [...r].filter(([, v]) => !v.passed).map(([s]) => s);

/** Headers that belong to one connection (hop), not to the message. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade']);
function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !HOP_BY_HOP.has(k)));
}

/**
 * The conformance CLI sends no credentials: this proxy adds the agent key and passes the rest
 * through unchanged, Host, Origin, Mcp-Session-Id and MCP-Protocol-Version included, and streams
 * each answer as it comes (SSE).
 */
function startKeyProxy(target: string): Promise<Server> {
  const server = createServer((req, res) => {
    const out = request(
      new URL(req.url ?? '/', target),
      { method: req.method, headers: { ...endToEnd(req.headers), 'x-api-key': AGENT_KEY } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
        res.flushHeaders();
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    req.pipe(out);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function startUpstream(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'tests/conformance/upstream.mjs')], {
    env: { ...process.env, CONFORMANCE_UPSTREAM_PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const url = await waitFor(
    async () => /conformance upstream on (\S+)/.exec(out)?.[1],
    10_000,
    'the conformance upstream to listen',
  );
  return { child, url };
}

beforeAll(async () => {
  ({ child: upstream, url: upstreamUrl } = await startUpstream());
  gw = await startGateway({
    configure: (c) => {
      // Only the upstream's tools, all allowed to gpt-4o, whose key has no tool scope.
      rmSync(join(c.dir, 'tools'), { recursive: true });
      execFileSync(process.execPath, [
        join(ROOT, 'scripts/import-mcp-tools.mjs'),
        '--url',
        upstreamUrl,
        '--out',
        join(c.dir, 'tools'),
      ]);
      c.write('model_keys/default.yaml', `models:\n  gpt-4o:\n    key: ${AGENT_KEY}\n`);
      c.write(
        'policies/default.yaml',
        'rules:\n  - model: gpt-4o\n    allow_tools: ["*"]\nrate_limits:\n  agent: { limit: 10000, window_s: 60 }\n',
      );
    },
  });
  proxy = await startKeyProxy(gw.url);
  const { port } = proxy.address() as { port: number };
  [direct, gateway] = await Promise.all([
    conformance(upstreamUrl),
    conformance(`http://127.0.0.1:${port}/mcp`),
  ]);
}, 110_000);

afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)));
  await gw?.stop();
  upstream?.kill('SIGTERM');
  for (const dir of outDirs) rmSync(dir, { recursive: true, force: true });
});

/** The baseline's server scenarios, each with its `# reason` comment (inline or the line before). */
function baseline(): Map<string, string | undefined> {
  const doc = parseDocument(readFileSync(BASELINE, 'utf8'));
  const seq = doc.get('server', true);
  if (seq === undefined) return new Map();
  if (!isSeq(seq)) throw new Error(`${BASELINE}: server must be a list of scenario names`);
  return new Map(
    seq.items.map((item, i) => {
      if (!isScalar(item)) throw new Error(`${BASELINE}: server[${i}] is not a scenario name`);
      // The first item's comment is parsed as the list's own.
      const reason = item.comment ?? item.commentBefore ?? (i === 0 ? seq.commentBefore : null);
      return [String(item.value), reason?.trim() || undefined];
    }),
  );
}

describe('the MCP conformance suite', () => {
  it('passes on the upstream directly, but for the scenarios it cannot pass', () => {
    expect(failing(direct)).toEqual(UPSTREAM_FAILS);
  });

  it('passes through the gateway wherever the upstream passes, but for the baseline', () => {
    const expected = baseline();
    const regressions = passing(direct)
      .filter((s) => !gateway.get(s)?.passed && !expected.has(s))
      .map((s) => ({ scenario: s, problems: gateway.get(s)?.problems ?? ['not run'] }));
    expect(regressions).toEqual([]);
  });

  it('has a baseline of scenarios that fail through the gateway only, each with its reason', () => {
    const expected = [...baseline()];
    // An entry that passes through the gateway is stale; one the upstream fails (or a name the
    // suite does not know) says nothing about the gateway.
    expect(expected.filter(([s]) => gateway.get(s)?.passed !== false).map(([s]) => s)).toEqual([]);
    expect(expected.filter(([s]) => !direct.get(s)?.passed).map(([s]) => s)).toEqual([]);
    expect(expected.filter(([, reason]) => !reason).map(([s]) => s)).toEqual([]);
  });
});

describe('the MCP Inspector CLI through the gateway', () => {
  /**
   * `mcp-inspector-cli --cli <url>`, which prints the result as JSON. It runs from its build
   * directory, because inspector-cli 1.0.3 looks for its package.json relative to the working
   * directory; it spawns its worker as `node`, so this Node comes first on PATH.
   */
  async function inspector(url: string, ...args: string[]): Promise<Record<string, unknown>> {
    const res = await run([INSPECTOR_CLI, '--cli', url, '--transport', 'http', ...args], {
      cwd: dirname(INSPECTOR_CLI),
      env: { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH}` },
      timeoutMs: 30_000,
    });
    if (res.code !== 0) throw new Error(`the inspector exited with ${res.code}: ${res.stderr}`);
    return JSON.parse(res.stdout) as Record<string, unknown>;
  }
  const key = ['--header', `X-API-Key: ${AGENT_KEY}`];

  it('lists the allowed tools and calls one, its content passed through unchanged', async () => {
    const listed = await inspector(`${gw.url}/mcp`, ...key, '--method', 'tools/list');
    // Every imported tool, since the policy allows them all.
    expect((listed.tools as Array<{ name: string }>).map((t) => t.name).sort()).toEqual(
      readdirSync(join(gw.config.dir, 'tools'))
        .map((f) => f.replace(/\.json$/, ''))
        .sort(),
    );

    const call = ['--method', 'tools/call', '--tool-name', 'test_multiple_content_types'];
    const [through, own] = await Promise.all([
      inspector(`${gw.url}/mcp`, ...key, ...call),
      inspector(upstreamUrl, ...call),
    ]);
    expect(through.isError).toBeFalsy();
    expect((through.content as Array<{ type: string }>).map((c) => c.type)).toEqual([
      'text',
      'image',
      'resource',
    ]);
    expect(through.content).toEqual(own.content);
    expect((through._meta as Record<string, string>)['securegateway/trace_id']).toMatch(
      /^[0-9a-f]{32}$/,
    );
  });

  it('is refused without the key', async () => {
    await expect(inspector(`${gw.url}/mcp`, '--method', 'tools/list')).rejects.toThrow(
      /AUTH\.MISSING_KEY/,
    );
  });
});
