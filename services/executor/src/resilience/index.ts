export * from './upstream-resilience.js';
