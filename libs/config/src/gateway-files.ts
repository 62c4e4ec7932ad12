import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ID_PATTERN, toolNameSchema } from '@sg/contracts';
import { z } from 'zod';
import { ConfigFileError, parseConfigText } from './yaml-file.js';

const globList = z.array(z.string().min(1).max(200));

/** model_keys/<project>.yaml (seed 001): who may call, with which key. */
export const modelKeysFileSchema = z.strictObject({
  models: z.record(
    z.string().min(1).max(128),
    z
      .strictObject({
        /** The key itself, as in the seeds. Prefer key_sha256 outside development. */
        key: z.string().min(12, 'keys must be at least 12 characters').optional(),
        /** Hex SHA-256 of the key, so the file holds no usable secret. */
        key_sha256: z.string().regex(/^[a-f0-9]{64}$/, '64 lower-case hex digits').optional(),
        /** Optional scope of the key: globs of tools it may ever call, on top of the policy. */
        tools: globList.optional(),
        can_propose: z.boolean().default(false),
      })
      .refine((m) => (m.key === undefined) !== (m.key_sha256 === undefined), {
        message: 'set exactly one of key or key_sha256',
      }),
  ),
});
export type ModelKeysFile = z.infer<typeof modelKeysFileSchema>;

/** policies/<project>.yaml (seeds 000/001): which model may call which tools. Deny wins. */
export const policyFileSchema = z.strictObject({
  rules: z
    .array(
      z.strictObject({
        model: z.string().min(1).max(128),
        allow_tools: globList.default([]),
        deny_tools: globList.default([]),
      }),
    )
    .default([]),
  rate_limit: z
    .strictObject({
      /** Calls each agent may make per window. */
      per_agent: z.number().int().positive().default(600),
      window_s: z.number().int().positive().max(86_400).default(60),
    })
    .prefault({}),
});
export type PolicyFile = z.infer<typeof policyFileSchema>;

export const httpUpstreamSchema = z.strictObject({
  type: z.literal('http'),
  url: z.url({ protocol: /^https?$/ }),
  method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('POST'),
  headers: z.record(z.string(), z.string()).default({}),
  /** Where the arguments go: a JSON body, or the query string (flat values only). */
  arguments_in: z.enum(['body', 'query']).default('body'),
  timeout_ms: z.number().int().min(1).max(120_000).default(5000),
});

/** tools/<name>.json: the registry entry of one tool. A tool without one is denied. */
export const toolFileSchema = z.strictObject({
  name: toolNameSchema,
  description: z.string().default(''),
  /** JSON Schema of the arguments; objects reject unknown fields unless they say otherwise. */
  input_schema: z.record(z.string(), z.unknown()).default({ type: 'object', properties: {} }),
  requires_approval: z.boolean().default(false),
  upstream: z.discriminatedUnion('type', [httpUpstreamSchema]),
});
export type ToolFile = z.infer<typeof toolFileSchema>;

export const DEFAULT_PROJECT = 'default';

export type FileKind = 'policies' | 'model_keys';

/** The files of one config directory, parsed and validated; `version` changes when any file does. */
export interface GatewayFiles {
  dir: string;
  version: string;
  tools: ReadonlyMap<string, ToolFile>;
  /** Per project; `default` is always present. */
  policies: ReadonlyMap<string, PolicyFile>;
  modelKeys: ReadonlyMap<string, ModelKeysFile>;
}

function projectFiles<T extends z.ZodType>(dir: string, kind: FileKind, schema: T, hash: ReturnType<typeof createHash>) {
  const folder = join(dir, kind);
  const out = new Map<string, z.infer<T>>();
  if (!existsSync(folder)) return out;
  for (const entry of readdirSync(folder).sort()) {
    const match = /^(.+)\.ya?ml$/.exec(entry);
    if (!match || match[1]!.endsWith('.preview')) continue;
    const project = match[1]!;
    const file = join(folder, entry);
    if (!PROJECT_ID_PATTERN.test(project)) {
      throw new ConfigFileError(file, null, null, `file name must be a project id matching ${PROJECT_ID_PATTERN}`);
    }
    const text = readFileSync(file, 'utf8');
    hash.update(file).update(text);
    out.set(project, parseConfigText(file, text, schema));
  }
  if (!out.has(DEFAULT_PROJECT)) {
    throw new ConfigFileError(join(folder, `${DEFAULT_PROJECT}.yaml`), null, null, 'missing: every config needs the default project file');
  }
  return out;
}

/**
 * Loads and validates a whole config directory. Throws ConfigFileError naming the first bad
 * file; callers keep their last good config when that happens.
 */
export function loadGatewayFiles(dir: string): GatewayFiles {
  if (!existsSync(dir)) throw new ConfigFileError(dir, null, null, 'config directory does not exist (set CONFIG_DIR)');
  const hash = createHash('sha256');
  const policies = projectFiles(dir, 'policies', policyFileSchema, hash);
  const modelKeys = projectFiles(dir, 'model_keys', modelKeysFileSchema, hash);
  const tools = new Map<string, ToolFile>();
  const toolDir = join(dir, 'tools');
  if (existsSync(toolDir)) {
    for (const entry of readdirSync(toolDir).sort()) {
      if (!entry.endsWith('.json')) continue;
      const file = join(toolDir, entry);
      const text = readFileSync(file, 'utf8');
      hash.update(file).update(text);
      const tool = parseConfigText(file, text, toolFileSchema);
      if (`${tool.name}.json` !== entry) {
        throw new ConfigFileError(file, null, null, `name "${tool.name}" must match the file name (${tool.name}.json)`);
      }
      tools.set(tool.name, tool);
    }
  }
  return { dir, version: hash.digest('hex').slice(0, 12), tools, policies, modelKeys };
}

/** The project's own file, or the default project's when it has none (seed 002). */
export function forProject<T>(files: ReadonlyMap<string, T>, project: string): T {
  return files.get(project) ?? files.get(DEFAULT_PROJECT)!;
}
