export * from './bus.context.js';
export * from './bus.client.js';
export * from './bus.controller.js';
export * from './bus-error.filter.js';
export * from './bus.server.js';
export * from './patterns.js';
export * from './bus-metrics.interceptor.js';
export * from './bus-tracing.interceptor.js';
