import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort, waitFor } from '@sg/testing';
import {
  ADMIN_KEY,
  AGENT_KEY,
  envelope,
  get,
  post,
  startGateway,
  type Gateway,
} from './harness.js';

/** A SIEM webhook receiver: every JSON body it was sent, and whether it is up. */
class Webhook {
  readonly bodies: Record<string, any>[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  private server: Server | undefined;
  constructor(readonly port: number) {}

  start(): Promise<void> {
    this.server = createServer((req, res) => {
      let text = '';
      req.setEncoding('utf8').on('data', (c: string) => (text += c));
      req.on('end', () => {
        this.bodies.push(JSON.parse(text));
        res.writeHead(200).end('{}');
      });
    });
    return new Promise((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  stop(): Promise<void> {
    return new Promise((resolve) =>
      this.server
        ? (this.server.closeAllConnections(), this.server.close(() => resolve()))
        : resolve(),
    );
  }

  of(type: string, project: string) {
    return this.bodies.filter((b) => b.type === type && b.project === project);
  }
}

let gw: Gateway;
let webhook: Webhook;
let syslog: Socket;
const syslogLines: string[] = [];
const auth = { 'X-API-Key': AGENT_KEY };
const admin = { 'X-Admin-Key': ADMIN_KEY };

beforeAll(async () => {
  webhook = new Webhook(await freePort());
  await webhook.start();
  syslog = createSocket('udp4');
  syslog.on('message', (m) => syslogLines.push(m.toString('utf8')));
  await new Promise<void>((resolve) => syslog.bind(0, '127.0.0.1', resolve));
  gw = await startGateway({
    env: {
      SIEM_URL: `http://127.0.0.1:${webhook.port}/hook`,
      SIEM_SYSLOG_URL: `udp://127.0.0.1:${(syslog.address() as AddressInfo).port}`,
      SIEM_POLL_MS: '100',
      SIEM_RETRY_BASE_MS: '100',
      SIEM_RETRY_MAX_MS: '400',
      // How often the audit service checks its newest rows (and signs checkpoints).
      AUDIT_CHECKPOINT_MS: '300',
    },
    configure: (c) => {
      c.write(
        'policies/outage.yaml',
        'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"]\nanomalies:\n  denial_spike: { count: 5, window_s: 120 }\n',
      );
      c.write(
        'policies/tamper.yaml',
        'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"]\n',
      );
    },
  });
});

afterAll(async () => {
  await gw?.stop();
  await webhook?.stop();
  syslog?.close();
});

/** A call the policy denies: db.write_sensitive is registered, but gpt-4o may only call calendar.*. */
const deny = (project = 'default') =>
  post(gw, '/api/tools/call', envelope({ tool: 'db.write_sensitive', arguments: {} }), {
    ...auth,
    'X-Project-ID': project,
  });

async function suppressedOf(project: string): Promise<number | undefined> {
  const r = await gw.db.query<{ suppressed: number }>(
    `SELECT suppressed FROM alerts WHERE type = 'denial_spike' AND project = $1`,
    [project],
  );
  return r.rows[0]?.suppressed;
}

describe('an anomaly, end to end', () => {
  it('turns 10 denials in a burst into one alert at the SIEM webhook and one CEF line over syslog, not ten', async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, () => deny()));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(403));
    const [alert] = await waitFor(
      async () =>
        webhook.of('denial_spike', 'default').length > 0
          ? webhook.of('denial_spike', 'default')
          : undefined,
      20_000,
      'the denial spike alert at the webhook',
    );
    expect(alert).toMatchObject({
      alert: 'denial spike',
      type: 'denial_spike',
      severity: 'high',
      project: 'default',
      count: 10,
      threshold: 10,
      window_s: 120,
    });

    // Five more denials inside the cooldown: folded into the same alert, nothing new sent.
    await Promise.all(Array.from({ length: 5 }, () => deny()));
    await waitFor(
      async () => ((await suppressedOf('default')) === 5 ? true : undefined),
      20_000,
      'the repeats counted on the alert',
    );
    await waitFor(
      async () => (syslogLines.some((l) => l.includes('|denial_spike|')) ? true : undefined),
      10_000,
      'the CEF line',
    );
    // Give the outbox a few more rounds to (wrongly) send anything else.
    await new Promise((r) => setTimeout(r, 1000));
    expect(webhook.of('denial_spike', 'default')).toHaveLength(1);
    expect(
      syslogLines.filter((l) => l.includes('|denial_spike|') && l.includes('cs1=default')),
    ).toHaveLength(1);
    expect(syslogLines.find((l) => l.includes('|denial_spike|'))).toMatch(
      /^<\d+>1 \S+ \S+ securegateway .*CEF:0\|SecureGateway\|SecureGateway\|/,
    );

    // The alert is listed for analysts, with its delivery to both sinks, and is in the trail.
    const listed = await get(gw, '/api/alerts?type=denial_spike&project=default', admin);
    expect(listed.status).toBe(200);
    expect(listed.body.alerts).toHaveLength(1);
    expect(listed.body.alerts[0]).toMatchObject({ alert_id: alert!.alert_id, suppressed: 5 });
    expect(
      listed.body.alerts[0].delivery
        .map((d: { sink: string; delivered_at: string | null }) => [
          d.sink,
          d.delivered_at !== null,
        ])
        .sort(),
    ).toEqual([
      ['syslog', true],
      ['webhook', true],
    ]);
    const stored = await waitFor(
      async () =>
        (
          await gw.db.query(
            `SELECT data FROM audit_events WHERE subject = 'gw.evt.alert.raised.v1' AND data->>'alert_id' = $1`,
            [alert!.alert_id],
          )
        ).rows[0],
      10_000,
      'the alert event in the trail',
    );
    expect(stored.data.type).toBe('denial_spike');
  });

  it('delivers every alert raised while the SIEM was down once it is back, once', async () => {
    await webhook.stop();
    const answers = await Promise.all(Array.from({ length: 5 }, () => deny('outage')));
    expect(answers.map((a) => a.status)).toEqual(Array(5).fill(403));
    // The alert exists and its webhook delivery keeps failing.
    await waitFor(
      async () => {
        const r = await gw.db.query<{ attempts: number }>(
          `SELECT o.attempts FROM siem_outbox o JOIN alerts a USING (alert_id) WHERE a.project = 'outage' AND a.type = 'denial_spike' AND o.sink = 'webhook'`,
        );
        return (r.rows[0]?.attempts ?? 0) >= 3 ? true : undefined;
      },
      20_000,
      'three failed deliveries',
    );
    expect(webhook.of('denial_spike', 'outage')).toHaveLength(0);
    await webhook.start();
    const got = await waitFor(
      async () =>
        webhook.of('denial_spike', 'outage').length > 0
          ? webhook.of('denial_spike', 'outage')
          : undefined,
      20_000,
      'the alert after the outage',
    );
    await new Promise((r) => setTimeout(r, 1000));
    expect(webhook.of('denial_spike', 'outage')).toHaveLength(1);
    expect(got[0]).toMatchObject({ project: 'outage', count: 5, threshold: 5 });
  });
});

