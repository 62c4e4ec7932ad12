import { spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '@sg/testing';

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
const CLUSTER_NAME = 'sg-e2e';

/** One nats-server of the cluster: its ports, files and (while it runs) its process. */
export interface NatsNode {
  name: string;
  /** nats://127.0.0.1:<client port> */
  url: string;
  clientPort: number;
  clusterPort: number;
  /** The monitoring port (/healthz, /jsz). */
  httpPort: number;
  storeDir: string;
  configFile: string;
  logFile: string;
  process: ChildProcess | null;
}

/** What one node's monitoring endpoint says about a stream's copy on that node. */
export interface LocalStreamState {
  messages: number;
  lastSeq: number;
  leader: string | undefined;
}

export interface NatsCluster {
  nodes: NatsNode[];
  /** The client URLs, comma-separated, as NATS_URL takes them. */
  urls: string;
  node(name: string): NatsNode;
  /** kill -9 the node and wait for its process to exit. */
  kill(name: string): Promise<void>;
  /** Starts the node again on the same ports and store dir; resolves once it serves. */
  restart(name: string): Promise<void>;
  /**
   * The JetStream meta leader, once every running node is healthy, names it, and is current
   * with it (so the cluster can place a stream with a replica on each node).
   */
  metaLeader(timeoutMs?: number): Promise<string>;
  /** The stream's copy on one node, read from that node's own /jsz (undefined if it has none). */
  localStream(name: string, stream: string): Promise<LocalStreamState | undefined>;
  /** The last lines of every node's log, for a failure message. */
  logs(lines?: number): string;
  /** Kills every node and removes the temp dir. */
  stop(): Promise<void>;
}

/**
 * A private JetStream cluster of `size` nats-server processes on free ports, each with its own
 * config file and store dir in one temp dir, routed to each other. Resolves once every node
 * serves and the cluster has a meta leader.
 */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'sg-nats-cluster-'));
  const nodes: NatsNode[] = [];
  for (let i = 1; i <= size; i++) {
    const name = `n${i}`;
    const clientPort = await freePort();
    nodes.push({
      name,
      url: `nats://127.0.0.1:${clientPort}`,
      clientPort,
      clusterPort: await freePort(),
      httpPort: await freePort(),
      storeDir: join(dir, name, 'store'),
      configFile: join(dir, name, 'nats.conf'),
      logFile: join(dir, name, 'nats.log'),
      process: null,
    });
  }
  for (const n of nodes) {
    mkdirSync(n.storeDir, { recursive: true });
    const routes = nodes
      .filter((o) => o !== n)
      .map((o) => `nats-route://127.0.0.1:${o.clusterPort}`);
    writeFileSync(
      n.configFile,
      [
        `server_name: ${n.name}`,
        `listen: 127.0.0.1:${n.clientPort}`,
        `http: 127.0.0.1:${n.httpPort}`,
        `jetstream {`,
        `  store_dir: ${JSON.stringify(n.storeDir)}`,
        `}`,
        `cluster {`,
        `  name: ${CLUSTER_NAME}`,
        `  listen: 127.0.0.1:${n.clusterPort}`,
        `  routes: [${routes.join(', ')}]`,
        `}`,
        '',
      ].join('\n'),
    );
  }

  const node = (name: string) => {
    const found = nodes.find((n) => n.name === name);
    if (!found) throw new Error(`no NATS node named ${name}`);
    return found;
  };

  const monitor = async <T>(n: NatsNode, path: string): Promise<T> => {
    const res = await fetch(`http://127.0.0.1:${n.httpPort}${path}`, {
      signal: AbortSignal.timeout(2000),
    });
    if (!res.ok) throw new Error(`${n.name} ${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  };

  const launch = (n: NatsNode) => {
    const log = openSync(n.logFile, 'a');
    n.process = spawn(NATS_SERVER, ['-c', n.configFile], { stdio: ['ignore', log, log] });
    closeSync(log);
  };

  const waitServing = (n: NatsNode) =>
    waitFor(
      async () => {
        if (n.process?.exitCode !== null)
          throw new Error(`${n.name} exited with code ${n.process?.exitCode}`);
        return (await monitor<{ status?: string }>(n, '/varz')) ? true : undefined;
      },
      20_000,
      `NATS node ${n.name} to serve`,
    );

  const running = () => nodes.filter((n) => n.process && n.process.exitCode === null);

  const cluster: NatsCluster = {
    nodes,
    urls: nodes.map((n) => n.url).join(','),
    node,

    async kill(name) {
      const n = node(name);
      const child = n.process;
      n.process = null;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      await new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGKILL');
      });
    },

    async restart(name) {
      const n = node(name);
      if (n.process) throw new Error(`NATS node ${name} is running`);
      launch(n);
      await waitServing(n);
    },

    async metaLeader(timeoutMs = 30_000) {
      return waitFor(
        async () => {
          const up = running();
          const views = await Promise.all(
            up.map(async (n) => {
              const health = await fetch(`http://127.0.0.1:${n.httpPort}/healthz`, {
                signal: AbortSignal.timeout(2000),
              });
              const jsz = await monitor<{
                meta_cluster?: {
                  leader?: string;
                  replicas?: Array<{ name: string; current: boolean }>;
                };
              }>(n, '/jsz');
              return { node: n.name, healthy: health.ok, meta: jsz.meta_cluster };
            }),
          );
          const leader = views[0]?.meta?.leader;
          if (!leader || !views.every((v) => v.healthy && v.meta?.leader === leader)) return;
          // The leader hears from every other running node, and each is up to date.
          const followers = views.find((v) => v.node === leader)?.meta?.replicas ?? [];
          const current = new Set(followers.filter((f) => f.current).map((f) => f.name));
          return up.every((n) => n.name === leader || current.has(n.name)) ? leader : undefined;
        },
        timeoutMs,
        'a JetStream meta leader that every running node knows and follows',
      );
    },

    async localStream(name, stream) {
      const jsz = await monitor<{
        account_details?: Array<{
          stream_detail?: Array<{
            name: string;
            state: { messages: number; last_seq: number };
            cluster?: { leader?: string };
          }>;
        }>;
      }>(node(name), '/jsz?accounts=true&streams=true');
      const s = (jsz.account_details ?? [])
        .flatMap((a) => a.stream_detail ?? [])
        .find((d) => d.name === stream);
      return s
        ? { messages: s.state.messages, lastSeq: s.state.last_seq, leader: s.cluster?.leader }
        : undefined;
    },

    logs(lines = 20) {
      return nodes
        .map((n) => {
          let text = '';
          try {
            text = readFileSync(n.logFile, 'utf8');
          } catch {
            text = '(no log)';
          }
          return `--- ${n.name}\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`;
        })
        .join('\n');
    },

    async stop() {
      await Promise.all(nodes.map((n) => cluster.kill(n.name)));
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    for (const n of nodes) launch(n);
    await Promise.all(nodes.map(waitServing));
    await cluster.metaLeader();
  } catch (err) {
    const logs = cluster.logs();
    await cluster.stop();
    throw new Error(`${(err as Error).message}\n${logs}`);
  }
  return cluster;
}
