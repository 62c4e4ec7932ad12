import { Module } from '@nestjs/common';
import { PolicyStore } from '@sg/policy-engine';
import { AnalyticsController } from './analytics.controller.js';
import { AnalyticsConsumer } from './ingest/analytics.consumer.js';
import { Backfill } from './ingest/backfill.js';
import { Queries } from './query/queries.js';
import { SimulateService } from './simulate/simulate.service.js';
import { AggregateStore } from './store/aggregate-store.js';
import { pgProvider } from './store/pg.provider.js';
import { SuggestService } from './suggest/suggest.service.js';

@Module({
  controllers: [AnalyticsController],
  providers: [
    pgProvider,
    PolicyStore,
    AggregateStore,
    AnalyticsConsumer,
    Backfill,
    Queries,
    SuggestService,
    SimulateService,
  ],
})
export class AnalyticsModule {}