describe('a row of the audit trail changed in PostgreSQL', () => {
  it('raises one critical chain_broken alert at the SIEM, and verification names the row', async () => {
    const ok = await post(gw, '/api/tools/call', envelope(), { ...auth, 'X-Project-ID': 'tamper' });
    expect(ok.status).toBe(200);
    // The call's events and its first-seen alerts are stored: the project's chain stops moving.
    const headOf = async () =>
      Number(
        (await gw.db.query(`SELECT chain_seq FROM audit_chain_heads WHERE project = 'tamper'`))
          .rows[0]?.chain_seq ?? 0,
      );
    let last = -1;
    const head = await waitFor(
      async () => {
        const now = await headOf();
        const settled = now >= 3 && now === last;
        last = now;
        return settled ? now : (await new Promise((r) => setTimeout(r, 1000)), undefined);
      },
      30_000,
      'the tamper project chain to settle',
    );

    // Someone with SQL access changes the newest row.
    await gw.db.query(
      `UPDATE audit_events SET trace_id = 'rewritten', hash = md5(hash) || md5(hash) WHERE project = 'tamper' AND chain_seq = $1`,
      [head],
    );

    const [alert] = await waitFor(
      async () =>
        webhook.of('chain_broken', 'tamper').length > 0
          ? webhook.of('chain_broken', 'tamper')
          : undefined,
      20_000,
      'the chain_broken alert at the webhook',
    );
    expect(alert).toMatchObject({
      alert: 'audit chain broken',
      type: 'chain_broken',
      severity: 'critical',
      project: 'tamper',
      key: String(head),
    });
    expect(alert!.summary).toContain(
      `audit row ${head} of project tamper was changed in PostgreSQL after it was stored`,
    );
    await waitFor(
      async () =>
        syslogLines.some((l) => l.includes('|chain_broken|') && l.includes('cs1=tamper'))
          ? true
          : undefined,
      10_000,
      'the CEF line',
    );
    await new Promise((r) => setTimeout(r, 1000));
    expect(webhook.of('chain_broken', 'tamper')).toHaveLength(1);

    const verify = await get(gw, '/api/audit/verify?project=tamper', admin);
    expect(verify.body).toMatchObject({ ok: false, first_mismatch: { chain_seq: head } });
    const listed = await get(gw, '/api/alerts?type=chain_broken', admin);
    expect(
      listed.body.alerts.map((a: { project: string; key: string }) => [a.project, a.key]),
    ).toEqual([['tamper', String(head)]]);
  });
});
