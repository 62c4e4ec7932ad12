import { Module } from '@nestjs/common';
import { AlertAckModule } from './alert-ack/alert-ack.module.js';
import { AnomalyModule } from './anomaly/anomaly.module.js';
import { ChainController } from './chain/chain.controller.js';
import { ChainService } from './chain/chain.service.js';
import { RetentionService } from './chain/retention.service.js';
import { IngestService } from './ingest/ingest.service.js';
import { QueryModule } from './query/query.module.js';
import { SiemModule } from './siem/siem.module.js';
import { StoreModule } from './store/store.module.js';
import { TraceController } from './trace/trace.controller.js';

@Module({
  imports: [StoreModule, SiemModule, AnomalyModule, QueryModule, AlertAckModule],
  controllers: [TraceController, ChainController],
  providers: [IngestService, ChainService, RetentionService],
})
export class AuditModule {}
