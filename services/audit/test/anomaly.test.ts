import { randomUUID } from 'node:crypto';
import {
  ALERT_RAISED,
  alertSchema,
  TOOLCALL_COMPLETED,
  type Alert,
  type ToolCallCompleted,
} from '@sg/contracts';
import type { NatsBus } from '@sg/messaging';
import { createPgPool, HealthService } from '@sg/runtime';
import {
  exampleConfigDir,
  isolate,
  TEST_SERVERS,
  waitFor,
  type ConfigDir,
  type Isolation,
} from '@sg/testing';
import { Redis } from 'ioredis';
import { AnomalyModule } from '../src/anomaly/anomaly.module.js';
import { AnomalyService } from '../src/anomaly/anomaly.service.js';
import type { CompletedCall } from '../src/anomaly/signals.js';
import { REDIS } from '../src/store/store.module.js';
import { connectBus, startAuditModule } from './support.js';

const SIEM_URL = 'http://127.0.0.1:9/siem';

const ALLOWED: ToolCallCompleted = {
  channel: 'rest',
  agent_id: 'gpt-4o',
  session_id: 'sess-1',
  request_id: 'req-1',
  tool: 'calendar.list_events',
  outcome: 'allowed',
  http_status: 200,
  code: null,
  risk_score: 0.1,
  duration_ms: 4,
};
const DENIED: ToolCallCompleted = {
  ...ALLOWED,
  outcome: 'denied',
  http_status: 403,
  code: 'POLICY.TOOL_NOT_ALLOWED',
};
const RATE_LIMITED: ToolCallCompleted = {
  ...ALLOWED,
  outcome: 'denied',
  http_status: 429,
  code: 'POLICY.RATE_LIMITED',
};

/** One audit instance with the anomaly module, on real NATS, Redis and PostgreSQL. */
async function startAudit(iso: Isolation, config: ConfigDir) {
  const audit = await startAuditModule(iso, {
    configDir: config.dir,
    env: { CONFIG_POLL_MS: '0', SIEM_URL },
    redis: true,
    imports: [AnomalyModule],
  });
  return {
    bus: audit.bus,
    detectors: audit.get(AnomalyService),
    health: audit.get(HealthService),
    redis: audit.get<Redis>(REDIS),
    close: audit.close,
  };
}

interface AlertRow {
  alert_id: string;
  type: string;
  severity: string;
  key: string;
  suppressed: number;
  data: Alert;
}

/** What ingress does (publish toolcall.completed), plus SQL and Redis access to the isolation. */
async function startPublisher(iso: Isolation) {
  const bus = await connectBus(iso, 'ingress');
  await bus.ensureStream();
  const sql = createPgPool(TEST_SERVERS.databaseUrl, iso.schema, 2);
  const redis = new Redis(TEST_SERVERS.redisUrl, { keyPrefix: iso.redisPrefix });
  return {
    bus,
    sql,
    redis,
    /** The envelope of a completed call; `at` sets occurred_at (default: now). */
    call(project: string, data: Partial<ToolCallCompleted> = {}, at = new Date()): CompletedCall {
      const id = randomUUID();
      return {
        event_id: id,
        occurred_at: at.toISOString(),
        trace_id: `trace-${id.slice(0, 8)}`,
        project,
        source: 'ingress',
        data: { ...ALLOWED, ...data },
      } as CompletedCall;
    },
    /** Publishes to JetStream. `dedupe: false` stores a second copy of an event already sent. */
    async send(calls: CompletedCall[], { dedupe = true } = {}) {
      for (const c of calls)
        await bus.js.publish(
          bus.subject(TOOLCALL_COMPLETED),
          JSON.stringify(c),
          dedupe ? { msgID: c.event_id } : {},
        );
    },
    async alerts(project: string, type?: string): Promise<AlertRow[]> {
      const res = await sql.query<AlertRow>(
        `SELECT alert_id, type, severity, key, suppressed, data FROM alerts WHERE project = $1 AND ($2::text IS NULL OR type = $2) ORDER BY raised_at, key`,
        [project, type ?? null],
      );
      return res.rows;
    },
    /** The alerts JetStream stored on gw.evt.alert.raised.v1 (one per Nats-Msg-Id). */
    async alertEvents(project: string, type?: string): Promise<Alert[]> {
      const subject = bus.subject(ALERT_RAISED);
      const jsm = await bus.jsm();
      const info = await jsm.streams.info(bus.streamName, { subjects_filter: subject });
      const n = info.state.subjects?.[subject] ?? 0;
      if (n === 0) return [];
      const consumer = await bus.js.consumers.get(bus.streamName, { filter_subjects: subject });
      const all: Alert[] = [];
      for await (const m of await consumer.fetch({ max_messages: n, expires: 5000 })) {
        all.push(alertSchema.parse(m.json<{ data: unknown }>().data));
        if (all.length >= n) break;
      }
      return all.filter((a) => a.project === project && (type === undefined || a.type === type));
    },
    /** Resolves once the anomaly consumer has acked (or terminated) everything in the stream. */
    async drained() {
      const jsm = await bus.jsm();
      await waitFor(
        async () => {
          const info = await jsm.consumers.info(bus.streamName, 'anomaly');
          return info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
        },
        20_000,
        'the anomaly consumer to ack everything',
      );
    },
    async close() {
      await sql.end();
      redis.disconnect();
      await bus.close();
    },
  };
}

