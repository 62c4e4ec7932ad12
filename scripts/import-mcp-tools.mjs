// Imports the tools of an MCP server into a SecureGateway registry: one tools/<name>.json per
// tool, with an `mcp` upstream. Review the files before you commit them (see
// examples/mcp-server/README.md, "Importing a server's tools").
//
//   node scripts/import-mcp-tools.mjs --url http://127.0.0.1:9001/mcp --out examples/config/tools [--prefix notes.]
//   node scripts/import-mcp-tools.mjs --stdio "node examples/mcp-server/server.mjs --stdio" --out DIR
//
// Options:
//   --url URL                 a Streamable HTTP endpoint, or
//   --stdio "COMMAND ARGS"    a command that serves MCP on stdio (split on spaces; quotes group)
//   --out DIR                 where the tool files go (created if missing)
//   --prefix P                registry name = P + the server's name; remote_tool keeps the latter
//   --header "Name: value"    sent while importing only, never written (repeatable)
//   --file-header "Name: v"   written into the files' upstream.headers, e.g.
//                             "Authorization: Bearer {{secret:NOTES_TOKEN}}" (repeatable)
//   --timeout-ms N            the files' upstream.timeout_ms (default: the schema's, 5000)
//   --force                   overwrite existing files (default: skip them)
//   --dry-run                 print what would be written, write nothing
//
// Needs the built config and runtime libraries: npx nx run-many -t build -p config runtime
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';

const TOOL_NAME = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$/;

function fail(message) {
  console.error(`import-mcp-tools: ${message}`);
  process.exit(2);
}

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    stdio: { type: 'string' },
    out: { type: 'string' },
    prefix: { type: 'string', default: '' },
    header: { type: 'string', multiple: true, default: [] },
    'file-header': { type: 'string', multiple: true, default: [] },
    'timeout-ms': { type: 'string' },
    force: { type: 'boolean', default: false },
    'dry-run': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});

if (opts.help) {
  console.log(
    'usage: node scripts/import-mcp-tools.mjs (--url URL | --stdio "CMD ARGS") --out DIR [--prefix P] [--header "N: v"] [--file-header "N: v"] [--timeout-ms N] [--force] [--dry-run]',
  );
  process.exit(0);
}
if (Boolean(opts.url) === Boolean(opts.stdio)) fail('give exactly one of --url or --stdio');
if (!opts.out) fail('--out DIR is required');

let toolFileSchema;
let mcpToolPin;
try {
  ({ toolFileSchema } = await import('@sg/config'));
  ({ mcpToolPin } = await import('@sg/runtime'));
} catch (err) {
  fail(
    `cannot load @sg/config and @sg/runtime (${err.message}); build them first: npx nx run-many -t build -p config runtime`,
  );
}

function headers(list, flag) {
  const out = {};
  for (const h of list) {
    const i = h.indexOf(':');
    if (i <= 0) fail(`${flag} "${h.split(':')[0]}…" must look like "Name: value"`);
    out[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  return out;
}

/** Splits a command line on spaces; single or double quotes group words. No other shell syntax. */
function splitCommand(line) {
  const words = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m;
  while ((m = re.exec(line))) words.push(m[1] ?? m[2] ?? m[3]);
  return words;
}

const connectHeaders = headers(opts.header, '--header');
const fileHeaders = headers(opts['file-header'], '--file-header');
const timeoutMs = opts['timeout-ms'] === undefined ? undefined : Number(opts['timeout-ms']);
if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs > 0))
  fail('--timeout-ms must be a positive integer');

let upstreamBase;
let transport;
if (opts.url) {
  upstreamBase = { type: 'mcp', transport: 'streamable_http', url: opts.url };
  if (Object.keys(fileHeaders).length) upstreamBase.headers = fileHeaders;
  transport = new StreamableHTTPClientTransport(new URL(opts.url), {
    requestInit: { headers: { ...connectHeaders }, redirect: 'manual' },
    reconnectionOptions: {
      maxRetries: 0,
      initialReconnectionDelay: 1000,
      maxReconnectionDelay: 1000,
      reconnectionDelayGrowFactor: 1,
    },
  });
} else {
  const [command, ...args] = splitCommand(opts.stdio);
  if (!command) fail('--stdio needs a command');
  upstreamBase = { type: 'mcp', transport: 'stdio', command, args };
  transport = new StdioClientTransport({ command, args, stderr: 'ignore' });
}
if (timeoutMs !== undefined) upstreamBase.timeout_ms = timeoutMs;

const client = new Client({ name: 'securegateway-import', version: '0.1.0' });
const tools = [];
try {
  await client.connect(transport, { timeout: 15_000 });
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : undefined, { timeout: 15_000 });
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor);
} catch (err) {
  await client.close().catch(() => undefined);
  fail(`could not list the server's tools: ${err.message}`);
}
await client.close().catch(() => undefined);

// The policy service compiles input_schema with this ajv set-up (draft-07, strict): a schema it
// would refuse is skipped here rather than breaking the whole config.
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
addFormats.default(ajv);

const outDir = resolve(opts.out);
if (!opts['dry-run']) mkdirSync(outDir, { recursive: true });
const written = [];
const skipped = [];
for (const t of tools) {
  const name = `${opts.prefix}${t.name}`;
  if (!TOOL_NAME.test(name) || name.length > 128) {
    skipped.push({
      name: t.name,
      reason: `registry name "${name}" does not match ${TOOL_NAME} (max 128); try --prefix or rename on the server`,
    });
    continue;
  }
  // One dialect in the registry: the server's $schema (draft-07 or 2020-12) is dropped.
  const inputSchema = { ...(t.inputSchema ?? { type: 'object', properties: {} }) };
  delete inputSchema.$schema;
  const readOnly = t.annotations?.readOnlyHint === true;
  const entry = {
    name,
    description: (t.description ?? t.title ?? '').trim(),
    input_schema: inputSchema,
    // MCP annotations are the server's hints: read-only tools are marked idempotent (retried on
    // failure), every other tool counts as a write. Review before use.
    writes: !readOnly,
    idempotent: readOnly,
    upstream: {
      ...upstreamBase,
      ...(name !== t.name ? { remote_tool: t.name } : {}),
      // The tool as advertised now: if the server changes it later, calls are refused.
      pin_sha256: mcpToolPin({ description: t.description, inputSchema: t.inputSchema }),
    },
  };
  const parsed = toolFileSchema.safeParse(entry);
  if (!parsed.success) {
    skipped.push({
      name: t.name,
      reason: `not a valid tool file: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    });
    continue;
  }
  try {
    ajv.compile(inputSchema);
  } catch (err) {
    skipped.push({
      name: t.name,
      reason: `input_schema refused by the gateway's validator: ${err.message}`,
    });
    continue;
  }
  const file = join(outDir, `${name}.json`);
  if (existsSync(file) && !opts.force) {
    skipped.push({ name: t.name, reason: `${file} exists (use --force to overwrite)` });
    continue;
  }
  if (!opts['dry-run']) writeFileSync(file, `${JSON.stringify(entry, null, 2)}\n`);
  written.push({ name, file });
}

for (const w of written) console.log(`${opts['dry-run'] ? 'would write' : 'wrote'} ${w.file}`);
for (const s of skipped) console.log(`skipped ${s.name}: ${s.reason}`);
console.log(
  `${written.length} tool(s) ${opts['dry-run'] ? 'to write' : 'written'}, ${skipped.length} skipped, of ${tools.length} on the server`,
);
