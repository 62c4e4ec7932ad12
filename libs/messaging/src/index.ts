export * from './bus.js';
export * from './messaging.module.js';
export * from './config-sync.js';
export * from './nest/index.js';
