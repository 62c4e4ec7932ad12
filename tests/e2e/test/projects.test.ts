// A project exists only as `default` or with a live config file of its own. A well-formed
// X-Project-ID naming any other project is refused before the key is checked, on every route
// that takes the header, and nothing is counted or recorded under the invented name.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { APPROVAL_CREATE_SUBJECT, DECIDE_SUBJECT, GatewayError } from '@sg/contracts';
import { NatsBus } from '@sg/messaging';
import { createLogger } from '@sg/runtime';
import { TEST_SERVERS, waitFor } from '@sg/testing';
import {
  ADMIN_KEY,
  AGENT_KEY,
  envelope,
  get,
  post,
  startGateway,
  type Answer,
  type Gateway,
} from './harness.js';

let gw: Gateway;
const auth = { 'X-API-Key': AGENT_KEY };
const admin = { 'X-Admin-Key': ADMIN_KEY };
const policy = (agentLimit: number) =>
  `rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"]\nrate_limits:\n  agent: { limit: ${agentLimit}, window_s: 60 }\n`;

beforeAll(async () => {
  gw = await startGateway({
    configure: (c) => {
      c.write('policies/acme.yaml', policy(2));
      // A preview file alone does not create a project.
      c.write('policies/preview-only.preview.yaml', policy(1000));
    },
  });
});

afterAll(async () => {
  await gw?.stop();
});

const call = (project: string, headers: Record<string, string> = auth) =>
  post(gw, '/api/tools/call', envelope(), { ...headers, 'X-Project-ID': project });

function expectUnknown(res: Answer, project: string) {
  expect(res.status).toBe(404);
  expect(res.body.error).toMatchObject({ code: 'REQUEST.UNKNOWN_PROJECT', details: { project } });
  expect(res.body.error.message).toContain(`policies/${project}.yaml`);
  expect(res.body.error.message).toContain('without X-Project-ID the project is "default"');
}

/** The project and data of the audit row whose event id is `eventId`, once stored. */
const storedEvent = (eventId: string) =>
  waitFor(
    async () =>
      (
        await gw.db.query<{ project: string; data: Record<string, unknown> }>(
          'SELECT project, data FROM audit_events WHERE event_id = $1',
          [eventId],
        )
      ).rows[0],
    15_000,
    `the audit row ${eventId}`,
  );

/** Everything the audit service stored under projects whose name starts with `prefix`. */
async function storedUnder(prefix: string): Promise<string[]> {
  const like = `${prefix}%`;
  const { rows } = await gw.db.query<{ what: string }>(
    `SELECT 'event:' || subject AS what FROM audit_events WHERE project LIKE $1
     UNION ALL SELECT 'chain_head' FROM audit_chain_heads WHERE project LIKE $1
     UNION ALL SELECT 'checkpoint' FROM audit_checkpoints WHERE project LIKE $1
     UNION ALL SELECT 'alert:' || type FROM alerts WHERE project LIKE $1
     UNION ALL SELECT 'seen:' || kind FROM audit_seen WHERE project LIKE $1`,
    [like],
  );
  return rows.map((r) => r.what);
}

