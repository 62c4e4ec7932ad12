export { callContext, META, type CallContext } from './context.js';
export * from './errors.js';
export * from './gateway.js';
export * from './governed.js';
