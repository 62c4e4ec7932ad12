// Private NATS, Redis and PostgreSQL servers for tests that stop and restart a dependency: each
// runs on a free port with its own data in a temp dir, so stopping it disturbs no other test
// (the shared servers on 4222, 6379 and 5432 are never touched).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '@sg/testing';

export interface PrivateServer {
  /** What the services' NATS_URL, REDIS_URL or DATABASE_URL should say. */
  url: string;
  port: number;
  /** Kills the server the hard way (no clean shutdown): an outage, not a maintenance stop. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data dir; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it and deletes its data dir. */
  remove(): Promise<void>;
}

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';

/** Whether something accepts TCP connections on 127.0.0.1:port now (undefined: not yet). */
function listening(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => (socket.destroy(), resolve(ok ? true : undefined));
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function exited(child: ChildProcess | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

/** A server run as one child process (`argv` spawned again by every start()). */
async function processServer(opts: {
  name: string;
  url: (port: number) => string;
  argv: (port: number, dir: string) => [string, ...string[]];
  /** Sent by stop(); SIGKILL unless the server needs another signal to take its children with it. */
  stopSignal?: NodeJS.Signals;
  /** Prepares the data dir once, before the first start. */
  init?: (dir: string) => void;
  /** Waits, after the port answers, until the server really serves. */
  ready?: (port: number) => Promise<void>;
  spawnAs?: { uid: number; gid: number };
}): Promise<PrivateServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `sg-${opts.name}-`));
  let child: ChildProcess | undefined;
  let log = '';
  const stop = async () => {
    const gone = exited(child);
    child?.kill(opts.stopSignal ?? 'SIGKILL');
    await gone;
  };
  const start = async () => {
    if (child && child.exitCode === null && child.signalCode === null)
      throw new Error(`the private ${opts.name} server is already running`);
    const [bin, ...args] = opts.argv(port, dir);
    log = '';
    const started = spawn(bin, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.spawnAs ?? {}),
    });
    started.stdout!.setEncoding('utf8').on('data', (c: string) => (log = (log + c).slice(-4000)));
    started.stderr!.setEncoding('utf8').on('data', (c: string) => (log = (log + c).slice(-4000)));
    child = started;
    try {
      await waitFor(
        async () => {
          if (started.exitCode !== null) throw new Error(`exited with ${started.exitCode}`);
          return listening(port);
        },
        30_000,
        `the private ${opts.name} server to start`,
      );
      await opts.ready?.(port);
    } catch (err) {
      await stop();
      throw new Error(`${(err as Error).message}; its output:\n${log}`);
    }
  };
  try {
    opts.init?.(dir);
    await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: opts.url(port),
    port,
    stop,
    start,
    async remove() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A NATS server with JetStream, its store in a temp dir, so the stream survives a restart. */
export function startPrivateNats(): Promise<PrivateServer> {
  return processServer({
    name: 'nats',
    url: (port) => `nats://127.0.0.1:${port}`,
    argv: (port, dir) => [NATS_SERVER, '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir],
  });
}

/** A Redis server without persistence: like a cache node, it comes back empty. */
export function startPrivateRedis(): Promise<PrivateServer> {
  return processServer({
    name: 'redis',
    url: (port) => `redis://127.0.0.1:${port}`,
    argv: (port, dir) => [
      REDIS_SERVER,
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
  });
}

/** The newest PostgreSQL's bin dir (PG_BIN overrides). */
function postgresBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions[0]) throw new Error(`no PostgreSQL under ${root}; set PG_BIN`);
  return join(root, versions[0], 'bin');
}

/** PostgreSQL refuses to run as root: as root, run it as the `postgres` user. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }));
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * A PostgreSQL cluster of its own (initdb, trust auth, fsync off), listening on 127.0.0.1 and
 * on a socket in its temp dir. stop() is an immediate shutdown (SIGQUIT): every backend dies at
 * once and the next start runs crash recovery, as after a crash.
 */
export function startPrivatePostgres(): Promise<PrivateServer> {
  const bin = postgresBin();
  const user = postgresUser();
  return processServer({
    name: 'postgres',
    url: (port) => `postgres://postgres@127.0.0.1:${port}/postgres`,
    stopSignal: 'SIGQUIT',
    ...(user ? { spawnAs: user } : {}),
    init: (dir) => {
      mkdirSync(join(dir, 'socket'));
      if (user) {
        chownSync(dir, user.uid, user.gid);
        chownSync(join(dir, 'socket'), user.uid, user.gid);
      }
      execFileSync(
        join(bin, 'initdb'),
        ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'],
        { stdio: 'pipe', ...(user ?? {}) },
      );
    },
    argv: (port, dir) => [
      join(bin, 'postgres'),
      '-D',
      join(dir, 'data'),
      '-p',
      String(port),
      '-k',
      join(dir, 'socket'),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
    ],
    // The port opens before crash recovery ends; pg_isready says when connections are accepted.
    ready: (port) =>
      waitFor(
        async () => {
          try {
            execFileSync(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)], {
              stdio: 'ignore',
            });
            return true;
          } catch {
            return undefined;
          }
        },
        30_000,
        'the private PostgreSQL to accept connections',
      ).then(() => undefined),
  });
}
