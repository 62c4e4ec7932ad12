import {
  applyDecorators,
  Controller,
  type INestApplication,
  UseFilters,
  UseInterceptors,
} from '@nestjs/common';
import { NatsBus } from '../bus.js';
import { BusErrorFilter } from './bus-error.filter.js';
import { BusMetricsInterceptor } from './bus-metrics.interceptor.js';
import { BusTracingInterceptor } from './bus-tracing.interceptor.js';
import { BusServer } from './bus.server.js';

/**
 * A controller whose `@MessagePattern` methods answer on the bus, with the bus's
 * cross-cutting work applied once here: the error mapping (BusErrorFilter), the tracing
 * (BusTracingInterceptor, outermost, so the metrics and the handler run inside its span) and the
 * metrics (BusMetricsInterceptor).
 */
export function BusController(): ClassDecorator {
  return applyDecorators(
    Controller(),
    UseFilters(BusErrorFilter),
    UseInterceptors(BusTracingInterceptor, BusMetricsInterceptor),
  );
}

/**
 * Connects the bus transport to a service's Nest app and starts answering: called by
 * runService after the app's modules are initialised, before it reports itself started.
 */
export async function startBusHandlers(app: INestApplication): Promise<void> {
  app.connectMicroservice({ strategy: new BusServer(app.get(NatsBus)) });
  await app.startAllMicroservices();
}
