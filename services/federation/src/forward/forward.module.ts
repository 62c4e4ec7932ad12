import { Module } from '@nestjs/common';
import { secretProviderProvider } from '@sg/runtime';
import { OutboundController } from '../outbound/outbound.controller.js';
import { PeerClient, PeerResilience } from '../outbound/peer-client.js';
import { PeerHealth } from '../outbound/peer-health.js';
import { CatalogueController } from './catalogue.controller.js';
import { ForwardController } from './forward.controller.js';
import { Inbound } from './inbound.js';
import { Peers } from './peers.js';
import { federationRedisProvider } from './redis.js';

/** Both sides of federation: peers calling in (HTTP) and the ingress sending calls out (NATS). */
@Module({
  controllers: [ForwardController, CatalogueController, OutboundController],
  providers: [
    Peers,
    Inbound,
    PeerClient,
    PeerResilience,
    PeerHealth,
    federationRedisProvider,
    secretProviderProvider,
  ],
})
export class ForwardModule {}
