export * from './secret-scope.js';
