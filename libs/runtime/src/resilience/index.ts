export * from './circuit-breaker.js';
export * from './concurrency-limiter.js';
export * from './resilience.js';
