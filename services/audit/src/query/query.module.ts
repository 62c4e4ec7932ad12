import { Module } from '@nestjs/common';
import { AlertsService } from './alerts.service.js';
import { QueryController } from './query.controller.js';
import { RecordsService } from './records.service.js';

/** Audit records, the JSONL export's pages, session traces and alerts, answered over NATS. */
@Module({ controllers: [QueryController], providers: [RecordsService, AlertsService] })
export class QueryModule {}
