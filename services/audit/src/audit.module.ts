import { Module } from '@nestjs/common';
import { AnomalyModule } from './anomaly/anomaly.module.js';
import { ChainService } from './chain/chain.service.js';
import { IngestService } from './ingest/ingest.service.js';
import { QueryModule } from './query/query.module.js';
import { SiemModule } from './siem/siem.module.js';
import { StoreModule } from './store/store.module.js';
import { TraceHandler } from './trace/trace.handler.js';

@Module({
  imports: [StoreModule, SiemModule, AnomalyModule, QueryModule],
  providers: [IngestService, TraceHandler, ChainService],
})
export class AuditModule {}
