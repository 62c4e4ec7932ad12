// `npm start`: the whole gateway with the example config, as separate processes on this
// machine, against the local NATS, Redis and PostgreSQL. Ctrl-C stops everything.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { preflight, readEnvFile, ROOT, startStack } from './stack.mjs';

const env = { ...readEnvFile(join(ROOT, 'examples/gateway.env')), ...process.env };

// The audit signs checkpoints of its hash chain; the example keeps its key in .data/ (not in git).
if (!env.AUDIT_SIGNING_KEY_FILE) {
  const file = join(ROOT, '.data/audit-signing.pem');
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(
      file,
      generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
      { mode: 0o600 },
    );
    console.log(`created the audit checkpoint signing key ${file}`);
  }
  env.AUDIT_SIGNING_KEY_FILE = file;
}
// The policy service signs policy versions (docs/policy-versions.md); the example keeps its key
// in .data/ too, given to the policy service as the secret POLICY_SIGNING_KEY.
if (!env.SECRET_POLICY_SIGNING_KEY && (env.SECRETS_PROVIDER ?? 'env') === 'env') {
  const file = join(ROOT, '.data/policy-signing.pem');
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(
      file,
      generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
      { mode: 0o600 },
    );
    console.log(`created the policy version signing key ${file}`);
  }
  env.SECRET_POLICY_SIGNING_KEY = readFileSync(file, 'utf8');
}
const problems = await preflight(env);
if (problems.length > 0) {
  for (const p of problems) console.error(`✗ ${p}`);
  process.exit(1);
}

let stack;
try {
  stack = await startStack({ env, upstream: true });
} catch (err) {
  console.error(`✗ ${err.message}`);
  process.exit(1);
}
console.log(
  `\n✓ SecureGateway is ready at ${stack.url}  (config: ${env.CONFIG_DIR}; Ctrl-C stops it)\n`,
);

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping...');
  await stack.stop();
  console.log('stopped');
  process.exit(0);
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

// A service that dies on its own takes the gateway down with it: half a gateway is worse.
setInterval(async () => {
  if (!stopping && stack.exits.length > 0) {
    const e = stack.exits[0];
    console.error(`✗ ${e.name} exited (code ${e.code ?? e.signal}); stopping the gateway`);
    stopping = true;
    await stack.stop();
    process.exit(1);
  }
}, 500).unref();
