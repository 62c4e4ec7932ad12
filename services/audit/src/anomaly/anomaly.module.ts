import { Module } from '@nestjs/common';
import { AlertStore } from './alert-store.js';
import { AnomalyConsumer } from './anomaly.consumer.js';
import { AnomalyService } from './anomaly.service.js';
import { RaiseAlertController } from './raise.controller.js';
import { WindowStore } from './window-store.js';

/**
 * Anomaly detection (seed 002): denial spikes, rate-limit storms, high-risk sessions, first
 * tools and agents, from gw.evt.toolcall.completed.v1 into the alerts table, the SIEM outbox
 * and gw.evt.alert.raised.v1. Uses PG and REDIS (StoreModule), NatsBus and ConfigSync.
 */
@Module({
  controllers: [RaiseAlertController],
  providers: [WindowStore, AlertStore, AnomalyService, AnomalyConsumer],
  exports: [AlertStore],
})
export class AnomalyModule {}
