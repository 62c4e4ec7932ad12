import {
  type DynamicModule,
  Global,
  Inject,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { healthSubject, type ServiceName } from '@sg/contracts';
import { ENV, HealthService, LOGGER, type Logger } from '@sg/runtime';
import { NatsBus } from './bus.js';
import { BusClient } from './nest/bus.client.js';
import { CONFIG_SYNC_OPTIONS, ConfigSync, type ConfigSyncOptions } from './config-sync.js';

export interface MessagingEnv {
  NATS_URL: string;
  SUBJECT_PREFIX: string;
  REQUEST_TIMEOUT_MS: number;
  EVENTS_REPLICAS: number;
}

const BUS_OPTIONS = Symbol('BUS_OPTIONS');

interface ModuleOptions {
  service: ServiceName;
  /** Services that publish events make sure the stream exists at start. */
  publishesEvents: boolean;
  /** Services that read the config directory get a hot-reloading ConfigSync. */
  config?: ConfigSyncOptions;
}

/**
 * Connects the service to NATS, answers its health subject and, on shutdown, lets in-flight
 * work finish before draining.
 */
@Global()
@Module({})
export class MessagingModule implements OnModuleInit, OnApplicationShutdown {
  constructor(
    private readonly bus: NatsBus,
    private readonly health: HealthService,
    @Inject(BUS_OPTIONS) private readonly options: ModuleOptions,
  ) {}

  static forRoot(options: ModuleOptions): DynamicModule {
    return {
      module: MessagingModule,
      providers: [
        { provide: BUS_OPTIONS, useValue: options },
        {
          provide: NatsBus,
          inject: [ENV, LOGGER],
          useFactory: async (env: MessagingEnv, logger: Logger) => {
            const bus = await NatsBus.connect({
              url: env.NATS_URL,
              prefix: env.SUBJECT_PREFIX,
              service: options.service,
              logger,
              requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
              streamReplicas: env.EVENTS_REPLICAS,
            });
            if (options.publishesEvents) await bus.ensureStream();
            return bus;
          },
        },
        { provide: BusClient, inject: [NatsBus], useFactory: (bus: NatsBus) => new BusClient(bus) },
        ...(options.config
          ? [{ provide: CONFIG_SYNC_OPTIONS, useValue: options.config }, ConfigSync]
          : []),
      ],
      exports: [NatsBus, BusClient, ...(options.config ? [ConfigSync] : [])],
    };
  }

  onModuleInit() {
    this.health.register('nats', async () => {
      if (this.bus.nc.isClosed()) return { ok: false, detail: 'connection closed' };
      await this.bus.nc.flush();
      return {
        ok: true,
        ...(this.bus.eventsLost ? { detail: `${this.bus.eventsLost} events lost` } : {}),
      };
    });
    this.bus.handle(healthSubject(this.options.service), () => this.health.report());
  }

  async onApplicationShutdown() {
    await this.bus.close();
  }
}
