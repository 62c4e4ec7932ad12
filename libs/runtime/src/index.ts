export * from './logger.js';
export * from './trace.js';
export * from './health.js';
export * from './redis.js';
export * from './postgres.js';
export * from './tokens.js';
export * from './bootstrap.js';
export * from './postgres.provider.js';
