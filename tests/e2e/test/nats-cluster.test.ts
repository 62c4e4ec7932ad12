import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { EVENTS_STREAM } from '@sg/contracts';
import { runId, waitFor } from '@sg/testing';
import { AGENT_KEY, envelope, get, startGateway, type Answer, type Gateway } from './harness.js';
import { startNatsCluster, type LocalStreamState, type NatsCluster } from './nats-cluster.js';

// Issue 16 §4: the gateway on a 3-node JetStream cluster, GW_EVENTS with 3 replicas. Under
// load, the node that leads the stream (the worst node to lose) is killed with -9, and later
// restarted: calls go on, and no event is lost.

const LOOPS = 4;
const WARMUP_MS = 5_000;
/** Longer than a stream leader election (5-11 s after the kill, measured with nats-server 2.9). */
const AFTER_KILL_MS = 14_000;
const AFTER_RESTART_MS = 5_000;
const COMPLETED = 'gw.evt.toolcall.completed.v1';

interface Call {
  /** The load loop that made it; -1 for the ticker's calls. */
  loop: number;
  traceId: string;
  startedAt: number;
  endedAt: number;
  /** 0: no HTTP answer at all. */
  status: number;
  code: string | null;
  auditId: string | null;
}

interface CallRecord {
  trace_id: string;
  event_id: string;
  source: string;
  http_status: number;
}

let cluster: NatsCluster | undefined;
let gw: Gateway | undefined;
let nc: NatsConnection | undefined;
let jsm: JetStreamManager;
/** Ends the load (also when beforeAll fails halfway). */
let stopLoad = async () => {};

/** What happened, measured in beforeAll and asserted by the tests below. */
const run = {
  stream: '',
  replicas: 0,
  dedupeWindowMs: 0,
  peers: [] as string[],
  calls: [] as Call[],
  loadStartedAt: 0,
  killedAt: 0,
  /** When the killed process had exited. */
  deadAt: 0,
  killed: '',
  newLeader: '',
  electedAt: 0,
  restartAt: 0,
  restartedAt: 0,
  /** When the restarted node was healthy and current with the meta leader again. */
  rejoinedAt: 0,
  loadEndedAt: 0,
  records: [] as CallRecord[],
  /** Rows in the audit trail of the gateway's schema. */
  rowsStored: 0,
  /** Messages in the stream: every event JetStream acknowledged. */
  streamMessages: 0,
  /** The longest an event took from its publisher to PostgreSQL. */
  slowestEventMs: 0,
  nodes: [] as Array<LocalStreamState | undefined>,
  health: undefined as Answer | undefined,
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function call(loop: number): Promise<Call> {
  const traceId = randomUUID();
  const startedAt = Date.now();
  try {
    const res = await fetch(`${gw!.url}/api/tools/call`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'X-API-Key': AGENT_KEY,
        'X-Trace-Id': traceId,
      },
      body: JSON.stringify(envelope({ request_id: `cluster-${traceId}` })),
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await res.json()) as { audit_id?: string; error?: { code?: string } };
    return {
      loop,
      traceId,
      startedAt,
      endedAt: Date.now(),
      status: res.status,
      code: body.error?.code ?? null,
      auditId: body.audit_id ?? null,
    };
  } catch (err) {
    return {
      loop,
      traceId,
      startedAt,
      endedAt: Date.now(),
      status: 0,
      code: (err as Error).message,
      auditId: null,
    };
  }
}

