import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TEST_SERVERS, waitFor } from '@sg/testing';
import {
  ADMIN_KEY,
  AGENT_KEY,
  envelope,
  get,
  startExtraService,
  startGateway,
  type ExtraService,
  type Gateway,
} from './harness.js';
import { ROOT } from '../../../scripts/stack.mjs';

const run = promisify(execFile);
/** Alerts (first-seen agent and tool) are stored in the project's trail too; they are not the calls' events. */
const ALERT = 'gw.evt.alert.raised.v1';
const chainLength = async () =>
  Number(
    (await gw.db.query(`SELECT count(*) AS n FROM audit_events WHERE project = 'bulk'`)).rows[0].n,
  );
const CALLS = 5000;
const CONCURRENCY = 16;
const keyDir = mkdtempSync(join(tmpdir(), 'sg-audit-e2e-'));
const signingKey = join(keyDir, 'audit-signing.pem');
writeFileSync(
  signingKey,
  generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
);

let gw: Gateway;
let restarted: ExtraService | undefined;
const admin = { 'X-Admin-Key': ADMIN_KEY };
/** A short verification budget, so that the chain of 20,000 rows is verified over the API in pieces. */
const AUDIT_ENV = {
  AUDIT_SIGNING_KEY_FILE: signingKey,
  AUDIT_CHECKPOINT_MS: '300',
  AUDIT_VERIFY_BUDGET_MS: '100',
};

beforeAll(async () => {
  gw = await startGateway({
    env: AUDIT_ENV,
    configure: (c) =>
      c.write(
        'policies/bulk.yaml',
        'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"]\nrate_limits:\n  agent: { limit: 1000000, window_s: 60 }\n',
      ),
  });
});

afterAll(async () => {
  await restarted?.stop();
  await gw?.stop();
  rmSync(keyDir, { recursive: true, force: true });
});

type Report = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** GET /api/audit/verify, following next_cursor until an answer is complete: every answer, in order. */
async function verifyPieces(project: string): Promise<Report[]> {
  const pieces: Report[] = [];
  let cursor: string | null = null;
  do {
    const res = await get(
      gw,
      `/api/audit/verify?project=${project}${cursor ? `&cursor=${cursor}` : ''}`,
      admin,
    );
    expect(res.status).toBe(200);
    pieces.push(res.body);
    cursor = res.body.next_cursor;
    expect(res.body.complete).toBe(cursor === null);
  } while (cursor !== null && pieces.length < 1000);
  return pieces;
}

/** npm run audit:verify, against the gateway's schema. */
async function cli(
  ...args: string[]
): Promise<{ code: number; reports: Report[]; stderr: string }> {
  const env = {
    ...process.env,
    DATABASE_URL: TEST_SERVERS.databaseUrl,
    DATABASE_SCHEMA: gw.iso.schema,
    AUDIT_SIGNING_KEY_FILE: signingKey,
  };
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [join(ROOT, 'services/audit/dist/cli/verify.js'), ...args],
      { env },
    );
    return {
      code: 0,
      reports: stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
      stderr,
    };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return {
      code: e.code,
      reports: e.stdout.trim()
        ? e.stdout
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l))
        : [],
      stderr: e.stderr,
    };
  }
}