const times = <T>(n: number, f: (i: number) => T) => Array.from({ length: n }, (_, i) => f(i));

/**
 * Makes the next confirmed publish of an alert of `type` fail as if NATS were away (or the
 * process died right before it). Returns the undo.
 */
function failPublish(bus: NatsBus, type: Alert['type']): () => void {
  const real = bus.publishConfirmed.bind(bus);
  let failed = false;
  const restore = () => {
    bus.publishConfirmed = real;
  };
  bus.publishConfirmed = async (subject, data, ctx, eventId) => {
    if (!failed && subject === ALERT_RAISED && (data as Alert).type === type) {
      failed = true;
      throw new Error('JetStream did not confirm (test)');
    }
    return real(subject, data, ctx, eventId);
  };
  return restore;
}
const ago = (ms: number) => new Date(Date.now() - ms);

function configDir() {
  const config = exampleConfigDir('http://127.0.0.1:9');
  // A project with its own threshold; every other project uses policies/default.yaml.
  config.write('policies/acme.yaml', 'anomalies:\n  denial_spike:\n    count: 3\n');
  return config;
}

describe('anomaly detection against real NATS, Redis and PostgreSQL', () => {
  const iso = isolate('anom');
  const config = configDir();
  let audit: Awaited<ReturnType<typeof startAudit>>;
  let pub: Awaited<ReturnType<typeof startPublisher>>;

  beforeAll(async () => {
    pub = await startPublisher(iso);
    audit = await startAudit(iso, config);
  });

  afterAll(async () => {
    await audit?.close();
    await pub?.close();
    await iso.cleanup();
    config.remove();
  });

  it('raises one denial_spike for 10 denials in a burst: stored, queued for the SIEM, published once', async () => {
    const burst = times(10, () => pub.call('burst', DENIED));
    await pub.send(burst);
    await pub.drained();

    const rows = await pub.alerts('burst', 'denial_spike');
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row).toMatchObject({ severity: 'high', key: 'burst', suppressed: 0 });
    expect(row.data).toMatchObject({
      alert_id: row.alert_id,
      type: 'denial_spike',
      project: 'burst',
      count: 10,
      threshold: 10,
      window_s: 120,
      agent_id: null,
    });
    // Calls within one millisecond have no order among them.
    expect([...row.data.trace_ids].sort()).toEqual(burst.map((c) => c.trace_id).sort());

    const outbox = await pub.sql.query(
      'SELECT sink, delivered_at FROM siem_outbox WHERE alert_id = $1',
      [row.alert_id],
    );
    expect(outbox.rows).toEqual([{ sink: 'webhook', delivered_at: null }]);

    const published = await waitFor(async () => {
      const events = await pub.alertEvents('burst', 'denial_spike');
      return events.length > 0 ? events : undefined;
    });
    expect(published).toEqual([row.data]);
  });

  it('folds 15 more denials within the cooldown into that alert', async () => {
    await pub.send(times(15, () => pub.call('burst', DENIED)));
    await pub.drained();
    const rows = await pub.alerts('burst', 'denial_spike');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.suppressed).toBe(15);
    expect(await pub.alertEvents('burst', 'denial_spike')).toHaveLength(1);
  });

  it('raises nothing for 9 denials, and drops malformed events without blocking the rest', async () => {
    await pub.bus.js.publish(pub.bus.subject(TOOLCALL_COMPLETED), 'not json');
    await pub.bus.js.publish(
      pub.bus.subject(TOOLCALL_COMPLETED),
      JSON.stringify({ ...pub.call('few'), data: { outcome: 'denied' } }),
    );
    await pub.send(times(9, () => pub.call('few', DENIED)));
    await pub.drained();
    expect(await pub.alerts('few', 'denial_spike')).toEqual([]);
    // The consumer is still working: the tenth denial raises the alert.
    await pub.send([pub.call('few', DENIED)]);
    await pub.drained();
    expect((await pub.alerts('few', 'denial_spike')).map((r) => r.data.count)).toEqual([10]);
  });

  it("uses the project's own threshold (acme: 3 denials)", async () => {
    await pub.send(times(2, () => pub.call('acme', DENIED)));
    await pub.drained();
    expect(await pub.alerts('acme', 'denial_spike')).toEqual([]);
    await pub.send([pub.call('acme', DENIED)]);
    await pub.drained();
    expect(
      (await pub.alerts('acme', 'denial_spike')).map((r) => [r.data.count, r.data.threshold]),
    ).toEqual([[3, 3]]);
  });

  it('counts an event delivered twice once', async () => {
    const nine = times(9, () => pub.call('dup', DENIED));
    // Without Nats-Msg-Id the stream keeps both copies, so the consumer really sees each twice.
    await pub.send(nine, { dedupe: false });
    await pub.send(nine, { dedupe: false });
    await pub.drained();
    expect(await pub.alerts('dup', 'denial_spike')).toEqual([]);
    await pub.send([pub.call('dup', DENIED)]);
    await pub.drained();
    expect((await pub.alerts('dup', 'denial_spike')).map((r) => r.data.count)).toEqual([10]);
  });

  it('does not add up denials further apart than the window', async () => {
    await pub.send(times(9, (i) => pub.call('old', DENIED, ago(600_000 - i * 1000))));
    await pub.send(times(9, () => pub.call('old', DENIED)));
    await pub.drained();
    expect(await pub.alerts('old')).not.toContainEqual(
      expect.objectContaining({ type: 'denial_spike' }),
    );
  });

  it('judges a backlog by when the calls happened: 10 denials an hour ago are a spike', async () => {
    await pub.send(times(10, (i) => pub.call('late', DENIED, ago(3_600_000 - i * 1000))));
    await pub.drained();
    expect((await pub.alerts('late', 'denial_spike')).map((r) => r.data.count)).toEqual([10]);
  });

  it('raises one rate_limit_storm for 20 rate-limited calls, and no denial spike for them', async () => {
    await pub.send(times(19, () => pub.call('storm', RATE_LIMITED)));
    await pub.drained();
    expect(await pub.alerts('storm', 'rate_limit_storm')).toEqual([]);
    await pub.send([pub.call('storm', RATE_LIMITED)]);
    await pub.drained();
    const rows = await pub.alerts('storm');
    expect(
      rows
        .filter((r) => r.type !== 'new_agent' && r.type !== 'new_tool')
        .map((r) => [r.type, r.severity, r.data.count, r.data.window_s]),
    ).toEqual([['rate_limit_storm', 'medium', 20, 60]]);
  });

  it('raises high_risk_session once per risky agent and cooldown, however many sessions it opens', async () => {
    await pub.send([
      pub.call('risky', { risk_score: 0.9, session_id: 's1' }),
      pub.call('risky', { risk_score: 0.5, session_id: 's2' }),
    ]);
    await pub.send([
      pub.call('risky', {
        risk_score: 0.95,
        session_id: 's1',
        outcome: 'denied',
        http_status: 403,
        code: 'POLICY.RISK_TOO_HIGH',
      }),
    ]);
    await pub.send([pub.call('risky', { risk_score: 0.8, session_id: 's3', agent_id: 'claude' })]);
    // A new session for every risky call: still the one alert of gpt-4o.
    await pub.send(times(5, (i) => pub.call('risky', { risk_score: 0.9, session_id: `rot-${i}` })));
    await pub.drained();
    const rows = await pub.alerts('risky', 'high_risk_session');
    expect(
      rows.map((r) => [
        r.key,
        r.severity,
        r.suppressed,
        r.data.agent_id,
        r.data.session_id,
        r.data.threshold,
      ]),
    ).toEqual([
      ['gpt-4o', 'high', 6, 'gpt-4o', 's1', 0.8],
      ['claude', 'high', 0, 'claude', 's3', 0.8],
    ]);
    expect(rows[0]!.data.summary).toBe(
      'agent gpt-4o reached risk score 0.9 in session s1 (alert at 0.8); 1 such calls by this agent within 600 s',
    );
    await waitFor(async () =>
      (await pub.alertEvents('risky', 'high_risk_session')).length >= 2 ? true : undefined,
    );
    expect(
      (await pub.alertEvents('risky', 'high_risk_session')).map((a) => a.alert_id).sort(),
    ).toEqual(rows.map((r) => r.alert_id).sort());
  });

  it('raises the alerts of a call whose agent and session ids hold lone surrogate halves', async () => {
    await pub.send([
      pub.call('lone', { risk_score: 0.9, agent_id: 'agent\uDC00x', session_id: 'evil\uD800' }),
    ]);
    await pub.drained();
    const rows = await pub.alerts('lone');
    expect(rows.map((r) => [r.type, r.key]).sort()).toEqual([
      ['high_risk_session', 'agent\uFFFDx'],
      ['new_agent', 'agent\uFFFDx'],
      ['new_tool', 'calendar.list_events'],
    ]);
    const risky = rows.find((r) => r.type === 'high_risk_session')!;
    expect(risky.data).toMatchObject({ agent_id: 'agent\uFFFDx', session_id: 'evil\uFFFD' });
    await waitFor(async () => ((await pub.alertEvents('lone')).length >= 3 ? true : undefined));
    expect(await pub.alertEvents('lone', 'high_risk_session')).toEqual([risky.data]);
  });

  it('raises new_agent and new_tool once per name, for authenticated agents and registered tools only', async () => {
    await pub.send([pub.call('first')]);
    await pub.drained();
    await pub.send([
      pub.call('first'),
      pub.call('first', {
        tool: 'db.write_sensitive',
        outcome: 'pending_approval',
        http_status: 202,
      }),
      // 401: the name is whatever the caller typed.
      pub.call('first', {
        agent_id: null,
        tool: 'evil.probe',
        outcome: 'rejected',
        http_status: 401,
        code: 'AUTH.INVALID_KEY',
        risk_score: null,
      }),
      pub.call('first', {
        agent_id: 'claude',
        tool: 'made.up',
        outcome: 'denied',
        http_status: 403,
        code: 'POLICY.TOOL_NOT_REGISTERED',
        risk_score: 0,
      }),
    ]);
    await pub.drained();
    const rows = await pub.alerts('first');
    expect(rows.map((r) => [r.type, r.key, r.severity]).sort()).toEqual([
      ['new_agent', 'claude', 'low'],
      ['new_agent', 'gpt-4o', 'low'],
      ['new_tool', 'calendar.list_events', 'low'],
      ['new_tool', 'db.write_sensitive', 'low'],
    ]);
    const seen = await pub.sql.query(
      "SELECT kind, name FROM audit_seen WHERE project = 'first' ORDER BY kind, name",
    );
    expect(seen.rows).toEqual([
      { kind: 'agent', name: 'claude' },
      { kind: 'agent', name: 'gpt-4o' },
      { kind: 'tool', name: 'calendar.list_events' },
      { kind: 'tool', name: 'db.write_sensitive' },
    ]);
    await waitFor(async () => ((await pub.alertEvents('first')).length >= 4 ? true : undefined));
    expect((await pub.alertEvents('first')).map((a) => a.alert_id).sort()).toEqual(
      rows.map((r) => r.alert_id).sort(),
    );
  });

  it('raises no second alert when the event that raised one comes again after a crash past the publish', async () => {
    const ten = times(10, () => pub.call('crash', DENIED));
    await pub.send(ten);
    await pub.drained();
    const [before] = await pub.alerts('crash', 'denial_spike');
    expect(before).toBeDefined();
    // The crash came after the publish, before the cooldown short-cut was written and the ack.
    const keys = await pub.redis.keys(`${iso.redisPrefix}anomaly:cool:crash:*`);
    expect(keys).toHaveLength(1);
    await pub.redis.del(...keys.map((k) => k.slice(iso.redisPrefix.length)));
    await pub.send([ten[9]!], { dedupe: false });
    await pub.drained();
    const after = await pub.alerts('crash', 'denial_spike');
    expect(after.map((r) => [r.alert_id, r.suppressed])).toEqual([[before!.alert_id, 0]]);
    // Published again with the same id: JetStream kept one.
    expect((await pub.alertEvents('crash', 'denial_spike')).map((a) => a.alert_id)).toEqual([
      before!.alert_id,
    ]);
  });

  it('publishes the alert an event raised when it comes again after a crash between COMMIT and the publish', async () => {
    const ten = times(10, () => pub.call('precrash', DENIED));
    const newcomer = pub.call('precrash', { agent_id: 'newcomer' });
    for (const c of ten.slice(0, 9)) await audit.detectors.detect(c, false, new Map());
    // The process dies when the alert's publish is due: a window alert, then a first-seen one.
    for (const [c, type] of [
      [ten[9]!, 'denial_spike'],
      [newcomer, 'new_agent'],
    ] as const) {
      const restore = failPublish(audit.bus, type);
      await expect(audit.detectors.detect(c, false, new Map())).rejects.toThrow();
      restore();
      expect(await pub.alerts('precrash', type)).toHaveLength(type === 'new_agent' ? 2 : 1);
    }
    expect(await pub.alertEvents('precrash', 'denial_spike')).toEqual([]);
    expect((await pub.alertEvents('precrash', 'new_agent')).map((a) => a.key)).toEqual(['gpt-4o']);
    // The cooldown short-cut is written after the publish only...
    const coolKeys = `${iso.redisPrefix}anomaly:cool:precrash:*`;
    expect(await pub.redis.keys(coolKeys)).toEqual([]);
    // ...but a repeat handled meanwhile (by any instance) writes it for the unpublished alert.
    const tally = new Map<string, number>();
    await audit.detectors.detect(pub.call('precrash', DENIED), false, tally);
    await audit.detectors.addRepeats(tally);
    expect(await pub.redis.keys(coolKeys)).toHaveLength(1);

    // The redeliveries, twice over: each alert is published once, and nothing is raised twice.
    for (const c of [ten[9]!, newcomer, ten[9]!, newcomer])
      await audit.detectors.detect(c, true, new Map());
    const rows = await pub.alerts('precrash');
    expect(rows.map((r) => [r.type, r.key, r.suppressed]).sort()).toEqual([
      ['denial_spike', 'precrash', 1],
      ['new_agent', 'gpt-4o', 0],
      ['new_agent', 'newcomer', 0],
      ['new_tool', 'calendar.list_events', 0],
    ]);
    await waitFor(async () => ((await pub.alertEvents('precrash')).length >= 4 ? true : undefined));
    expect((await pub.alertEvents('precrash')).map((a) => a.alert_id).sort()).toEqual(
      rows.map((r) => r.alert_id).sort(),
    );
    expect(await pub.redis.keys(coolKeys)).toHaveLength(1);
  });

  it('retries an event whose alert JetStream did not confirm, instead of acking it', async () => {
    const restore = failPublish(audit.bus, 'high_risk_session');
    try {
      await pub.send([pub.call('unconfirmed', { risk_score: 0.9 })]);
      await pub.drained();
    } finally {
      restore();
    }
    const rows = await pub.alerts('unconfirmed', 'high_risk_session');
    expect(rows).toHaveLength(1);
    expect(
      (await pub.alertEvents('unconfirmed', 'high_risk_session')).map((a) => a.alert_id),
    ).toEqual([rows[0]!.alert_id]);
  });

  it('pauses while Redis is unreachable, says so in health, and catches up afterwards', async () => {
    audit.redis.disconnect();
    await pub.send(times(10, () => pub.call('outage', DENIED)));
    const report = await waitFor(async () => {
      const r = await audit.health.report();
      return r.dependencies.anomaly?.ok === false ? r : undefined;
    });
    expect(report.dependencies.anomaly?.detail).toMatch(/detection paused/);
    expect(await pub.alerts('outage', 'denial_spike')).toEqual([]);
    await audit.redis.connect();
    await pub.drained();
    expect((await pub.alerts('outage', 'denial_spike')).map((r) => r.data.count)).toEqual([10]);
    expect((await audit.health.report()).dependencies.anomaly).toEqual({ ok: true });
  });
});

