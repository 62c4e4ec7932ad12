import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadSecretEnv } from '@sg/config';
import { ENV } from './tokens.js';

/**
 * Where `{{secret:NAME}}` is looked up. An interface, so a vault (or any other store) can be
 * added beside the two below: implement get() and provide it under SECRET_PROVIDER.
 */
export interface SecretProvider {
  /** The secret's value, or undefined when there is no such secret. Never logs the value. */
  get(name: string): Promise<string | undefined>;
}

/** Nest token of the SecretProvider (the executor's upstream secrets, the ingress's signing keys). */
export const SECRET_PROVIDER = Symbol('SECRET_PROVIDER');

/** A secret NAME: what `{{secret:NAME}}` may hold, and so what a provider is asked for. */
export const SECRET_NAME = /^[A-Za-z0-9_]+$/;

/** Secrets from environment variables (`SECRET_<NAME>`), read once at start (config/env.ts). */
export class EnvSecretProvider implements SecretProvider {
  private readonly values: ReadonlyMap<string, string>;

  constructor(values: Readonly<Record<string, string>>) {
    this.values = new Map(Object.entries(values));
  }

  async get(name: string): Promise<string | undefined> {
    return this.values.get(name);
  }
}

/**
 * Secrets from a directory holding one file per secret, the file named after it: how
 * Kubernetes mounts a Secret. Values lose one trailing newline. A file is read again when its
 * mtime or size changes, so a rotated secret is picked up without a restart.
 */
export class DirectorySecretProvider implements SecretProvider {
  private readonly cache = new Map<string, { mtimeMs: number; size: number; value: string }>();

  constructor(private readonly dir: string) {}

  async get(name: string): Promise<string | undefined> {
    // The name alone decides the path: no separators, no dots, so never outside the directory.
    if (!SECRET_NAME.test(name)) return undefined;
    const file = join(this.dir, name);
    let info;
    try {
      info = await stat(file);
    } catch {
      this.cache.delete(name);
      return undefined;
    }
    if (!info.isFile()) return undefined;
    const cached = this.cache.get(name);
    if (cached && cached.mtimeMs === info.mtimeMs && cached.size === info.size) return cached.value;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      return undefined;
    }
    const value = text.replace(/\r?\n$/, '');
    this.cache.set(name, { mtimeMs: info.mtimeMs, size: info.size, value });
    return value;
  }
}

export interface SecretProviderSettings {
  SECRETS_PROVIDER: 'env' | 'dir';
  SECRETS_ENV_PREFIX: string;
  SECRETS_DIR?: string | undefined;
}

/**
 * The provider the environment chooses (secretsEnvSchema in @sg/config); `secretEnv` is
 * loadSecretEnv()'s snapshot, used by the env provider.
 */
export function createSecretProvider(
  settings: SecretProviderSettings,
  secretEnv: Readonly<Record<string, string>> = loadSecretEnv(settings.SECRETS_ENV_PREFIX),
): SecretProvider {
  if (settings.SECRETS_PROVIDER === 'dir')
    return new DirectorySecretProvider(settings.SECRETS_DIR!);
  return new EnvSecretProvider(secretEnv);
}

/** `{{secret:NAME}}` as the whole of a value: NAME, else undefined. */
export function secretReference(value: string): string | undefined {
  return /^\{\{secret:([A-Za-z0-9_]+)\}\}$/.exec(value)?.[1];
}

/**
 * The SecretProvider under SECRET_PROVIDER, chosen by the service's env (ENV). Swap this provider
 * for a vault-backed SecretProvider to use one.
 */
export const secretProviderProvider = {
  provide: SECRET_PROVIDER,
  inject: [ENV],
  useFactory: (env: SecretProviderSettings) => createSecretProvider(env),
};
