import {
  type DynamicModule,
  Global,
  Inject,
  Injectable,
  Module,
  type INestApplication,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { frameworkErrorOptions, GatewayErrorFilter } from './http-errors.js';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { ServiceName } from '@sg/contracts';
import { HealthController, HealthService } from './health.js';
import { Metrics, recordDependencyHealth, recordHttpMetrics } from './metrics.js';
import { startTracing, type TracingEnv } from './tracing.js';
import { createLogger, NestPinoLogger, type Logger } from './logger.js';
import { ENV, LOGGER } from './tokens.js';

export interface ServiceEnv extends TracingEnv {
  LOG_LEVEL: string;
  LOG_PRETTY: boolean;
  HOST: string;
  /** Whole request (headers and body) deadline; see the shared env schema. */
  HTTP_REQUEST_TIMEOUT_MS?: number;
  HTTP_HEADERS_TIMEOUT_MS?: number;
}

/**
 * Node's request and headers deadlines against slow clients. Node only looks at them every
 * connectionsCheckingInterval (30 s by default), so that interval follows the deadline.
 */
function slowClientLimits(env: ServiceEnv) {
  const request = env.HTTP_REQUEST_TIMEOUT_MS ?? 10_000;
  const headers = Math.min(env.HTTP_HEADERS_TIMEOUT_MS ?? 5_000, request);
  return {
    requestTimeout: request,
    http: {
      headersTimeout: headers,
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headers / 4))),
    },
  };
}

export interface RunServiceOptions<E extends ServiceEnv> {
  service: ServiceName;
  env: E;
  imports: NonNullable<DynamicModule['imports']>;
  /** HTTP port: the public one for ingress/federation, the health probe port for the others. 0 = no HTTP. */
  port: number;
  /** Extra Fastify options (body limit...). */
  fastify?: ConstructorParameters<typeof FastifyAdapter>[0];
  configure?: (app: NestFastifyApplication) => void | Promise<void>;
  /** Connects and starts the app's Nest microservice transports (the bus's handlers). */
  microservices?: (app: INestApplication) => Promise<void>;
}

const TRACING = Symbol('TRACING');
type Tracing = ReturnType<typeof startTracing>;

/** Sends the spans still buffered when the service stops. */
@Injectable()
class TracingShutdown implements OnApplicationShutdown {
  constructor(@Inject(TRACING) private readonly tracing: Tracing) {}
  onApplicationShutdown() {
    return this.tracing.shutdown();
  }
}

@Global()
@Module({})
class RuntimeModule {
  static forRoot(
    service: ServiceName,
    env: unknown,
    logger: Logger,
    tracing: Tracing,
  ): DynamicModule {
    const health = new HealthService();
    health.service = service;
    const metrics = new Metrics();
    recordDependencyHealth(metrics, health);
    return {
      module: RuntimeModule,
      providers: [
        { provide: ENV, useValue: env },
        { provide: LOGGER, useValue: logger },
        { provide: HealthService, useValue: health },
        { provide: Metrics, useValue: metrics },
        { provide: TRACING, useValue: tracing },
        TracingShutdown,
      ],
      controllers: [HealthController],
      exports: [ENV, LOGGER, HealthService, Metrics],
    };
  }
}

/**
 * Starts one service as its own Nest app: OpenTelemetry (off unless configured), pino logs,
 * GET /healthz and GET /metrics, its microservice transports after its modules, graceful
 * shutdown on SIGINT/SIGTERM. A failure to start is one readable line and exit code 1.
 */
export async function runService<E extends ServiceEnv>(
  opts: RunServiceOptions<E>,
): Promise<INestApplication> {
  const tracing = startTracing(opts.service, opts.env);
  const logger = createLogger(opts.service, {
    level: opts.env.LOG_LEVEL,
    pretty: opts.env.LOG_PRETTY,
  });
  try {
    const app = await NestFactory.create<NestFastifyApplication>(
      {
        module: class ServiceRoot {},
        imports: [RuntimeModule.forRoot(opts.service, opts.env, logger, tracing), ...opts.imports],
      },
      new FastifyAdapter({
        logger: false,
        ...slowClientLimits(opts.env),
        ...frameworkErrorOptions(logger),
        ...opts.fastify,
      }),
      { logger: new NestPinoLogger(logger), abortOnError: false },
    );
    app.enableShutdownHooks(['SIGINT', 'SIGTERM']);
    recordHttpMetrics(app, app.get(Metrics));
    // Errors before a handler (body limits, an unknown path) in the gateway's code and shape.
    // Nest tries the last global filter first: a service's own, set in `configure`, comes first.
    app.useGlobalFilters(new GatewayErrorFilter(logger));
    await opts.configure?.(app);
    // Modules first (connections, config, handlers' checks), then the transports' handlers.
    await app.init();
    await opts.microservices?.(app);
    if (opts.port > 0) {
      await app.listen(opts.port, opts.env.HOST);
      logger.info(
        { port: opts.port, host: opts.env.HOST },
        `${opts.service} listening on http://${opts.env.HOST}:${opts.port}`,
      );
    } else {
      logger.info(`${opts.service} started`);
    }
    return app;
  } catch (err) {
    logger.fatal(`${opts.service} could not start: ${(err as Error).message}`);
    process.exit(1);
  }
}
