import { Module } from '@nestjs/common';
import { secretProviderProvider } from '@sg/runtime';
import { ForwardController } from './forward.controller.js';
import { Peers } from './peers.js';
import { federationRedisProvider } from './redis.js';

@Module({
  controllers: [ForwardController],
  providers: [Peers, federationRedisProvider, secretProviderProvider],
})
export class ForwardModule {}
