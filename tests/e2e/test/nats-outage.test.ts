import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '@sg/testing';
import { AGENT_KEY, envelope, post, startGateway, type Gateway } from './harness.js';

// A private NATS server, so stopping it disturbs no one else.
const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
let natsPort: number;
let storeDir: string;
let nats: ChildProcess;
let gw: Gateway;

function startNats(): ChildProcess {
  return spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', storeDir], {
    stdio: 'ignore',
  });
}

beforeAll(async () => {
  natsPort = await freePort();
  storeDir = mkdtempSync(join(tmpdir(), 'sg-nats-'));
  nats = startNats();
  gw = await startGateway({
    env: { NATS_URL: `nats://127.0.0.1:${natsPort}`, REQUEST_TIMEOUT_MS: '1500' },
  });
});

afterAll(async () => {
  await gw?.stop();
  nats?.kill('SIGKILL');
  rmSync(storeDir, { recursive: true, force: true });
});

it('answers 503 within the request timeout while NATS is down, and recovers when it is back', async () => {
  expect((await post(gw, '/api/tools/call', envelope(), { 'X-API-Key': AGENT_KEY })).status).toBe(
    200,
  );

  await new Promise((resolve) => {
    nats.once('exit', resolve);
    nats.kill('SIGKILL');
  });
  const started = Date.now();
  const down = await post(gw, '/api/tools/call', envelope(), { 'X-API-Key': AGENT_KEY });
  const elapsed = Date.now() - started;
  expect(down.status).toBe(503);
  expect(['GATEWAY.SERVICE_TIMEOUT', 'GATEWAY.SERVICE_UNAVAILABLE']).toContain(
    down.body.error.code,
  );
  expect(down.body.allowed).not.toBe(true);
  expect(elapsed).toBeLessThan(1500 + 2000);

  nats = startNats();
  const back = await waitFor(
    async () => {
      const res = await post(gw, '/api/tools/call', envelope(), { 'X-API-Key': AGENT_KEY });
      return res.status === 200 ? res : undefined;
    },
    30_000,
    'the gateway to serve again after NATS restarts',
  );
  expect(back.body.success).toBe(true);
  // Every service process survived the outage.
  expect(gw.stack.exits).toEqual([]);
});
