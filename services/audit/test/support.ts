import type { INestApplicationContext, ModuleMetadata, Provider, Type } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import type { ServiceName } from '@sg/contracts';
import { BusServer, CONFIG_SYNC_OPTIONS, ConfigSync, NatsBus } from '@sg/messaging';
import {
  createLogger,
  ENV,
  HealthService,
  LOGGER,
  Metrics,
  redisClientProvider,
  type Logger,
  type Pool,
} from '@sg/runtime';
import { TEST_SERVERS, type Isolation } from '@sg/testing';
import type { Redis } from 'ioredis';
import { loadAuditEnv, type AuditEnv } from '../src/config/env.js';
import { PG, pgProvider } from '../src/store/pg.provider.js';
import { REDIS } from '../src/store/store.module.js';

/** The audit tests' logger: silent (tests assert on behaviour, not on log lines). */
export const logger = createLogger('audit', { level: 'silent', pretty: false });

/**
 * A NatsBus in the isolation's subject prefix, as `service` (the audit side, or a publisher
 * standing in for ingress). Close it with `bus.close()`.
 */
export function connectBus(
  iso: Isolation,
  service: ServiceName,
  requestTimeoutMs = 3000,
): Promise<NatsBus> {
  return NatsBus.connect({
    url: TEST_SERVERS.natsUrl,
    prefix: iso.subjectPrefix,
    service,
    logger,
    requestTimeoutMs,
  });
}

export interface AuditModuleOptions {
  /** The providers under test, beside the shared ones (ENV, LOGGER, HealthService, Metrics, PG, NatsBus). */
  providers?: Provider[];
  /** Bus controllers under test: Nest runs them on the bus transport, as in the service. */
  controllers?: Type[];
  /** Modules under test; the shared providers are global, so they see them. */
  imports?: ModuleMetadata['imports'];
  /** Variables on top of the isolation's (and CONFIG_DIR). */
  env?: Record<string, string>;
  /** Sets CONFIG_DIR and adds ConfigSync (announce off: nothing else listens). */
  configDir?: string;
  /** false: no NATS connection and no NatsBus, for parts that use none. */
  nats?: boolean;
  /** The request timeout of the module's bus (ms). */
  requestTimeoutMs?: number;
  /** Replaces the silent logger. */
  logger?: Logger;
  /** Replaces the real pool (which pgProvider migrates in the isolation's schema). */
  pool?: Pool;
  /** Adds the REDIS client (disconnected by close()). */
  redis?: boolean;
}

/** A bootstrapped audit testing module; close() shuts it down and releases what it opened. */
export interface AuditTestModule<B extends NatsBus | undefined = NatsBus> {
  bus: B;
  moduleRef: TestingModule;
  env: AuditEnv;
  pool: Pool;
  get<T>(token: Type<T> | symbol): T;
  close(): Promise<void>;
}

/** Holds the shared providers, global, so that imported modules resolve them as in the service. */
class AuditTestInfra {}

const tokenOf = (p: Provider) => (typeof p === 'function' ? p : p.provide);

/**
 * One audit instance for a test: the providers under test around the shared infrastructure, on
 * its own NATS connection unless `nats: false` (flushed, so its subscriptions are live), initialised.
 */
export function startAuditModule(
  iso: Isolation,
  opts: AuditModuleOptions & { nats: false },
): Promise<AuditTestModule<undefined>>;
export function startAuditModule(
  iso: Isolation,
  opts?: AuditModuleOptions & { nats?: true },
): Promise<AuditTestModule>;
export async function startAuditModule(
  iso: Isolation,
  opts: AuditModuleOptions = {},
): Promise<AuditTestModule<NatsBus | undefined>> {
  const env = loadAuditEnv({
    ...iso.env,
    ...(opts.configDir ? { CONFIG_DIR: opts.configDir } : {}),
    ...opts.env,
  });
  const bus =
    opts.nats === false ? undefined : await connectBus(iso, 'audit', opts.requestTimeoutMs);
  const shared: Provider[] = [
    { provide: ENV, useValue: env },
    { provide: LOGGER, useValue: opts.logger ?? logger },
    HealthService,
    Metrics,
    opts.pool ? { provide: PG, useValue: opts.pool } : pgProvider,
    ...(bus ? [{ provide: NatsBus, useValue: bus }] : []),
    ...(opts.configDir
      ? [{ provide: CONFIG_SYNC_OPTIONS, useValue: { announce: false } }, ConfigSync]
      : []),
    ...(opts.redis ? [redisClientProvider(REDIS)] : []),
  ];
  let moduleRef: TestingModule | undefined;
  let app: INestApplicationContext | undefined;
  try {
    moduleRef = await Test.createTestingModule({
      imports: [
        { module: AuditTestInfra, global: true, providers: shared, exports: shared.map(tokenOf) },
        ...(opts.imports ?? []),
      ],
      controllers: opts.controllers ?? [],
      providers: opts.providers ?? [],
    }).compile();
    if (bus) {
      const microservice = moduleRef.createNestMicroservice({ strategy: new BusServer(bus) });
      app = microservice;
      await microservice.listen();
    } else {
      app = moduleRef;
      await moduleRef.init();
    }
  } catch (err) {
    await (app ?? moduleRef)?.close();
    await bus?.close();
    throw err;
  }
  const running = app;
  await bus?.nc.flush();
  const ref = moduleRef;
  const pool = ref.get<Pool>(PG);
  return {
    bus,
    moduleRef: ref,
    env,
    pool,
    get: <T>(token: Type<T> | symbol) => ref.get<T>(token),
    async close() {
      await running.close();
      // Some providers end it on shutdown (EventStore); the others leave it to the owner.
      if (!pool.ending) await pool.end();
      if (opts.redis) ref.get<Redis>(REDIS).disconnect();
      await bus?.close();
    },
  };
}