describe('two audit instances', () => {
  const iso = isolate('anom2');
  const config = configDir();
  const instances: Awaited<ReturnType<typeof startAudit>>[] = [];
  let pub: Awaited<ReturnType<typeof startPublisher>>;

  beforeAll(async () => {
    pub = await startPublisher(iso);
    for (let i = 0; i < 2; i++) instances.push(await startAudit(iso, config));
  });

  afterAll(async () => {
    for (const a of instances) await a.close();
    await pub?.close();
    await iso.cleanup();
    config.remove();
  });

  it('share one window: events split between them raise exactly one alert, and every event counts', async () => {
    const calls = times(30, () => pub.call('split', DENIED));
    const tallies = instances.map(() => new Map<string, number>());
    // Odd events to one instance, even to the other, both at once.
    await Promise.all(
      instances.map(async (a, i) => {
        for (const [n, c] of calls.entries())
          if (n % 2 === i) await a.detectors.detect(c, false, tallies[i]!);
        await a.detectors.addRepeats(tallies[i]!);
      }),
    );
    const rows = await pub.alerts('split', 'denial_spike');
    expect(rows).toHaveLength(1);
    // Nine events fill the window, one raises the alert, the other twenty are its repeats.
    expect(rows[0]!.suppressed).toBe(20);
    expect(rows[0]!.data.count).toBeGreaterThanOrEqual(10);
  });

  it('share the durable consumer: a flood through NATS raises one alert, with every denial accounted for', async () => {
    await pub.send(times(30, () => pub.call('flood', DENIED)));
    await pub.drained();
    const rows = await pub.alerts('flood', 'denial_spike');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.suppressed).toBe(20);
    await waitFor(async () =>
      (await pub.alertEvents('flood', 'denial_spike')).length > 0 ? true : undefined,
    );
    expect(await pub.alertEvents('flood', 'denial_spike')).toHaveLength(1);
  });
});
