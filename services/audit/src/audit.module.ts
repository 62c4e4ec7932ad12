import { Module } from '@nestjs/common';
import { IngestService } from './ingest/ingest.service.js';
import { EventStore } from './store/event-store.js';
import { pgProvider } from './store/pg.provider.js';
import { TraceHandler } from './trace/trace.handler.js';

@Module({ providers: [pgProvider, EventStore, IngestService, TraceHandler], exports: [EventStore] })
export class AuditModule {}
