import { Module } from '@nestjs/common';
import { AlertsService } from './alerts.service.js';
import { QueryHandler } from './query.handler.js';
import { RecordsService } from './records.service.js';

/** Audit records, the JSONL export's pages, session traces and alerts, answered over NATS. */
@Module({ providers: [RecordsService, AlertsService, QueryHandler] })
export class QueryModule {}