describe('an X-Project-ID with no config', () => {
  it('is refused with 404 REQUEST.UNKNOWN_PROJECT on every route that takes it, before the key is checked', async () => {
    expectUnknown(await call('invented-a'), 'invented-a');
    expectUnknown(await call('invented-a', { 'X-API-Key': 'not-any-agents-key' }), 'invented-a');
    expectUnknown(await call('invented-a', {}), 'invented-a');
    expectUnknown(
      await post(
        gw,
        '/mcp/toolcall',
        { model_id: 'gpt-4o', session_id: 's', tool: 'calendar.list_events' },
        { ...auth, 'X-Project-ID': 'invented-b' },
      ),
      'invented-b',
    );
    expectUnknown(
      await get(gw, '/schema/calendar.list_events.json', { ...auth, 'X-Project-ID': 'invented-c' }),
      'invented-c',
    );
    expectUnknown(
      await get(gw, `/api/approvals/${randomUUID()}`, { ...auth, 'X-Project-ID': 'invented-d' }),
      'invented-d',
    );
    expectUnknown(
      await get(gw, '/api/session/some-session', { ...admin, 'X-Project-ID': 'invented-e' }),
      'invented-e',
    );
    expectUnknown(await call('preview-only'), 'preview-only');
    // A malformed name is still a 400, not a 404.
    expect((await call('../etc')).body.error.code).toBe('REQUEST.INVALID_PROJECT');
  });

  it('audits the refusal under the default project and records nothing under the invented name', async () => {
    const refused = await call('invented-f');
    expectUnknown(refused, 'invented-f');
    // A body the ingress cannot even parse is audited under default too.
    const badJson = await post(gw, '/api/tools/call', '{"agent_id": ', {
      ...auth,
      'X-Project-ID': 'invented-g',
    });
    expect(badJson.body.error.code).toBe('REQUEST.INVALID_JSON');
    expect(await storedEvent(refused.body.audit_id)).toMatchObject({
      project: 'default',
      data: { code: 'REQUEST.UNKNOWN_PROJECT', http_status: 404, outcome: 'rejected' },
    });
    expect(await storedEvent(badJson.body.audit_id)).toMatchObject({
      project: 'default',
      data: { code: 'REQUEST.INVALID_JSON' },
    });
    // The rows of the earlier test are stored by now too (one stream, in order).
    expect(await storedUnder('invented')).toEqual([]);
    expect(await storedUnder('preview-only')).toEqual([]);
  });

  it('cannot be used to get a fresh rate limit: rotating names past a limit is refused, not served', async () => {
    expect((await call('acme')).status).toBe(200);
    expect((await call('acme')).status).toBe(200);
    expect((await call('acme')).body.error.code).toBe('POLICY.RATE_LIMITED');
    for (const rotated of ['acme-2', 'acme2', 'acme-prod'])
      expectUnknown(await call(rotated), rotated);
    expect((await call('acme')).body.error.code).toBe('POLICY.RATE_LIMITED');
    // The default project is its own configured project, with its own budget.
    expect((await post(gw, '/api/tools/call', envelope(), auth)).status).toBe(200);
  });

  it('is refused by the policy service too, for a caller on the bus that skips the ingress', async () => {
    const logger = createLogger('e2e', { level: 'silent', pretty: false });
    const bus = await NatsBus.connect({
      url: TEST_SERVERS.natsUrl,
      prefix: gw.iso.subjectPrefix,
      service: 'ingress',
      logger,
      requestTimeoutMs: 5000,
    });
    try {
      const traceId = `e2e-bus-${randomUUID().slice(0, 8)}`;
      const request = {
        project: 'bus-invented',
        agent_id: 'gpt-4o',
        session_id: 's1',
        request_id: 'r1',
        channel: 'rest' as const,
        tool: 'calendar.list_events',
        arguments: {},
      };
      const decision = await bus.request(DECIDE_SUBJECT, request, {
        traceId,
        project: 'bus-invented',
      });
      expect(decision).toMatchObject({ allowed: false, code: 'REQUEST.UNKNOWN_PROJECT' });
      expect(decision.reason).toContain('policies/bus-invented.yaml');
      // Nor can it store an approval for a call in that project.
      const refused = await bus
        .request(
          APPROVAL_CREATE_SUBJECT,
          { call: request, policy_version: 'x' },
          { traceId, project: 'bus-invented' },
        )
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(GatewayError);
      expect((refused as GatewayError).code).toBe('REQUEST.UNKNOWN_PROJECT');
      expect(
        (await gw.db.query(`SELECT 1 FROM approvals WHERE project = 'bus-invented'`)).rows,
      ).toEqual([]);
      expect(await storedUnder('bus-invented')).toEqual([]);
    } finally {
      await bus.close();
    }
  });
});

describe('a project added while the gateway runs', () => {
  it('is served once policies/<project>.yaml exists, and refused again once it is gone', async () => {
    expectUnknown(await call('late'), 'late');
    gw.config.write('policies/late.yaml', policy(1000));
    // Ingress and policy service reload on their own; until both have, the call is still refused.
    const served = await waitFor(
      async () => {
        const res = await call('late');
        return res.status === 200 ? res : undefined;
      },
      10_000,
      'the new project to be served',
    );
    expect(
      served.body.decision.rule_trace.find((e: { check: string }) => e.check === 'allow_tools')
        .rule,
    ).toMatch(/^policies\/late\.yaml#/);
    expect(await storedEvent(served.body.audit_id)).toMatchObject({ project: 'late' });

    rmSync(join(gw.config.dir, 'policies/late.yaml'));
    const refused = await waitFor(
      async () => {
        const res = await call('late');
        return res.status === 404 ? res : undefined;
      },
      10_000,
      'the removed project to be refused',
    );
    expectUnknown(refused, 'late');
  });
});