describe('the audit service killed with SIGKILL in the middle of the calls', () => {
  const auditIds: string[] = [];
  const traceIds: string[] = [];

  it(`stores every event of ${CALLS} calls exactly once after a restart`, async () => {
    let sent = 0;
    let killedAt = -1;
    let storedAtKill = -1;
    let storedAtRestart = -1;
    const worker = async () => {
      while (sent < CALLS) {
        const i = sent++;
        if (i === Math.floor(CALLS / 3)) {
          storedAtKill = Number(
            (await gw.db.query(`SELECT count(*) AS n FROM audit_events WHERE project = 'bulk'`))
              .rows[0].n,
          );
          gw.stack.children.get('audit')!.kill('SIGKILL');
          killedAt = i;
        }
        if (i === Math.floor((2 * CALLS) / 3)) {
          storedAtRestart = Number(
            (await gw.db.query(`SELECT count(*) AS n FROM audit_events WHERE project = 'bulk'`))
              .rows[0].n,
          );
          restarted = await startExtraService(gw, 'audit', AUDIT_ENV);
        }
        const res = await fetch(`${gw.url}/api/tools/call`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'X-API-Key': AGENT_KEY,
            'X-Project-ID': 'bulk',
          },
          body: JSON.stringify(envelope({ request_id: `bulk-${i}` })),
        });
        const body = (await res.json()) as { audit_id: string; trace_id: string };
        expect(res.status).toBe(200);
        auditIds.push(body.audit_id);
        traceIds.push(body.trace_id);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    expect(killedAt).toBeGreaterThan(0);
    // While the audit service was dead, the calls went on (and were answered), but their events
    // waited in JetStream: far fewer rows arrived than the ~1,700 events (one per call) of those calls.
    expect(storedAtRestart - storedAtKill).toBeLessThan(CALLS / 3 / 2);
    expect(new Set(auditIds).size).toBe(CALLS);

    // One record per call (the call, its decision and its run, ADR 0011), none twice, none missing.
    const rows = await waitFor(
      async () => {
        const r = await gw.db.query<{ n: string }>(
          `SELECT count(*) AS n FROM audit_events WHERE project = 'bulk' AND subject <> '${ALERT}'`,
        );
        return Number(r.rows[0]!.n) >= CALLS ? Number(r.rows[0]!.n) : undefined;
      },
      90_000,
      `${CALLS} audit rows`,
    );
    expect(rows).toBe(CALLS);
    const perTrace = await gw.db.query<{ trace_id: string; n: string; subjects: string }>(
      `SELECT trace_id, count(*) AS n, count(DISTINCT subject) AS subjects FROM audit_events
        WHERE project = 'bulk' AND subject <> '${ALERT}' GROUP BY trace_id HAVING count(*) <> 1 OR count(DISTINCT subject) <> 1`,
    );
    expect(perTrace.rows).toEqual([]);
    const completed = await gw.db.query<{ event_id: string }>(
      `SELECT event_id FROM audit_events WHERE project = 'bulk' AND subject = 'gw.evt.toolcall.completed.v1'`,
    );
    expect(new Set(completed.rows.map((r) => r.event_id))).toEqual(new Set(auditIds));
  }, 240_000);

  it('keeps one unbroken hash chain across the crash (API and CLI agree)', async () => {
    const length = await chainLength();
    expect(length).toBeGreaterThanOrEqual(CALLS);
    // Over the API in pieces of at most AUDIT_VERIFY_BUDGET_MS, each starting where the last stopped.
    const pieces = await verifyPieces('bulk');
    expect(pieces.length).toBeGreaterThan(1);
    pieces.forEach((p, i) => {
      expect(p).toMatchObject({
        project: 'bulk',
        first_mismatch: null,
        ok: i === pieces.length - 1,
      });
      expect(p.from_seq).toBe(i === 0 ? 1 : pieces[i - 1]!.last_seq + 1);
    });
    expect(pieces.reduce((n, p) => n + p.rows_checked, 0)).toBe(length);
    expect(pieces.at(-1)).toMatchObject({
      ok: true,
      complete: true,
      last_seq: length,
      head_seq: length,
    });
    // A cursor continues only the verification of the project it came from.
    for (const url of [
      `/api/audit/verify?project=default&cursor=${pieces[0]!.next_cursor}`,
      '/api/audit/verify?project=bulk&cursor=not-a-cursor',
    ]) {
      const refused = await get(gw, url, admin);
      expect(refused.status).toBe(400);
      expect(refused.body.error.code).toBe('AUDIT.INVALID_CURSOR');
      expect(refused.body.error.message).toMatch(/next_cursor of the previous answer/);
    }
    const checked = await cli('--project', 'bulk');
    expect(checked.code).toBe(0);
    expect(checked.reports[0]).toMatchObject({ project: 'bulk', ok: true, rows_checked: length });
  });
});

describe('tampering with the stored trail', () => {
  it('is named by GET /api/audit/verify and by npm run audit:verify, down to the row', async () => {
    // A signed checkpoint covers the chain as it is now.
    const length = await chainLength();
    const exported = await waitFor(
      async () => {
        const r = await get(gw, '/api/audit/checkpoints?project=bulk', admin);
        const last = (r.body.checkpoints as { chain_seq: number }[]).at(-1);
        return last && last.chain_seq === length ? r.body : undefined;
      },
      20_000,
      'a checkpoint of the whole bulk chain',
    );
    expect(exported.public_key).toMatch(/BEGIN PUBLIC KEY/);
    const exportFile = join(keyDir, 'checkpoints.json');
    writeFileSync(exportFile, JSON.stringify(exported));

    const victim = (
      await gw.db.query<{ event_id: string; chain_seq: string }>(
        `SELECT event_id, chain_seq FROM audit_events WHERE project = 'bulk' AND chain_seq = 1234`,
      )
    ).rows[0]!;
    await gw.db.query(
      `UPDATE audit_events SET data = jsonb_set(data::jsonb, '{outcome}', '"denied"')::json WHERE event_id = $1`,
      [victim.event_id],
    );

    const found = (await verifyPieces('bulk')).at(-1)!;
    expect(found.ok).toBe(false);
    expect(found.first_mismatch).toMatchObject({ chain_seq: 1234, event_id: victim.event_id });

    const checked = await cli('--project', 'bulk', '--checkpoints', exportFile);
    expect(checked.code).toBe(1);
    expect(checked.reports[0]!.first_mismatch).toMatchObject({
      chain_seq: 1234,
      event_id: victim.event_id,
    });
    const all = await cli('--all');
    expect(all.code).toBe(1);
    expect(all.reports.find((r) => r.project === 'bulk')?.ok).toBe(false);
  });

  it('answers bad verify requests with 4xx and a code', async () => {
    expect((await get(gw, '/api/audit/verify?project=bulk')).status).toBe(401);
    const bad = await get(gw, '/api/audit/verify?project=../etc', admin);
    expect(bad.status).toBe(400);
    expect((await cli('--project')).code).toBe(2);
  });
});
