// Starts the gateway's processes (the six services and, optionally, the example upstream)
// on this machine. Used by `npm start`, the end-to-end tests and the benchmark, so all three
// run the same thing.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeProblem } from './check-node.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SERVICES = ['policy', 'executor', 'audit', 'federation', 'analytics', 'ingress'];

const COLORS = {
  policy: 35,
  executor: 33,
  audit: 36,
  federation: 34,
  analytics: 32,
  ingress: 95,
  upstream: 90,
};

/** Reads KEY=VALUE lines (comments and blanks skipped). */
export function readEnvFile(file) {
  const out = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

function hostPort(url, defaultPort) {
  const u = new URL(url);
  return { host: u.hostname || '127.0.0.1', port: Number(u.port || defaultPort) };
}

function canConnect({ host, port }, timeoutMs = 1500) {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Checks that NATS, Redis and PostgreSQL answer; returns one readable line per missing server. */
export async function preflight(env) {
  const tooOld = nodeProblem();
  if (tooOld) return [tooOld];
  const servers = [
    {
      name: 'NATS (with JetStream)',
      // NATS_URL may list the nodes of a cluster, separated by commas: one must answer.
      addrs: (env.NATS_URL ?? 'nats://127.0.0.1:4222')
        .split(',')
        .map((u) => u.trim())
        .filter(Boolean)
        .map((u) => hostPort(u, 4222)),
      hint: 'nats-server -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server   (or set NATS_URL)',
    },
    {
      name: 'Redis',
      addrs: [hostPort(env.REDIS_URL ?? 'redis://127.0.0.1:6379', 6379)],
      hint: 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379   (or set REDIS_URL)',
    },
    {
      name: 'PostgreSQL',
      addrs: [hostPort(env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', 5432)],
      hint: 'pg_ctlcluster <version> main start   (or set DATABASE_URL)',
    },
  ];
  const problems = [];
  for (const s of servers) {
    const reachable = await Promise.all(s.addrs.map((a) => canConnect(a)));
    if (!reachable.includes(true)) {
      const where = s.addrs.map((a) => `${a.host}:${a.port}`).join(', ');
      problems.push(`${s.name} is not reachable at ${where}. Start it with: ${s.hint}`);
    }
  }
  return problems;
}

function pipeLines(stream, prefix, sink) {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line) sink(`${prefix} ${line}\n`);
  });
  stream.on('end', () => rest && sink(`${prefix} ${rest}\n`));
}

/**
 * Starts the processes and resolves once the ingress reports every service healthy.
 * opts: { env, serviceEnv?: { [service]: env }, services?, upstream?: boolean, output?: (line) => void,
 *   readyTimeoutMs? }
 */
export async function startStack(opts) {
  const env = { ...process.env, ...opts.env };
  const services = opts.services ?? SERVICES;
  const output = opts.output ?? ((line) => process.stdout.write(line));
  const children = new Map();
  let stopping = false;
  const exits = [];

  const launch = (name, script, extraEnv = {}) => {
    // SG_NODE_ARGS adds flags to every service process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    const nodeArgs = (env.SG_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, ['--enable-source-maps', ...nodeArgs, script], {
      cwd: ROOT,
      env: { ...env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const color = process.stdout.isTTY ? COLORS[name] : null;
    const prefix = color ? `\x1b[${color}m${name.padEnd(10)}\x1b[0m|` : `${name.padEnd(10)}|`;
    pipeLines(child.stdout, prefix, output);
    pipeLines(child.stderr, prefix, output);
    child.on('exit', (code, signal) => {
      children.delete(name);
      if (!stopping) exits.push({ name, code, signal });
    });
    children.set(name, child);
    return child;
  };

  if (opts.upstream) launch('upstream', join(ROOT, 'examples/upstream/server.mjs'));
  for (const name of services) {
    const main = join(ROOT, 'services', name, 'dist', 'main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: run npm run build first`);
    launch(name, main, opts.serviceEnv?.[name]);
  }

  const stop = async (signal = 'SIGTERM') => {
    stopping = true;
    const waits = [...children.values()].map(
      (child) =>
        new Promise((resolve) => {
          if (child.exitCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          child.once('exit', () => (clearTimeout(timer), resolve()));
          child.kill(signal);
        }),
    );
    await Promise.all(waits);
  };

  const port = Number(env.PORT ?? 8080);
  const host = env.HOST ?? '127.0.0.1';
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (exits.length > 0) {
      await stop();
      const e = exits[0];
      throw new Error(
        `${e.name} exited during start (code ${e.code ?? e.signal}); its log is above`,
      );
    }
    if (services.includes('ingress')) {
      try {
        const res = await fetch(`http://${host}:${port}/health`, {
          signal: AbortSignal.timeout(2000),
        });
        if (res.ok) return { stop, children, exits, url: `http://${host}:${port}` };
        last = JSON.stringify(await res.json());
      } catch (err) {
        last = err.message;
      }
    } else {
      return { stop, children, exits, url: null };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(
    `the gateway did not become healthy within ${opts.readyTimeoutMs ?? 30_000} ms: ${last}`,
  );
}
