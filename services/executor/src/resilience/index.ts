export * from './circuit-breaker.js';
export * from './concurrency-limiter.js';
export * from './upstream-resilience.js';
