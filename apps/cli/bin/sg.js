#!/usr/bin/env node
// The `sg` command. npm links this file when it installs the workspace, before anything is
// built, so it is kept in git and runs the build (apps/cli/dist).
import process from 'node:process';

try {
  await import('../dist/main.js');
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('/dist/main.js')) {
    process.stderr.write('sg is not built yet: run `npm run build` (or `npx nx run cli:build`)\n');
    process.exit(2);
  }
  throw err;
}
