export * from './bus.js';
export * from './messaging.module.js';
