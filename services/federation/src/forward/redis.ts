import { redisClientProvider } from '@sg/runtime';

/** The federation service's Redis: nonces of peers' signatures and their rate limits. */
export const FEDERATION_REDIS = Symbol('FEDERATION_REDIS');
export const federationRedisProvider = redisClientProvider(FEDERATION_REDIS);
