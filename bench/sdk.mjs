// The governed-tool SDK's cost (@sg/sdk, issue 11): one MCP tool called through
// examples/governed-mcp-server (each call authorized by the gateway, its result masked, its run
// reported) and the same handler registered without governance, from the same MCP client, in
// one run. Seed 003's target: under 100 ms for validation, masking and execution together.
//
//   npx nx run-many -t build && npx node bench/sdk.mjs
//
// BENCH_SEQUENTIAL_CALLS (1000) measured calls per target after BENCH_SEQUENTIAL_WARMUP (200).
// It starts its own isolated gateway (free ports, subject prefix, Redis prefix, schema, config
// copy; all removed at the end). Exit codes: 0 done, 1 a call failed, 2 a bad setting.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { exampleConfigDir, freePort, isolate } from '@sg/testing';
import { createServer } from 'node:http';
import { z } from 'zod';
import { ROOT, startStack } from '../scripts/stack.mjs';
import { gitInfo, machineInfo } from './lib.mjs';

function setting(name, fallback) {
  const v = process.env[name] === undefined ? fallback : Number(process.env[name]);
  if (!Number.isInteger(v) || v < 1) {
    console.error(`bench/sdk: ${name} must be a positive integer`);
    process.exit(2);
  }
  return v;
}
const CALLS = setting('BENCH_SEQUENTIAL_CALLS', 1000);
const WARMUP = setting('BENCH_SEQUENTIAL_WARMUP', 200);
const KEY = 'sdk-bench-server-key-01';
const EXAMPLE = join(ROOT, 'examples/governed-mcp-server');
const ARGS = { customer_id: 'c-100', tenant_id: 'acme' };

const percentile = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];

/** The same handler without governance, on a plain McpServer (stateless HTTP, as the example). */
function listenPlain(port) {
  const profile = JSON.parse(
    '{"found":true,"customer_id":"c-100","tenant_id":"acme","name":"Jane Doe","email":"jane.doe@example.com","phone":"(415) 692-3070","plan":"enterprise"}',
  );
  const http = createServer(async (req, res) => {
    const server = new McpServer({ name: 'plain', version: '1' });
    server.registerTool(
      'customers.get_profile',
      { inputSchema: { customer_id: z.string(), tenant_id: z.string() } },
      async () => ({
        content: [{ type: 'text', text: JSON.stringify(profile) }],
        structuredContent: profile,
      }),
    );
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => void server.close());
    await server.connect(transport);
    await transport.handleRequest(req, res);
  });
  return new Promise((r) => http.listen(port, '127.0.0.1', () => r(http)));
}

async function connect(url) {
  const client = new Client({ name: 'sdk-bench', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

function summary(times) {
  times.sort((a, b) => a - b);
  return {
    p50: percentile(times, 0.5),
    p99: percentile(times, 0.99),
    mean: times.reduce((a, b) => a + b, 0) / times.length,
    max: times[times.length - 1],
  };
}

/**
 * The two targets' calls interleaved (A B B A A B …), so that whatever else the machine does
 * weighs on both alike.
 */
async function timeCalls(targets) {
  const clients = await Promise.all(targets.map((t) => connect(t.url)));
  const times = targets.map(() => []);
  for (let i = 0; i < WARMUP + CALLS; i++) {
    const order = i % 2 === 0 ? [0, 1] : [1, 0];
    for (const k of order) {
      const t0 = performance.now();
      const res = await clients[k].callTool({ name: 'customers.get_profile', arguments: ARGS });
      const ms = performance.now() - t0;
      if (res.isError || res.structuredContent?.found !== true) {
        await Promise.all(clients.map((c) => c.close()));
        throw new Error(
          `a call to ${targets[k].name} failed: ${JSON.stringify(res).slice(0, 500)}`,
        );
      }
      if (i >= WARMUP) times[k].push(ms);
    }
  }
  await Promise.all(clients.map((c) => c.close()));
  return times.map(summary);
}

const iso = isolate('bsdk');
const config = exampleConfigDir('http://127.0.0.1:9');
for (const t of ['customers.get_profile', 'customers.count'])
  config.write(`tools/${t}.json`, readFileSync(join(EXAMPLE, 'tools', `${t}.json`), 'utf8'));
config.write(
  'model_keys/default.yaml',
  `models:\n  crm-server:\n    key: ${KEY}\n    tenants: [acme]\n    permissions: [PII_READ]\n`,
);
config.write(
  'policies/default.yaml',
  'rules:\n  - model: crm-server\n    allow_tools: ["customers.*"]\nrate_limits:\n  agent: { limit: 100000000, window_s: 60 }\n  user: { limit: 100000000, window_s: 60 }\n',
);
const port = await freePort();
const servers = [];
let stack;
try {
  stack = await startStack({
    env: {
      ...iso.env,
      PORT: String(port),
      FEDERATION_PORT: String(await freePort()),
      HEALTH_PORT: '0',
      CONFIG_DIR: config.dir,
      LOG_LEVEL: 'warn',
    },
    output: () => undefined,
  });
  const { listen } = await import(pathToFileURL(join(EXAMPLE, 'server.mjs')).href);
  const [governedPort, plainPort] = [await freePort(), await freePort()];
  servers.push(await listen({ port: governedPort, gateway: { url: stack.url, apiKey: KEY } }));
  servers.push(await listenPlain(plainPort));
  const [plain, governed] = await timeCalls([
    { name: 'plain McpServer', url: `http://127.0.0.1:${plainPort}/mcp` },
    { name: 'governed (@sg/sdk)', url: `http://127.0.0.1:${governedPort}/mcp` },
  ]);
  const f = (n) => n.toFixed(2).padStart(8);
  console.log(
    `\n${CALLS} sequential calls of customers.get_profile per target, interleaved, after ${WARMUP}; ${JSON.stringify(machineInfo())}; ${JSON.stringify(gitInfo())}`,
  );
  console.log('target                    p50 ms   p99 ms  mean ms   max ms');
  for (const [name, r] of [
    ['plain McpServer', plain],
    ['governed (@sg/sdk)', governed],
  ])
    console.log(`${name.padEnd(22)}${f(r.p50)} ${f(r.p99)} ${f(r.mean)} ${f(r.max)}`);
  const x = (a, b) => `${(a / b).toFixed(2)}x`;
  console.log(
    `governance adds p50 ${f(governed.p50 - plain.p50)} ms, p99 ${f(governed.p99 - plain.p99)} ms; governed/plain: p50 ${x(governed.p50, plain.p50)}, p99 ${x(governed.p99, plain.p99)}, mean ${x(governed.mean, plain.mean)}`,
  );
  console.log(
    `seed 003's target for the governed call, validation, masking and execution together: < 100 ms (p99 here ${governed.p99.toFixed(2)} ms, ${governed.p99 < 100 ? 'met' : 'NOT met'})`,
  );
} catch (err) {
  console.error(`bench/sdk: ${err.message}`);
  process.exitCode = 1;
} finally {
  for (const s of servers) await new Promise((r) => s.close(r));
  await stack?.stop();
  config.remove();
  await iso.cleanup();
}
