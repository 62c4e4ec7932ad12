import { randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { alertSchema, type Alert } from '@sg/contracts';
import { HealthService, Metrics, type Pool } from '@sg/runtime';
import { isolate, waitFor, type Isolation } from '@sg/testing';
import { pino } from 'pino';
import type { AuditEnv } from '../src/config/env.js';
import { enqueueAlert } from '../src/siem/enqueue.js';
import { SIEM_CLOCK, SiemSender } from '../src/siem/outbox.js';
import { startAuditModule } from './support.js';

// ---- real receivers ----

interface HttpCall {
  url: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  status: number;
}

/** A SIEM webhook: records every POST and answers what `respond` says (200 by default). */
async function startHttpReceiver() {
  const calls: HttpCall[] = [];
  const receiver = {
    calls,
    url: '',
    respond: (_call: Omit<HttpCall, 'status'>): { status: number; body?: string } => ({
      status: 200,
      body: '{"text":"Success","code":0}',
    }),
    /** The alert ids the receiver accepted (2xx), in arrival order. */
    accepted(): string[] {
      return calls.filter((c) => c.status < 300).map((c) => alertIdOf(c.body));
    },
    close: async () => {},
  };
  const server = createHttpServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const call = {
        url: req.url ?? '',
        headers: req.headers,
        body: JSON.parse(raw) as Record<string, unknown>,
      };
      const answer = receiver.respond(call);
      calls.push({ ...call, status: answer.status });
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body ?? '{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  receiver.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}

/** The alert id inside any of the three webhook formats. */
function alertIdOf(body: Record<string, unknown>): string {
  const b = body as { alert_id?: string; event?: { alert_id: string }; metadata?: { uid: string } };
  return b.alert_id ?? b.event?.alert_id ?? b.metadata!.uid;
}

async function startUdpListener() {
  const socket = createSocket('udp4');
  const messages: string[] = [];
  socket.on('message', (m) => messages.push(m.toString('utf8')));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    messages,
    url: `udp://127.0.0.1:${socket.address().port}`,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** A syslog collector speaking RFC 6587 octet counting; it fails the test on a torn frame. */
async function startTcpListener() {
  const messages: string[] = [];
  const errors: string[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createTcpServer((socket) => {
    connections++;
    sockets.add(socket);
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const space = buffer.indexOf(0x20);
        if (space < 0) break;
        const len = Number(buffer.subarray(0, space).toString('ascii'));
        if (!Number.isInteger(len) || len <= 0) {
          errors.push(`bad frame length: ${buffer.subarray(0, Math.min(space, 20)).toString()}`);
          socket.destroy();
          return;
        }
        if (buffer.length < space + 1 + len) break;
        messages.push(buffer.subarray(space + 1, space + 1 + len).toString('utf8'));
        buffer = buffer.subarray(space + 1 + len);
      }
    });
    socket.on('close', () => {
      sockets.delete(socket);
      if (buffer.length) errors.push(`${buffer.length} bytes of a torn frame`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    messages,
    errors,
    get connections() {
      return connections;
    },
    get open() {
      return sockets.size;
    },
    url: `tcp://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    dropConnections() {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** One syslog line: its RFC 5424 header and the CEF record's header fields and extensions. */
function parseSyslogCef(line: string) {
  const m = /^<(\d+)>1 (\S+) (\S+) securegateway - - - (CEF:.*)$/.exec(line);
  if (!m) throw new Error(`not an RFC 5424 CEF line: ${line}`);
  const cef = m[4]!;
  const fields = cef.split(/(?<!\\)\|/);
  const extension = fields.slice(7).join('|');
  const ext = new Map<string, string>();
  for (const pair of extension.split(/ (?=[A-Za-z0-9]+=)/)) {
    const eq = pair.indexOf('=');
    ext.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return { pri: Number(m[1]), timestamp: m[2], host: m[3], header: fields.slice(0, 7), ext };
}

// ---- the audit side ----

/** Log lines the sender wrote, as text, to look for secrets in. */
function captureLogs() {
  const lines: string[] = [];
  const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

/** The SIEM sender of one audit instance (it needs no NATS); `clock`, when given, is its clock. */
async function startSender(
  iso: Isolation,
  extraEnv: Record<string, string>,
  clock?: { now: Date },
) {
  const logs = captureLogs();
  const audit = await startAuditModule(iso, {
    nats: false,
    env: { SIEM_POLL_MS: '60000', ...extraEnv },
    logger: logs.logger,
    providers: [...(clock ? [{ provide: SIEM_CLOCK, useValue: () => clock.now }] : []), SiemSender],
  });
  return {
    env: audit.env,
    logs: logs.lines,
    pool: audit.pool,
    sender: audit.get(SiemSender),
    async health() {
      const report = await audit.get(HealthService).report();
      return report.dependencies.siem!;
    },
    /** A sink's value of a gauge, as Prometheus would scrape it. */
    async gauge(name: string, sink: string) {
      const metric = audit.get(Metrics).registry.getSingleMetric(name)!;
      return (await metric.get()).values.find((v) => v.labels.sink === sink)?.value;
    },
    close: audit.close,
  };
}

let seq = 0;
function makeAlert(raisedAt: Date, overrides: Partial<Alert> = {}): Alert {
  seq++;
  return alertSchema.parse({
    alert_id: randomUUID(),
    type: 'denial_spike',
    severity: 'high',
    project: 'acme',
    key: 'acme',
    summary: `${10 + seq} denials in 120 s (threshold 10)`,
    count: 10 + seq,
    threshold: 10,
    window_s: 120,
    agent_id: 'gpt-4o',
    session_id: 'sess-1',
    tool: 'db.write_sensitive',
    trace_ids: [`trace-${seq}`],
    raised_at: raisedAt.toISOString(),
    ...overrides,
  });
}

/** What the anomaly detectors do: the alert row and its outbox rows in one transaction. */
async function raise(
  pool: Pool,
  env: Pick<AuditEnv, 'SIEM_URL' | 'SIEM_SYSLOG_URL'>,
  alert: Alert,
  now = new Date(alert.raised_at),
) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO alerts (alert_id, project, type, severity, key, raised_at, data, last_seen_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $6)`,
      [
        alert.alert_id,
        alert.project,
        alert.type,
        alert.severity,
        alert.key,
        alert.raised_at,
        JSON.stringify(alert),
      ],
    );
    await enqueueAlert(client, env, alert.alert_id, now);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
  return alert;
}

interface OutboxRow {
  alert_id: string;
  sink: string;
  attempts: number;
  next_attempt_at: Date;
  lease_until: Date | null;
  delivered_at: Date | null;
  last_error: string | null;
}

async function outbox(pool: Pool, where = 'TRUE', params: unknown[] = []): Promise<OutboxRow[]> {
  return (
    await pool.query<OutboxRow>(
      `SELECT alert_id, sink, attempts, next_attempt_at, lease_until, delivered_at, last_error FROM siem_outbox WHERE ${where} ORDER BY id`,
      params,
    )
  ).rows;
}

// A fixed start, so a test can walk through ten minutes of retries in a moment.
const T0 = new Date('2026-03-01T10:00:00.000Z');

describe('SIEM delivery to real receivers', () => {
  let iso: Isolation;
  const closers: (() => Promise<void>)[] = [];
  const cleanupLater = <T extends { close(): Promise<void> }>(thing: T): T => {
    closers.push(() => thing.close());
    return thing;
  };

  beforeEach(() => {
    iso = isolate('siem');
  });

  afterEach(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    closers.length = 0;
    await iso.cleanup();
  });

  it('POSTs a raised alert to SIEM_URL as JSON, once, from the running sender', async () => {
    const receiver = cleanupLater(await startHttpReceiver());
    const audit = cleanupLater(
      await startSender(iso, { SIEM_URL: `${receiver.url}/hook`, SIEM_POLL_MS: '20' }),
    );
    const alert = await raise(audit.pool, audit.env, makeAlert(new Date()));

    await waitFor(
      async () => ((await outbox(audit.pool))[0]?.delivered_at ? true : undefined),
      10_000,
      'the delivery',
    );
    expect(receiver.calls).toHaveLength(1);
    const [call] = receiver.calls;
    expect(call!.url).toBe('/hook');
    expect(call!.headers['content-type']).toBe('application/json');
    expect(call!.headers.authorization).toBeUndefined();
    // Seed 002's consumers read {alert, count}; everything else is the alert as published.
    expect(call!.body).toEqual({ ...alert, alert: 'denial spike' });
    expect(call!.body.count).toBe(alert.count);

    // Delivered means done: more rounds send nothing again.
    expect(await audit.sender.deliverDue()).toBe(0);
    expect(receiver.calls).toHaveLength(1);
    expect((await audit.health()).detail).toBe('webhook: all delivered');
    expect(await audit.gauge('sg_siem_outbox_depth', 'webhook')).toBe(0);
    expect(await audit.gauge('sg_siem_outbox_oldest_age_seconds', 'webhook')).toBe(0);
  });

  it('sends Splunk HEC events with Authorization: Splunk <token>', async () => {
    const receiver = cleanupLater(await startHttpReceiver());
    // Like Splunk: anything but the right token is a 401.
    receiver.respond = (c) =>
      c.headers.authorization === 'Splunk hec-token-1'
        ? { status: 200 }
        : { status: 401, body: '{"text":"Invalid token","code":4}' };
    const audit = cleanupLater(
      await startSender(iso, {
        SIEM_URL: `${receiver.url}/services/collector/event`,
        SIEM_FORMAT: 'splunk_hec',
        SIEM_TOKEN: 'hec-token-1',
      }),
    );
    const alert = await raise(
      audit.pool,
      audit.env,
      makeAlert(new Date(), { severity: 'critical' }),
    );

    expect(await audit.sender.deliverDue()).toBe(1);
    expect(receiver.calls.map((c) => [c.url, c.status])).toEqual([
      ['/services/collector/event', 200],
    ]);
    expect(receiver.calls[0]!.body).toEqual({
      time: Date.parse(alert.raised_at) / 1000,
      host: expect.any(String),
      source: 'securegateway',
      sourcetype: 'securegateway:alert',
      event: alert,
    });
  });

  it('sends OCSF Detection Findings when SIEM_FORMAT=ocsf', async () => {
    const receiver = cleanupLater(await startHttpReceiver());
    const audit = cleanupLater(
      await startSender(iso, {
        SIEM_URL: receiver.url,
        SIEM_FORMAT: 'ocsf',
        SIEM_TOKEN: 'bearer-1',
      }),
    );
    const alert = await raise(
      audit.pool,
      audit.env,
      makeAlert(new Date(), {
        type: 'new_tool',
        severity: 'medium',
        threshold: null,
        window_s: null,
      }),
    );

    expect(await audit.sender.deliverDue()).toBe(1);
    const [call] = receiver.calls;
    expect(call!.headers.authorization).toBe('Bearer bearer-1');
    expect(call!.body).toMatchObject({
      class_uid: 2004,
      category_uid: 2,
      activity_id: 1,
      type_uid: 200401,
      severity_id: 3,
      time: Date.parse(alert.raised_at),
      message: alert.summary,
      metadata: {
        version: '1.1.0',
        uid: alert.alert_id,
        product: { name: 'SecureGateway', vendor_name: 'SecureGateway' },
      },
      finding_info: {
        uid: alert.alert_id,
        title: 'new tool',
        desc: alert.summary,
        types: ['new_tool'],
      },
      unmapped: {
        project: 'acme',
        tool: 'db.write_sensitive',
        session_id: 'sess-1',
        agent_id: 'gpt-4o',
      },
    });
  });

  it('sends CEF over syslog UDP, one intact message per alert', async () => {
    const listener = cleanupLater(await startUdpListener());
    const audit = cleanupLater(await startSender(iso, { SIEM_SYSLOG_URL: listener.url }));
    const alert = await raise(
      audit.pool,
      audit.env,
      makeAlert(new Date(), { summary: 'a|b=c\\d\nforged=1', key: 'k=v|w' }),
    );

    expect(await audit.sender.deliverDue()).toBe(1);
    await waitFor(async () => (listener.messages.length ? true : undefined), 5000, 'the datagram');
    expect(listener.messages).toHaveLength(1);
    const line = parseSyslogCef(listener.messages[0]!);
    expect(line.pri).toBe(16 * 8 + 3);
    expect(line.timestamp).toBe(alert.raised_at);
    expect(line.header).toEqual([
      'CEF:0',
      'SecureGateway',
      'SecureGateway',
      '1.0',
      'denial_spike',
      'a\\|b=c\\\\d forged=1',
      '8',
    ]);
    expect(line.ext.get('externalId')).toBe(alert.alert_id);
    expect(line.ext.get('rt')).toBe(String(Date.parse(alert.raised_at)));
    expect(line.ext.get('cs1')).toBe('acme');
    expect(line.ext.get('cs2')).toBe('k\\=v|w');
    expect(line.ext.get('msg')).toBe('a|b\\=c\\\\d\\nforged\\=1');
    expect(line.ext.has('forged')).toBe(false);
    expect(line.ext.get('suser')).toBe('gpt-4o');
    expect(line.ext.get('cnt')).toBe(String(alert.count));
  });

  it('sends CEF over syslog TCP in octet-counted frames, re-opening the connection the collector dropped', async () => {
    const listener = cleanupLater(await startTcpListener());
    const audit = cleanupLater(await startSender(iso, { SIEM_SYSLOG_URL: listener.url }));
    const first = [
      makeAlert(new Date()),
      makeAlert(new Date(), { summary: 'line one\nline two |x| y=z' }),
      makeAlert(new Date()),
    ];
    for (const a of first) await raise(audit.pool, audit.env, a);

    expect(await audit.sender.deliverDue()).toBe(3);
    await waitFor(
      async () => (listener.messages.length === 3 ? true : undefined),
      5000,
      'three frames',
    );
    expect(listener.connections).toBe(1);
    expect(listener.messages.map((m) => parseSyslogCef(m).ext.get('externalId'))).toEqual(
      first.map((a) => a.alert_id),
    );
    expect(parseSyslogCef(listener.messages[1]!).header[5]).toBe('line one line two \\|x\\| y=z');

    // The collector restarts its side of the connection; the next alert goes over a new one.
    listener.dropConnections();
    await waitFor(
      async () => (listener.open === 0 ? true : undefined),
      5000,
      'the dropped connection',
    );
    const later = await raise(audit.pool, audit.env, makeAlert(new Date()));
    await waitFor(
      async () => ((await audit.sender.deliverDue()) === 1 ? true : undefined),
      5000,
      'the next delivery',
    );
    await waitFor(
      async () => (listener.messages.length === 4 ? true : undefined),
      5000,
      'the fourth frame',
    );
    expect(parseSyslogCef(listener.messages[3]!).ext.get('externalId')).toBe(later.alert_id);
    expect(listener.connections).toBe(2);
    expect(listener.errors).toEqual([]);
    expect((await outbox(audit.pool, 'delivered_at IS NULL')).length).toBe(0);
  });

  it('delivers every alert exactly once after the SIEM was down for 10 minutes, backing off 1 s, 2 s, 4 s ... up to 60 s', async () => {
    const receiver = cleanupLater(await startHttpReceiver());
    receiver.respond = () => ({ status: 503, body: 'maintenance' });
    const clock = { now: T0 };
    const audit = cleanupLater(
      await startSender(
        iso,
        { SIEM_URL: receiver.url, SIEM_RETRY_BASE_MS: '1000', SIEM_RETRY_MAX_MS: '60000' },
        clock,
      ),
    );

    const alerts: Alert[] = [];
    for (let i = 0; i < 20; i++)
      alerts.push(await raise(audit.pool, audit.env, makeAlert(new Date(T0.getTime() - 1000 + i))));
    const watched = alerts[0]!.alert_id;

    const gaps: number[] = [];
    let rounds = 0;
    let attempts = 0;
    const end = T0.getTime() + 10 * 60_000;
    while (clock.now.getTime() < end) {
      const before = clock.now.getTime();
      expect(await audit.sender.deliverDue()).toBe(0);
      rounds++;
      const [row] = await outbox(audit.pool, 'alert_id = $1', [watched]);
      if (row!.attempts > attempts) {
        attempts = row!.attempts;
        gaps.push(row!.next_attempt_at.getTime() - before);
      }
      // Five more alerts are raised in the middle of the outage.
      if (before >= T0.getTime() + 5 * 60_000 && alerts.length === 20) {
        for (let i = 0; i < 5; i++)
          alerts.push(
            await raise(
              audit.pool,
              audit.env,
              makeAlert(new Date(before + i), {}),
              new Date(before),
            ),
          );
      }
      const pending = await outbox(audit.pool, 'delivered_at IS NULL');
      clock.now = new Date(Math.min(...pending.map((r) => r.next_attempt_at.getTime())));
    }

    // Each retry waited twice as long as the one before, up to SIEM_RETRY_MAX_MS (+ at most 10 % jitter).
    expect(gaps.length).toBeGreaterThanOrEqual(12);
    gaps.forEach((gap, k) => {
      const expected = Math.min(1000 * 2 ** k, 60_000);
      expect(gap).toBeGreaterThanOrEqual(expected);
      expect(gap).toBeLessThanOrEqual(expected * 1.1 + 1);
    });
    // A down SIEM gets one request per round, not one per queued alert.
    expect(receiver.calls.length).toBe(rounds);
    expect(receiver.accepted()).toEqual([]);
    const failing = await outbox(audit.pool);
    expect(failing).toHaveLength(25);
    expect(
      failing.every(
        (r) =>
          r.delivered_at === null && r.attempts >= 1 && r.last_error === 'HTTP 503: maintenance',
      ),
    ).toBe(true);
    const health = await audit.health();
    expect(health.ok).toBe(true);
    expect(health.detail).toMatch(
      /^webhook: 25 pending, oldest 6\d\d s, deliveries failing \(25 retrying; last error: HTTP 503: maintenance\)$/,
    );
    expect(await audit.gauge('sg_siem_outbox_depth', 'webhook')).toBe(25);
    expect(await audit.gauge('sg_siem_outbox_oldest_age_seconds', 'webhook')).toBeGreaterThan(600);

    // The SIEM is back: once the retries come due, it receives every alert, once.
    receiver.respond = () => ({ status: 200 });
    const pending = await outbox(audit.pool, 'delivered_at IS NULL');
    clock.now = new Date(Math.max(...pending.map((r) => r.next_attempt_at.getTime())));
    expect(await audit.sender.deliverDue()).toBe(25);
    expect([...receiver.accepted()].sort()).toEqual(alerts.map((a) => a.alert_id).sort());
    // The alerts that waited together arrive in the order they were raised.
    const firstTwenty = receiver
      .accepted()
      .filter((id) => alerts.slice(0, 20).some((a) => a.alert_id === id));
    expect(firstTwenty).toEqual(alerts.slice(0, 20).map((a) => a.alert_id));

    clock.now = new Date(clock.now.getTime() + 10 * 60_000);
    expect(await audit.sender.deliverDue()).toBe(0);
    expect(receiver.accepted()).toHaveLength(25);
    expect((await audit.health()).detail).toBe('webhook: all delivered');
  });

  it('keeps a refused alert from holding up the others, and retries it', async () => {
    const receiver = cleanupLater(await startHttpReceiver());
    receiver.respond = (c) =>
      (c.body as { key?: string }).key === 'poison'
        ? { status: 400, body: 'bad event' }
        : { status: 200 };
    const clock = { now: T0 };
    const audit = cleanupLater(await startSender(iso, { SIEM_URL: receiver.url }, clock));
    const poison = await raise(
      audit.pool,
      audit.env,
      makeAlert(new Date(T0.getTime() - 10), { key: 'poison' }),
    );
    const others = [
      await raise(audit.pool, audit.env, makeAlert(new Date(T0.getTime() - 5))),
      await raise(audit.pool, audit.env, makeAlert(new Date(T0.getTime() - 1))),
    ];

    expect(await audit.sender.deliverDue()).toBe(2);
    expect(receiver.accepted()).toEqual(others.map((a) => a.alert_id));
    const [row] = await outbox(audit.pool, 'alert_id = $1', [poison.alert_id]);
    expect(row).toMatchObject({
      attempts: 1,
      delivered_at: null,
      last_error: 'HTTP 400: bad event',
    });
  });

  it('delivers to a working sink while the other is down, and keeps rows of a sink that is no longer configured', async () => {
    const receiver = cleanupLater(await startHttpReceiver());
    receiver.respond = () => ({ status: 503 });
    const listener = cleanupLater(await startUdpListener());
    const clock = { now: T0 };
    const audit = cleanupLater(
      await startSender(iso, { SIEM_URL: receiver.url, SIEM_SYSLOG_URL: listener.url }, clock),
    );
    const alerts = [
      await raise(audit.pool, audit.env, makeAlert(new Date(T0.getTime() - 2))),
      await raise(audit.pool, audit.env, makeAlert(new Date(T0.getTime() - 1))),
    ];

    expect(await audit.sender.deliverDue()).toBe(2);
    await waitFor(
      async () => (listener.messages.length === 2 ? true : undefined),
      5000,
      'two datagrams',
    );
    expect(listener.messages.map((m) => parseSyslogCef(m).ext.get('externalId'))).toEqual(
      alerts.map((a) => a.alert_id),
    );
    expect(
      (await outbox(audit.pool, "sink = 'webhook'")).map((r) => [r.attempts, r.delivered_at]),
    ).toEqual([
      [1, null],
      [1, null],
    ]);
    await audit.close();
    closers.pop();

    // Restarted with the webhook only: the queued syslog rows stay, and health says so.
    receiver.respond = () => ({ status: 200 });
    const later = cleanupLater(await startSender(iso, { SIEM_URL: receiver.url }, clock));
    const third = await raise(
      later.pool,
      { SIEM_URL: receiver.url, SIEM_SYSLOG_URL: listener.url },
      makeAlert(T0),
    );
    clock.now = new Date(T0.getTime() + 2000);
    expect(await later.sender.deliverDue()).toBe(3);
    expect(listener.messages).toHaveLength(2);
    const health = await later.health();
    expect(health.ok).toBe(true);
    expect(health.detail).toBe(
      'webhook: all delivered; syslog: 1 pending but not configured (set SIEM_SYSLOG_URL to deliver them)',
    );
    expect(
      (await outbox(later.pool, "sink = 'syslog' AND delivered_at IS NULL")).map((r) => r.alert_id),
    ).toEqual([third.alert_id]);
  });

  it('lets two instances share the outbox without sending any alert twice', async () => {
    const receiver = cleanupLater(await startHttpReceiver());
    const clock = { now: T0 };
    const a = cleanupLater(await startSender(iso, { SIEM_URL: receiver.url }, clock));
    const b = cleanupLater(await startSender(iso, { SIEM_URL: receiver.url }, clock));
    const N = 250;
    const alerts: Alert[] = [];
    for (let i = 0; i < N; i++)
      alerts.push(await raise(a.pool, a.env, makeAlert(new Date(T0.getTime() - N + i))));

    const delivered = [0, 0];
    while ((await outbox(a.pool, 'delivered_at IS NULL')).length > 0) {
      const [x, y] = await Promise.all([a.sender.deliverDue(), b.sender.deliverDue()]);
      delivered[0]! += x;
      delivered[1]! += y;
    }
    expect(delivered[0]! + delivered[1]!).toBe(N);
    expect(delivered[0]).toBeGreaterThan(0);
    expect(delivered[1]).toBeGreaterThan(0);
    expect(receiver.calls).toHaveLength(N);
    expect(new Set(receiver.accepted()).size).toBe(N);

    // A row another instance holds (it crashed mid-send) waits for the lease to end, then goes out once.
    const late = await raise(a.pool, a.env, makeAlert(T0));
    await a.pool.query('UPDATE siem_outbox SET lease_until = $2 WHERE alert_id = $1', [
      late.alert_id,
      new Date(T0.getTime() + 30_000),
    ]);
    expect(await b.sender.deliverDue()).toBe(0);
    clock.now = new Date(T0.getTime() + 30_001);
    expect(await b.sender.deliverDue()).toBe(1);
    expect(receiver.accepted().filter((id) => id === late.alert_id)).toHaveLength(1);
  });

  it.each([
    ['json', 'Bearer'],
    ['splunk_hec', 'Splunk'],
  ])(
    'never puts SIEM_TOKEN in last_error, logs or health when the %s receiver fails',
    async (format, scheme) => {
      const token = `tok-${randomUUID()}`;
      const receiver = cleanupLater(await startHttpReceiver());
      // A careless receiver that quotes the credentials it refused.
      receiver.respond = (c) => ({
        status: 401,
        body: `refused ${String(c.headers.authorization)} for ${c.url}`,
      });
      const clock = { now: T0 };
      const audit = cleanupLater(
        await startSender(
          iso,
          { SIEM_URL: `${receiver.url}/in?x=1`, SIEM_FORMAT: format, SIEM_TOKEN: token },
          clock,
        ),
      );
      await raise(audit.pool, audit.env, makeAlert(new Date(T0.getTime() - 1)));

      expect(await audit.sender.deliverDue()).toBe(0);
      expect(receiver.calls[0]!.headers.authorization).toBe(`${scheme} ${token}`);
      const [row] = await outbox(audit.pool);
      expect(row!.last_error).toBe(`HTTP 401: refused ${scheme} [redacted] for /in?x=1`);

      // The receiver goes away: a network error, not an answer.
      await receiver.close();
      clock.now = new Date(T0.getTime() + 5000);
      expect(await audit.sender.deliverDue()).toBe(0);
      const [again] = await outbox(audit.pool);
      expect(again!.attempts).toBe(2);
      expect(again!.last_error).toBe('ECONNREFUSED');

      const health = await audit.health();
      const logs = audit.logs.join('\n');
      expect(logs).toContain('HTTP 401');
      for (const text of [row!.last_error, again!.last_error, logs, JSON.stringify(health)])
        expect(text).not.toContain(token);
    },
  );
});
