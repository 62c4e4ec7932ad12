// Acknowledging anomaly alerts through the real processes: an alert the detectors raised, acked
// by an approver with a note, shown acknowledged in GET /api/alerts and filterable, once only,
// refused to roles without alerts.ack, and recorded in the audit trail with who did it.
import { waitFor } from '@sg/testing';
import {
  adminsYaml,
  AGENT_KEY,
  envelope,
  get,
  post,
  startGateway,
  type Gateway,
} from './harness.js';

const KEYS = {
  alice: 'alice-approver-key-ack-00001',
  ana: 'ana-analyst-key-ack-0000002',
  pat: 'pat-policy-editor-key-ack-03',
  vic: 'vic-viewer-key-ack-00000004',
};
const as = (name: keyof typeof KEYS) => ({ 'X-Admin-Key': KEYS[name] });

/** Three denials in two minutes raise a denial spike in these projects. */
const SPIKE_POLICY =
  'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"]\nanomalies:\n  denial_spike: { count: 3, window_s: 120 }\n';

let gw: Gateway;

beforeAll(async () => {
  gw = await startGateway({
    configure: (c) => {
      c.write(
        'admins.yaml',
        adminsYaml({
          alice: { key: KEYS.alice, roles: ['approver'] },
          ana: { key: KEYS.ana, roles: ['analyst'] },
          pat: { key: KEYS.pat, roles: ['policy_editor'] },
          vic: { key: KEYS.vic, roles: ['viewer'] },
        }),
      );
      c.write('policies/ack.yaml', SPIKE_POLICY);
      c.write('policies/ack2.yaml', SPIKE_POLICY);
    },
  });
});

afterAll(async () => {
  await gw?.stop();
});

/** Denies three calls in `project` and waits for the denial spike they raise; its id. */
async function raiseSpike(project: string): Promise<string> {
  const denied = await Promise.all(
    Array.from({ length: 3 }, () =>
      post(gw, '/api/tools/call', envelope({ tool: 'db.write_sensitive', arguments: {} }), {
        'X-API-Key': AGENT_KEY,
        'X-Project-ID': project,
      }),
    ),
  );
  expect(denied.map((d) => d.status)).toEqual([403, 403, 403]);
  const [alert] = await waitFor(
    async () => {
      const page = await get(gw, `/api/alerts?project=${project}&type=denial_spike`, as('alice'));
      return page.body.alerts?.length ? page.body.alerts : undefined;
    },
    20_000,
    `the denial spike of project ${project}`,
  );
  return alert.alert_id as string;
}

const ack = (id: string, body: unknown, who: keyof typeof KEYS) =>
  post(gw, `/api/alerts/${id}/ack`, body, as(who));

