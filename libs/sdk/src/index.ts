export * from './errors.js';
export * from './gateway.js';
export * from './governed.js';