/** Calls answered per second between two moments. */
function rate(from: number, to: number): number {
  const n = run.calls.filter((c) => c.endedAt >= from && c.endedAt < to).length;
  return Math.round((n / ((to - from) / 1000)) * 10) / 10;
}

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  try {
    await scenario(cluster);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nNATS logs:\n${cluster.logs()}`);
  }
}, 180_000);

/** Starts the gateway on the cluster, loads it, kills and restarts a node, and measures. */
async function scenario(c: NatsCluster): Promise<void> {
  nc = await connect({
    servers: c.nodes.map((n) => n.url),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
  jsm = await jetstreamManager(nc);
  // The six services create the R3 stream and their consumers at once as they start: each
  // waits while JetStream has no leader for them yet (untilAnswered in libs/messaging).
  const prefix = runId('cluster');
  run.stream = `${prefix}_${EVENTS_STREAM}`;
  gw = await startGateway({
    env: { NATS_URL: c.urls, EVENTS_REPLICAS: '3', SUBJECT_PREFIX: prefix },
    // The load must not reach the example's rate limit (600 calls a minute per agent).
    configure: (config) => {
      const file = join(config.dir, 'policies', 'default.yaml');
      const policy = readFileSync(file, 'utf8');
      const raised = policy.replace(/agent: \{ limit: \d+/, 'agent: { limit: 1000000');
      if (raised === policy) throw new Error(`${file} has no agent rate limit to raise`);
      config.write('policies/default.yaml', raised);
    },
  });
  const g = gw;
  const info = await jsm.streams.info(run.stream);
  run.replicas = info.config.num_replicas;
  run.dedupeWindowMs = info.config.duplicate_window / 1e6;
  run.peers = [info.cluster?.leader ?? '', ...(info.cluster?.replicas ?? []).map((r) => r.name)];

  // LOOPS agents, each making one call after the other, and waiting a moment after a failed
  // call before the next, as a client that honours "retry shortly" would; and a ticker that
  // starts a call every 100 ms whatever the others wait for, so that every phase has calls.
  let loading = true;
  const loops = Array.from({ length: LOOPS }, async (_, loop) => {
    while (loading) {
      const answer = await call(loop);
      run.calls.push(answer);
      if (answer.status !== 200) await sleep(250);
    }
  });
  const ticks: Array<Promise<void>> = [];
  const ticker = setInterval(() => ticks.push(call(-1).then((x) => void run.calls.push(x))), 100);
  stopLoad = async () => {
    loading = false;
    clearInterval(ticker);
    await Promise.all([...loops, ...ticks]);
  };
  run.loadStartedAt = Date.now();
  await sleep(WARMUP_MS);

  run.killed = (await jsm.streams.info(run.stream)).cluster?.leader ?? '';
  const survivors = c.nodes.filter((n) => n.name !== run.killed);
  run.killedAt = Date.now();
  await c.kill(run.killed);
  run.deadAt = Date.now();
  // The new stream leader, once both surviving nodes name the same one.
  run.newLeader = await waitFor(
    async () => {
      const seen = await Promise.all(survivors.map((n) => c.localStream(n.name, run.stream)));
      const first = seen[0]?.leader;
      return first && first !== run.killed && seen.every((s) => s?.leader === first)
        ? first
        : undefined;
    },
    30_000,
    'a new GW_EVENTS leader among the surviving nodes',
  );
  run.electedAt = Date.now();
  await sleep(Math.max(0, run.killedAt + AFTER_KILL_MS - Date.now()));

  run.restartAt = Date.now();
  await c.restart(run.killed);
  run.restartedAt = Date.now();
  await c.metaLeader();
  run.rejoinedAt = Date.now();
  await sleep(AFTER_RESTART_MS);
  await stopLoad();
  run.loadEndedAt = Date.now();

  // Wait until the audit has stored everything the stream holds (or give up and let the
  // tests below say what is missing). When the killed node also led the audit's consumer, the
  // audit reads nothing until its pull expires unanswered (30 s, the client's default).
  const traceIds = run.calls.filter((x) => x.status !== 0).map((x) => x.traceId);
  await waitFor(
    async () => {
      const stream = await jsm.streams.info(run.stream);
      run.streamMessages = stream.state.messages;
      const all = await g.db.query<{ n: string }>('SELECT count(*) AS n FROM audit_events');
      run.rowsStored = Number(all.rows[0]!.n);
      return run.rowsStored >= run.streamMessages ? true : undefined;
    },
    90_000,
    'the audit to store every event of the stream',
  ).catch(() => undefined);
  const rows = await g.db.query<CallRecord>(
    `SELECT trace_id, event_id::text, source, (data->>'http_status')::int AS http_status
       FROM audit_events WHERE subject = $1 AND trace_id = ANY($2)`,
    [COMPLETED, traceIds],
  );
  run.records = rows.rows;
  const slowest = await g.db.query<{ ms: number | null }>(
    'SELECT max(extract(epoch FROM stored_at - occurred_at) * 1000)::float AS ms FROM audit_events',
  );
  run.slowestEventMs = Math.round(slowest.rows[0]!.ms ?? 0);

  // The restarted node catches up: its copy ends where the others' do.
  run.nodes = await waitFor(
    async () => {
      const states = await Promise.all(c.nodes.map((n) => c.localStream(n.name, run.stream)));
      const last = states.map((s) => s?.lastSeq);
      return last.every((s) => s !== undefined && s === last[0]) ? states : undefined;
    },
    30_000,
    `the restarted node ${run.killed} to hold the whole stream`,
  ).catch(() => Promise.all(c.nodes.map((n) => c.localStream(n.name, run.stream))));
  run.health = await get(g, '/health');

  const byStatus: { [status: string]: number } = {};
  for (const x of run.calls) {
    const key = `${x.status} ${x.code ?? ''}`.trim();
    byStatus[key] = (byStatus[key] ?? 0) + 1;
  }
  console.log(
    `NATS cluster failover: ${JSON.stringify(
      {
        calls: run.calls.length,
        byStatus,
        failed: run.calls
          .filter((x) => x.status !== 200)
          .map((x) => ({
            loop: x.loop,
            status: x.status,
            code: x.code,
            startedMsAfterKill: x.startedAt - run.killedAt,
            tookMs: x.endedAt - x.startedAt,
          })),
        callsPerSecond: {
          beforeKill: rate(run.loadStartedAt, run.killedAt),
          killToElected: rate(run.killedAt, run.electedAt),
          electedToRestart: rate(run.electedAt, run.restartAt),
          afterRestart: rate(run.restartedAt, run.loadEndedAt),
        },
        killed: run.killed,
        newLeader: run.newLeader,
        streamLeaderElectionMs: run.electedAt - run.killedAt,
        restartMs: run.restartedAt - run.restartAt,
        rejoinMs: run.rejoinedAt - run.restartAt,
        streamMessages: run.streamMessages,
        rowsStored: run.rowsStored,
        callRecords: run.records.length,
        slowestEventMs: run.slowestEventMs,
        lastSeqPerNode: run.nodes.map((s) => s?.lastSeq),
      },
      null,
      2,
    )}`,
  );
}

afterAll(async () => {
  await stopLoad();
  await nc?.close().catch(() => undefined);
  await gw?.stop().catch(() => undefined);
  await cluster?.stop();
}, 60_000);

it('runs GW_EVENTS with three replicas, one per node', () => {
  // The services brought the stream to their settings (ADR 0002), with EVENTS_REPLICAS copies.
  expect(run.dedupeWindowMs).toBe(10 * 60_000);
  expect(run.replicas).toBe(3);
  expect([...run.peers].sort()).toEqual(['n1', 'n2', 'n3']);
});

it('keeps answering calls while the stream leader is down and after it is back', () => {
  const answered = run.calls.filter((x) => x.status === 200);
  const failed = run.calls.filter((x) => x.status !== 200);
  expect(rate(run.loadStartedAt, run.killedAt)).toBeGreaterThan(0);
  // The ticker's calls were answered while the stream had no leader, after the election, and
  // after the restart.
  const ticked = (from: number, to: number) =>
    answered.filter((x) => x.loop === -1 && x.startedAt > from && x.startedAt < to).length;
  expect(ticked(run.deadAt + 1000, run.electedAt)).toBeGreaterThan(0);
  expect(ticked(run.electedAt, run.restartAt)).toBeGreaterThan(0);
  expect(ticked(run.restartedAt, run.loadEndedAt)).toBeGreaterThan(0);
  // A request in flight through the killed node is lost with it (core NATS request/reply): the
  // ingress answers 503 SERVICE_TIMEOUT once the call's time is up. A call that reaches the
  // ingress while its own connection is moving to a surviving node is answered 503
  // SERVICE_UNAVAILABLE at once. Both say to retry, and nothing else may fail: no failure
  // starts later than a second after the kill, and each agent's retry is answered.
  for (const x of failed) {
    expect(x.status).toBe(503);
    expect(['GATEWAY.SERVICE_TIMEOUT', 'GATEWAY.SERVICE_UNAVAILABLE']).toContain(x.code);
    expect(x.startedAt - run.deadAt).toBeLessThanOrEqual(1000);
  }
  for (let loop = 0; loop < LOOPS; loop++) {
    const statuses = run.calls.filter((x) => x.loop === loop).map((x) => x.status);
    const retried = statuses.slice(0, -1).flatMap((s, i) => (s === 200 ? [] : [statuses[i + 1]]));
    expect(retried.every((s) => s === 200)).toBe(true);
  }
  // No service process died.
  expect(gw!.stack.exits).toEqual([]);
});

it('stores every event the stream took, and one record per answered call', () => {
  // Nothing was lost between a publisher and the stream, nor between the stream and PostgreSQL.
  expect(run.rowsStored).toBe(run.streamMessages);
  const byTrace = new Map<string, CallRecord[]>();
  for (const r of run.records) byTrace.set(r.trace_id, [...(byTrace.get(r.trace_id) ?? []), r]);
  const count = { missing: 0, twice: 0, notTheAnswersId: 0 };
  for (const x of run.calls.filter((c) => c.status === 200)) {
    const records = byTrace.get(x.traceId) ?? [];
    if (records.length === 0) count.missing++;
    else if (records.length > 1) count.twice++;
    else if (records[0]!.event_id !== x.auditId) count.notTheAnswersId++;
  }
  expect(count).toEqual({ missing: 0, twice: 0, notTheAnswersId: 0 });
  // A failed call is recorded too, with the 503 the agent got (by the ingress, under a new
  // audit_id); the executor's record of the run is there as well if it had the call.
  for (const x of run.calls.filter((c) => c.status !== 200)) {
    const records = byTrace.get(x.traceId) ?? [];
    expect(
      records.filter((r) => r.source === 'ingress' && r.http_status === x.status),
    ).toHaveLength(1);
    expect(records.length).toBeLessThanOrEqual(2);
  }
});

it('reports no lost event in any service health check', () => {
  expect(run.health?.status).toBe(200);
  const services = run.health!.body.services as Array<{
    service: string;
    dependencies: { nats?: unknown };
  }>;
  expect(services.map((s) => `${s.service}:${JSON.stringify(s.dependencies.nats)}`).sort()).toEqual(
    ['analytics', 'audit', 'executor', 'federation', 'ingress', 'policy'].map(
      (s) => `${s}:{"ok":true}`,
    ),
  );
});

it('brings the restarted node up to date with the others', () => {
  const last = run.nodes.map((s) => s?.lastSeq);
  expect(last[0]).toBeGreaterThanOrEqual(run.streamMessages);
  expect(last).toEqual([last[0], last[0], last[0]]);
});
