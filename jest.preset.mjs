// Shared Jest setup: @swc/jest compiles TypeScript (legacy decorators + metadata for Nest),
// Jest runs the result as native ESM (NODE_OPTIONS=--experimental-vm-modules).
import { resolve } from 'node:path';

const root = import.meta.dirname;

export function preset(projectRoot, overrides = {}) {
  return {
    rootDir: projectRoot,
    testEnvironment: 'node',
    extensionsToTreatAsEsm: ['.ts'],
    moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
    transform: {
      '^.+\\.ts$': [
        '@swc/jest',
        {
          jsc: {
            parser: { syntax: 'typescript', decorators: true },
            transform: { legacyDecorator: true, decoratorMetadata: true },
            target: 'es2022',
          },
          module: { type: 'es6' },
        },
      ],
    },
    moduleNameMapper: {
      '^@sg/([a-z-]+)$': resolve(root, 'libs/$1/src/index.ts'),
      '^(\\.{1,2}/.*)\\.js$': '$1',
    },
    testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.test.ts'],
    testTimeout: 30_000,
    ...overrides,
  };
}
