import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { Test, type TestingModule } from '@nestjs/testing';
import { loadGatewayFiles, type GatewayFiles } from '@sg/config';
import { POLICY_CHANGED } from '@sg/contracts';
import { createLogger, ENV, HealthService, LOGGER } from '@sg/runtime';
import { exampleConfigDir, isolate, TEST_SERVERS, waitFor, type ConfigDir } from '@sg/testing';
import { CONFIG_SYNC_OPTIONS, ConfigSync, NatsBus } from '../src/index.js';

const iso = isolate('cfg');
const logger = createLogger('policy', { level: 'silent', pretty: false });
let config: ConfigDir;
const instances: Array<{
  sync: ConfigSync;
  moduleRef: TestingModule;
  bus: NatsBus;
  seen: string[];
}> = [];

async function instance(pollMs: number, announce: boolean) {
  const bus = await NatsBus.connect({
    url: TEST_SERVERS.natsUrl,
    prefix: iso.subjectPrefix,
    service: 'policy',
    logger,
    requestTimeoutMs: 1000,
  });
  await bus.ensureStream();
  const moduleRef = await Test.createTestingModule({
    providers: [
      { provide: ENV, useValue: { CONFIG_DIR: config.dir, CONFIG_POLL_MS: pollMs } },
      { provide: LOGGER, useValue: logger },
      { provide: NatsBus, useValue: bus },
      { provide: CONFIG_SYNC_OPTIONS, useValue: { announce } },
      HealthService,
      ConfigSync,
    ],
  }).compile();
  await moduleRef.init();
  const sync = moduleRef.get(ConfigSync);
  const seen: string[] = [];
  sync.register((files: GatewayFiles) => () => seen.push(files.version));
  await bus.nc.flush();
  const it = { sync, moduleRef, bus, seen };
  instances.push(it);
  return it;
}

beforeAll(() => {
  config = exampleConfigDir('http://127.0.0.1:9');
});

afterAll(async () => {
  for (const i of instances) {
    await i.moduleRef.close();
    await i.bus.nc.drain();
  }
  config.remove();
  await iso.cleanup();
});

it('reloads an edited file on every instance, one by polling and one by the broadcast', async () => {
  const poller = await instance(100, true);
  const listener = await instance(0, false); // polling off: only the announcement can reach it
  const before = poller.sync.version;
  expect(listener.sync.version).toBe(before);

  config.write(
    'policies/default.yaml',
    'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*", "db.*"]\n',
  );
  const expected = loadGatewayFiles(config.dir).version;
  await waitFor(
    async () => (poller.sync.version === expected ? true : undefined),
    5000,
    'the polling instance',
  );
  await waitFor(
    async () => (listener.sync.version === expected ? true : undefined),
    5000,
    'the listening instance',
  );
  expect(poller.sync.files.policies.get('default')?.rules[0]?.allow_tools).toEqual([
    'calendar.*',
    'db.*',
  ]);
  expect(listener.seen.at(-1)).toBe(expected);

  // The announcement is an audited event, stored once per version.
  const jsm = await jetstreamManager(poller.bus.nc);
  const msg = await waitFor(
    async () =>
      (await jsm.streams
        .getMessage(poller.bus.streamName, { last_by_subj: poller.bus.subject(POLICY_CHANGED) })
        .catch(() => null)) ?? undefined,
    5000,
    'the event',
  );
  expect(msg.json()).toMatchObject({ data: { version: expected, previous_version: before } });
});

it('refuses an invalid file, keeps the last good config, and says where the problem is', async () => {
  const poller = instances[0]!;
  const good = poller.sync.version;
  const goodText = readFileSync(join(config.dir, 'policies/default.yaml'), 'utf8');
  const health = poller.moduleRef.get(HealthService);
  const refused = () =>
    waitFor(
      async () => {
        const r = await health.report();
        return r.dependencies.config?.detail ? r : undefined;
      },
      5000,
      'the refusal',
    );

  // A bad edit reverted to the active contents clears the refusal too.
  config.write('policies/default.yaml', 'rules: [');
  await refused();
  config.write('policies/default.yaml', goodText);
  await waitFor(
    async () =>
      (await health.report()).dependencies.config?.detail === undefined ? true : undefined,
    5000,
    'the refusal to clear',
  );
  expect(poller.sync.version).toBe(good);

  config.write(
    'policies/default.yaml',
    'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"\n',
  );
  const report = await refused();
  expect(report.dependencies.config?.detail).toMatch(/policies\/default\.yaml:\d+:\d+: /);
  expect(poller.sync.version).toBe(good);

  config.write(
    'policies/default.yaml',
    'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"]\n',
  );
  await waitFor(
    async () => (poller.sync.version !== good ? true : undefined),
    5000,
    'the fixed file',
  );
  expect((await health.report()).dependencies.config?.detail).toBeUndefined();
});

it('refuses a change a reloader cannot compile, for every reloader at once', async () => {
  const poller = instances[0]!;
  const good = poller.sync.version;
  const seenBefore = poller.seen.length;
  poller.sync.register((files) => {
    if (files.policies.get('default')?.rules.some((r) => r.model === 'reject-me'))
      throw new Error('cannot compile');
    return () => undefined;
  });
  config.write('policies/default.yaml', 'rules:\n  - model: reject-me\n    allow_tools: ["x"]\n');
  await new Promise((r) => setTimeout(r, 500));
  expect(poller.sync.version).toBe(good);
  expect(poller.seen.length).toBe(seenBefore);
});
