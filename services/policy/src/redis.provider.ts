import { redisClientProvider } from '@sg/runtime';

export const REDIS = Symbol('REDIS');

/** Rate limits and sessions; decisions fail closed while it is unreachable. */
export const redisProvider = redisClientProvider(REDIS);
