#!/usr/bin/env node
import { run } from './cli.js';
import { loadEnv } from './config/env.js';

// A reader that stops early (`sg approvals list | head -1`) is not an error of sg.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: () => loadEnv(),
});
