import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import {
  exampleConfigDir,
  freePort,
  isolate,
  TEST_SERVERS,
  waitFor,
  type ConfigDir,
  type Isolation,
} from '@sg/testing';
import { ROOT, startStack, type Stack } from '../../../scripts/stack.mjs';

export const AGENT_KEY = 'modelkey-abc123';
export const ADMIN_KEY = 'e2e-admin-key-0123456789';

/**
 * A policy signing key for this test file's gateways (SECRET_POLICY_SIGNING_KEY): the base64 of
 * a fresh Ed25519 seed. Saved versions and approved proposals are signed with it.
 */
export const SIGNING_SEED = generateKeyPairSync('ed25519')
  .privateKey.export({ format: 'der', type: 'pkcs8' })
  .subarray(16)
  .toString('base64');

export interface Gateway {
  url: string;
  stack: Stack;
  iso: Isolation;
  config: ConfigDir;
  logFile: string;
  db: pg.Client;
  stop(): Promise<void>;
}

/**
 * The real gateway: the six built services and the example upstream as separate processes,
 * on free ports, in their own subject prefix, Redis prefix and database schema.
 */
export async function startGateway(
  opts: {
    env?: Record<string, string>;
    serviceEnv?: Record<string, Record<string, string>>;
    configure?: (c: ConfigDir) => void;
  } = {},
): Promise<Gateway> {
  const iso = isolate('e2e');
  const upstreamPort = await freePort();
  const config = exampleConfigDir(`http://127.0.0.1:${upstreamPort}`);
  opts.configure?.(config);
  const port = await freePort();
  const logFile = join(tmpdir(), `sg-${iso.id}.log`);
  const stack = await startStack({
    env: {
      ...iso.env,
      PORT: String(port),
      FEDERATION_PORT: String(await freePort()),
      HEALTH_PORT: '0',
      UPSTREAM_PORT: String(upstreamPort),
      CONFIG_DIR: config.dir,
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'info',
      LOG_PRETTY: 'false',
      ...opts.env,
    },
    ...(opts.serviceEnv ? { serviceEnv: opts.serviceEnv } : {}),
    upstream: true,
    output: (line) => appendFileSync(logFile, line),
  });
  const db = new pg.Client({
    connectionString: TEST_SERVERS.databaseUrl,
    options: `-c search_path=${iso.schema}`,
  });
  await db.connect();
  return {
    url: stack.url!,
    stack,
    iso,
    config,
    logFile,
    db,
    async stop() {
      await db.end();
      await stack.stop();
      config.remove();
      await iso.cleanup();
    },
  };
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export async function post(
  gw: Gateway,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown>,
  };
}

export async function get(
  gw: Gateway,
  path: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(`${gw.url}${path}`, { headers });
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown>,
  };
}

let n = 0;
export function envelope(over: Record<string, unknown> = {}) {
  return {
    agent_id: 'gpt-4o',
    agent_version: '1.0.0',
    request_id: `req-${Date.now()}-${++n}`,
    tool: 'calendar.list_events',
    arguments: {},
    ...over,
  };
}

export interface AuditRow {
  event_id: string;
  subject: string;
  source: string;
  trace_id: string;
  stream_seq: string;
  data: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** The call's rows in PostgreSQL, once at least `count` have arrived. */
export function auditRows(gw: Gateway, traceId: string, count: number): Promise<AuditRow[]> {
  return waitFor(
    async () => {
      const res = await gw.db.query<AuditRow>(
        'SELECT event_id, subject, source, trace_id, stream_seq, data FROM audit_events WHERE trace_id = $1 ORDER BY stream_seq',
        [traceId],
      );
      return res.rows.length >= count ? res.rows : undefined;
    },
    15_000,
    `${count} audit rows for trace ${traceId}`,
  );
}

/**
 * The call's own rows (`toolcall.*` events), without the alerts that may share its trace, once
 * at least `count` have arrived.
 */
export async function callRows(gw: Gateway, traceId: string, count: number): Promise<AuditRow[]> {
  return waitFor(
    async () => {
      const calls = (await auditRows(gw, traceId, 1)).filter((r) =>
        r.subject.startsWith('gw.evt.toolcall.'),
      );
      return calls.length >= count ? calls : undefined;
    },
    15_000,
    `${count} toolcall rows for trace ${traceId}`,
  );
}

/** The upstream URL a tool file in the config dir points at (the example upstream of this gateway). */
export function toolUpstreamUrl(config: ConfigDir, tool = 'calendar.list_events'): string {
  const file = JSON.parse(readFileSync(join(config.dir, 'tools', `${tool}.json`), 'utf8')) as {
    upstream: { url: string };
  };
  return file.upstream.url;
}

/**
 * Registers tools/<name>.json in the config dir. The example upstream only implements a few
 * routes, so the tool is served by one of them (calendar.list_events unless `route` says otherwise).
 */
export function registerTool(
  config: ConfigDir,
  name: string,
  def: {
    input_schema?: Record<string, unknown>;
    requires_approval?: boolean;
    pii?: boolean;
    tenant_field?: string;
    writes?: boolean;
  } = {},
  route = 'calendar.list_events',
): void {
  const url = toolUpstreamUrl(config, 'calendar.list_events').replace(
    /\/tools\/[^/]+$/,
    `/tools/${route}`,
  );
  config.write(`tools/${name}.json`, {
    name,
    description: `e2e tool ${name}`,
    input_schema: { type: 'object', properties: {} },
    ...def,
    upstream: { type: 'http', method: 'POST', url, timeout_ms: 5000 },
  });
}

export interface ExtraService {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * One more instance of a built service (`services/<name>/dist/main.js`), in the gateway's
 * NATS subject prefix, Redis prefix, database schema and config dir, as startGateway runs them.
 * Resolves once the process logs `<name> started`.
 */
export async function startExtraService(
  gw: Gateway,
  name: string,
  env: Record<string, string> = {},
): Promise<ExtraService> {
  const child = spawn(
    process.execPath,
    ['--enable-source-maps', join(ROOT, 'services', name, 'dist', 'main.js')],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        ...gw.iso.env,
        CONFIG_DIR: gw.config.dir,
        HEALTH_PORT: '0',
        ADMIN_API_KEY: ADMIN_KEY,
        LOG_LEVEL: 'info',
        LOG_PRETTY: 'false',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => (clearTimeout(timer), resolve()));
      child.kill('SIGTERM');
    });
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null)
          throw new Error(`${name} exited with code ${child.exitCode}: ${out}`);
        return out.includes(`${name} started`) || out.includes(`${name} listening on`)
          ? true
          : undefined;
      },
      30_000,
      `a second ${name} instance to start`,
    );
    // An ingress serves once it is ready (its policy versions loaded): wait for its /healthz.
    if (name === 'ingress' && env.PORT)
      await waitFor(
        async () =>
          (await fetch(`http://127.0.0.1:${env.PORT}/healthz`).catch(() => null))?.ok
            ? true
            : undefined,
        30_000,
        `the second ingress to be ready`,
      );
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, output: () => out, stop };
}

/** admins.yaml naming each admin by the sha256 of its key, with its roles (docs/admins.md). */
export function adminsYaml(admins: Record<string, { key: string; roles: string[] }>): string {
  const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
  return [
    'admins:',
    ...Object.entries(admins).flatMap(([name, a]) => [
      `  ${name}:`,
      `    key_sha256: ${sha256(a.key)}`,
      `    roles: [${a.roles.join(', ')}]`,
    ]),
    '',
  ].join('\n');
}
