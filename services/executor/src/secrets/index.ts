export * from './secret-provider.js';
export * from './secret-scope.js';
