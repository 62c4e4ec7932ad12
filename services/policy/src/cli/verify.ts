#!/usr/bin/env node
/**
 * Checks a project's whole policy history straight in PostgreSQL, without the gateway:
 *
 *   npm run policy:verify -- --project default [--public-key key.pem]
 *
 * For every version, oldest first: its content has its sha256, its signature verifies (Ed25519,
 * over the fields of docs/policy-versions.md), and its parent is the version before it of the same
 * kind. The public key is --public-key (an SPKI PEM, or the base64 of its 32 bytes), or is derived
 * from the signing secret (POLICY_SIGNING_SECRET through the secret provider, as the policy
 * service reads it). Prints one JSON report per kind. Exit status: 0 all verify, 1 a version does
 * not, 2 the check could not run (bad arguments, no key, PostgreSQL unavailable).
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PROJECT_ID_PATTERN } from '@sg/contracts';
import {
  createPgPool,
  createSecretProvider,
  ed25519PrivateKey,
  ed25519PublicKey,
} from '@sg/runtime';
import { loadPolicyEnv } from '../config/env.js';
import {
  signatureVerifies,
  signedFieldsOf,
  type StoredSignedFields,
} from '../versions/version-signer.js';

const USAGE = 'usage: policy-verify --project <id> [--public-key <ed25519 public key file>]';

function fail(message: string): never {
  process.stderr.write(`policy-verify: ${message}\n${USAGE}\n`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      project: { type: 'string' },
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
const project = args.project;
if (!project || !PROJECT_ID_PATTERN.test(project)) fail('give --project <id>');

let env;
try {
  env = loadPolicyEnv();
} catch (err) {
  fail((err as Error).message);
}

let publicKey: KeyObject;
try {
  if (args['public-key']) {
    publicKey = ed25519PublicKey(readFileSync(args['public-key'], 'utf8'));
  } else {
    const secret = await createSecretProvider(env).get(env.POLICY_SIGNING_SECRET);
    if (secret === undefined)
      fail(`no --public-key, and the secret ${env.POLICY_SIGNING_SECRET} is not set`);
    publicKey = createPublicKey(ed25519PrivateKey(secret));
  }
} catch (err) {
  fail(`the key cannot be read: ${(err as Error).message}`);
}

interface Row extends StoredSignedFields {
  seq: string;
  content: string;
  signature: string | null;
}

const pool = createPgPool(env.DATABASE_URL, env.DATABASE_SCHEMA, 2);
let status = 0;
try {
  const { rows } = await pool.query<Row>(
    'SELECT * FROM policy_versions WHERE project = $1 ORDER BY seq',
    [project],
  );
  const kinds = new Map<string, { versions: number; last: string | null; problems: object[] }>();
  for (const r of rows) {
    const k = kinds.get(r.kind) ?? { versions: 0, last: null, problems: [] };
    kinds.set(r.kind, k);
    k.versions++;
    const fields = signedFieldsOf({ ...r, project });
    const problem = (why: string) =>
      k.problems.push({ id: r.id, seq: Number(r.seq), problem: why });
    if (createHash('sha256').update(r.content, 'utf8').digest('hex') !== r.sha256)
      problem('its content does not have its sha256');
    if (!r.signature) problem('it is not signed');
    else if (!signatureVerifies(fields, r.signature, publicKey))
      problem(`its signature does not verify with this key (key_id ${r.key_id})`);
    if (r.parent_id !== k.last)
      problem(
        `its parent is ${r.parent_id ?? 'none'}, but the version before it is ${k.last ?? 'none'}`,
      );
    k.last = r.id;
  }
  if (kinds.size === 0) process.stderr.write(`policy-verify: project ${project} has no versions\n`);
  for (const [kind, k] of kinds) {
    const ok = k.problems.length === 0;
    if (!ok) status = 1;
    process.stdout.write(
      `${JSON.stringify({ project, kind, versions: k.versions, ok, problems: k.problems })}\n`,
    );
  }
} catch (err) {
  process.stderr.write(`policy-verify: cannot read the version store: ${(err as Error).message}\n`);
  status = 2;
} finally {
  await pool.end().catch(() => undefined);
}
process.exit(status);