/** The alerts of a project as GET /api/alerts lists them, with a filter. */
async function listed(project: string, query = '') {
  const res = await get(gw, `/api/alerts?project=${project}${query}`, as('ana'));
  expect(res.status).toBe(200);
  return res.body.alerts as Array<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** The trail's rows of one subject whose data matches, once at least one arrived. */
const trailRows = (subject: string, field: string, value: string) =>
  waitFor(
    async () => {
      const res = await gw.db.query<{ project: string; data: Record<string, unknown> }>(
        'SELECT project, data FROM audit_events WHERE subject = $1 AND data->>$2 = $3 ORDER BY stream_seq',
        [subject, field, value],
      );
      return res.rows.length ? res.rows : undefined;
    },
    10_000,
    `${subject} with ${field} ${value} in the trail`,
  );

describe('acknowledging an alert', () => {
  let id: string;

  beforeAll(async () => {
    id = await raiseSpike('ack');
  });

  it('lists a new alert as not acknowledged', async () => {
    const [alert] = await listed('ack', '&type=denial_spike');
    expect(alert).toMatchObject({ alert_id: id, acknowledged: null });
    expect((await listed('ack', '&acknowledged=false')).map((a) => a.alert_id)).toContain(id);
    expect((await listed('ack', '&acknowledged=true')).map((a) => a.alert_id)).not.toContain(id);
  });

  it('refuses a viewer and a policy editor with 403 AUTH.ADMIN_ROLE_REQUIRED, naming the roles that may', async () => {
    for (const who of ['vic', 'pat'] as const) {
      const res = await ack(id, { note: 'mine' }, who);
      expect([who, res.status, res.body.error.code]).toEqual([
        who,
        403,
        'AUTH.ADMIN_ROLE_REQUIRED',
      ]);
      expect(res.body.error.message).toContain(
        'needs alerts.ack, which the roles admin, approver, analyst have',
      );
    }
    const [alert] = await listed('ack', '&type=denial_spike');
    expect(alert!.acknowledged).toBeNull();
  });

  it('refuses a note over 500 characters with 400 REQUEST.INVALID_BODY, and acknowledges nothing', async () => {
    const res = await ack(id, { note: 'x'.repeat(501) }, 'alice');
    expect([res.status, res.body.error.code]).toEqual([400, 'REQUEST.INVALID_BODY']);
    expect(res.body.error.message).toMatch(/note: a note is at most 500 characters; shorten it/);
    const [alert] = await listed('ack', '&type=denial_spike');
    expect(alert!.acknowledged).toBeNull();
  });

  it('acknowledges it for an approver, with a note, and answers the alert as GET /api/alerts shows it', async () => {
    const before = Date.now();
    const res = await ack(id, { note: 'load test in staging; nothing to do' }, 'alice');
    expect(res.status).toBe(200);
    expect(res.body.acknowledged).toEqual({
      at: expect.any(String),
      by: 'alice',
      note: 'load test in staging; nothing to do',
    });
    expect(Date.parse(res.body.acknowledged.at)).toBeGreaterThanOrEqual(before - 2000);
    const [shown] = await listed('ack', '&type=denial_spike');
    expect(res.body).toEqual(shown);
    expect(shown).toMatchObject({ alert_id: id, type: 'denial_spike', project: 'ack' });
  });

  it('filters on acknowledged=true|false, and refuses any other value with 400 AUDIT.INVALID_QUERY', async () => {
    const acked = await listed('ack', '&acknowledged=true');
    expect(acked.map((a) => a.alert_id)).toContain(id);
    expect(acked.every((a) => a.acknowledged !== null)).toBe(true);
    const open = await listed('ack', '&acknowledged=false');
    expect(open.map((a) => a.alert_id)).not.toContain(id);
    expect(open.every((a) => a.acknowledged === null)).toBe(true);
    const bad = await get(gw, '/api/alerts?acknowledged=yes', as('ana'));
    expect([bad.status, bad.body.error.code]).toEqual([400, 'AUDIT.INVALID_QUERY']);
    expect(bad.body.error.message).toMatch(/acknowledged must be true .* or false/);
  });

  it('keeps the first acknowledgement: a second is 409 ALERT.ALREADY_ACKNOWLEDGED, naming who', async () => {
    const res = await ack(id, { note: 'also seen' }, 'ana');
    expect([res.status, res.body.error.code]).toEqual([409, 'ALERT.ALREADY_ACKNOWLEDGED']);
    expect(res.body.error.message).toContain('acknowledged by alice');
    const [alert] = await listed('ack', '&type=denial_spike');
    expect(alert!.acknowledged).toMatchObject({
      by: 'alice',
      note: 'load test in staging; nothing to do',
    });
  });

  it("records in the trail who acknowledged what: once, in the alert's project, and each attempt as an admin action", async () => {
    const acks = await trailRows('gw.evt.alert.acknowledged.v1', 'alert_id', id);
    expect(acks).toHaveLength(1);
    expect(acks[0]).toMatchObject({
      project: 'ack',
      data: {
        alert_id: id,
        type: 'denial_spike',
        principal: 'alice',
        note: 'load test in staging; nothing to do',
      },
    });
    const path = `/api/alerts/${id}/ack`;
    const actions = await waitFor(
      async () => {
        const rows = await trailRows('gw.evt.admin.action.v1', 'path', path);
        return rows.length >= 5 ? rows : undefined;
      },
      10_000,
      'the five admin actions on the alert',
    );
    expect(
      actions.map((r) => [r.data.principal, r.data.permission, r.data.http_status, r.data.code]),
    ).toEqual([
      ['vic', 'alerts.ack', 403, 'AUTH.ADMIN_ROLE_REQUIRED'],
      ['pat', 'alerts.ack', 403, 'AUTH.ADMIN_ROLE_REQUIRED'],
      ['alice', 'alerts.ack', 400, 'REQUEST.INVALID_BODY'],
      ['alice', 'alerts.ack', 200, null],
      ['ana', 'alerts.ack', 409, 'ALERT.ALREADY_ACKNOWLEDGED'],
    ]);
  });
});

it('acknowledges with no body at all, for an analyst', async () => {
  const id = await raiseSpike('ack2');
  const res = await fetch(`${gw.url}/api/alerts/${id}/ack`, { method: 'POST', headers: as('ana') });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { alert_id: string; acknowledged: unknown };
  expect(body).toMatchObject({ alert_id: id, acknowledged: { by: 'ana', note: null } });
});

it.each([
  ['not a UUID', 'not-an-alert'],
  ['an unknown UUID', '7d6f0c2e-1b1a-4c8e-9f3e-2a5b6c7d8e9f'],
])('answers 404 ALERT.NOT_FOUND for %s', async (_what, id) => {
  const res = await ack(id, {}, 'alice');
  expect([res.status, res.body.error.code]).toEqual([404, 'ALERT.NOT_FOUND']);
  expect(res.body.error.message).toContain('use an alert_id from GET /api/alerts');
});
