import { Module } from '@nestjs/common';
import { SiemSender } from './outbox.js';

/** Delivers queued alerts (siem_outbox) to the SIEM; PG comes from the global StoreModule. */
@Module({ providers: [SiemSender], exports: [SiemSender] })
export class SiemModule {}
