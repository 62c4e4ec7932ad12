import { Module } from '@nestjs/common';
import { AlertAckController } from './alert-ack.controller.js';
import { AlertAckService } from './alert-ack.service.js';

/**
 * Acknowledging alerts: gw.audit.ack_alert.v1 into the alerts table and
 * gw.evt.alert.acknowledged.v1. Uses PG (StoreModule) and NatsBus.
 */
@Module({ controllers: [AlertAckController], providers: [AlertAckService] })
export class AlertAckModule {}
