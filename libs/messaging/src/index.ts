export * from './bus.js';
export * from './messaging.module.js';
export * from './config-sync.js';
