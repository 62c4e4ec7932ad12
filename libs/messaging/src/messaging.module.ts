import {
  type DynamicModule,
  Global,
  Inject,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { healthSubject, type ServiceName } from '@sg/contracts';
import { ENV, HealthService, LOGGER, type Logger, Metrics } from '@sg/runtime';
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

type SetLag = (labels: { consumer: string }, value: number) => void;

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
    private readonly metrics: Metrics,
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
    this.recordConsumerLag();
  }

  /** The lag of this process's durable JetStream consumers, read when Prometheus scrapes. */
  private recordConsumerLag() {
    const bus = this.bus;
    const read = async (field: 'num_pending' | 'num_ack_pending', set: SetLag) => {
      // While NATS is down a scrape answers at once, without the lag (sg_dependency_up says why).
      if (bus.durables.size === 0 || !bus.reachable) return;
      const jsm = await bus.jsm();
      for (const consumer of bus.durables) {
        const info = await jsm.consumers.info(bus.streamName, consumer).catch(() => null);
        if (info) set({ consumer }, info[field]);
      }
    };
    this.metrics.gauge({
      name: 'sg_jetstream_consumer_pending_messages',
      help: 'Events in the stream that a durable consumer has not been given yet',
      labelNames: ['consumer'],
      collect() {
        return read('num_pending', (l, v) => this.set(l, v));
      },
    });
    this.metrics.gauge({
      name: 'sg_jetstream_consumer_ack_pending_messages',
      help: 'Events given to a durable consumer and not acknowledged yet',
      labelNames: ['consumer'],
      collect() {
        return read('num_ack_pending', (l, v) => this.set(l, v));
      },
    });
  }

  async onApplicationShutdown() {
    await this.bus.close();
  }
}
