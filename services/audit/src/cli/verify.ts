#!/usr/bin/env node
/**
 * Checks the audit hash chain and signed checkpoints straight in PostgreSQL, without the gateway:
 *
 *   npm run audit:verify -- --project default [--checkpoints export.json] [--public-key key.pem]
 *   npm run audit:verify -- --all
 *
 * Prints one JSON report per project. Exit status: 0 all match, 1 a row does not match, 2 the
 * check could not run (bad arguments, unreadable file, PostgreSQL unavailable).
 */
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkpointsExportSchema, type Checkpoint, type CheckpointsExport } from '@sg/contracts';
import { createPgPool } from '@sg/runtime';
import { loadPublicKey } from '../chain/checkpoint-signer.js';
import { verifyChain } from '../chain/verify.js';
import { loadVerifyCliEnv } from '../config/env.js';

const USAGE =
  'usage: audit-verify (--project <id> | --all) [--checkpoints <export.json>] [--public-key <ed25519.pem>]';

function fail(message: string): never {
  process.stderr.write(`audit-verify: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function readFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    return fail(
      `cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

let args;
try {
  args = parseArgs({
    options: {
      project: { type: 'string' },
      all: { type: 'boolean' },
      checkpoints: { type: 'string' },
      'public-key': { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  }).values;
} catch (err) {
  fail((err as Error).message);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (!args.project === !args.all) fail('give either --project <id> or --all');

let env;
try {
  env = loadVerifyCliEnv();
} catch (err) {
  fail((err as Error).message);
}

let exported: CheckpointsExport | undefined;
if (args.checkpoints) {
  let json: unknown;
  try {
    json = JSON.parse(readFile(args.checkpoints, 'checkpoints export'));
  } catch (err) {
    fail(
      `${args.checkpoints} is not JSON (${(err as Error).message}); save the answer of GET /api/audit/checkpoints`,
    );
  }
  const parsed = checkpointsExportSchema.safeParse(json);
  if (!parsed.success)
    fail(
      `${args.checkpoints} is not a checkpoints export (GET /api/audit/checkpoints): ${parsed.error.issues[0]?.message}`,
    );
  exported = parsed.data;
}

let publicKey: KeyObject | undefined;
const keyFile = args['public-key'] ?? env.AUDIT_PUBLIC_KEY_FILE ?? env.AUDIT_SIGNING_KEY_FILE;
try {
  if (keyFile) publicKey = loadPublicKey(readFile(keyFile, 'key'));
  else if (exported?.public_key) publicKey = loadPublicKey(exported.public_key);
} catch (err) {
  fail(`the key is not an Ed25519 key: ${(err as Error).message}`);
}
if (!publicKey)
  process.stderr.write(
    'audit-verify: no public key given: checkpoints are not checked (use --public-key)\n',
  );

const pool = createPgPool(env.DATABASE_URL, env.DATABASE_SCHEMA, 2);
let status = 0;
try {
  const extra: Checkpoint[] = exported?.checkpoints ?? [];
  // Every project anything knows of: a project whose rows and head were all deleted still has
  // checkpoints (in PostgreSQL or in the export), and is reported.
  const projects = args.all
    ? [
        ...new Set([
          ...(
            await pool.query<{ project: string }>(
              'SELECT project FROM audit_chain_heads UNION SELECT DISTINCT project FROM audit_events UNION SELECT DISTINCT project FROM audit_checkpoints',
            )
          ).rows.map((r) => r.project),
          ...extra.map((c) => c.project),
        ]),
      ].sort()
    : [args.project!];
  for (const project of projects) {
    const report = await verifyChain(pool, project, {
      ...(publicKey ? { publicKey } : {}),
      extraCheckpoints: extra,
    });
    process.stdout.write(`${JSON.stringify(report)}\n`);
    if (!report.ok) status = 1;
  }
} catch (err) {
  process.stderr.write(`audit-verify: cannot read the audit store: ${(err as Error).message}\n`);
  status = 2;
} finally {
  await pool.end().catch(() => undefined);
}
process.exit(status);
