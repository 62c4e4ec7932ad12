import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PROJECT_ID_PATTERN, toolNameSchema } from '@sg/contracts';
import { z } from 'zod';
import { globList, keyIdSchema, resilienceShape, SECRET_REFERENCE } from './primitives.js';
import { type TrustedPeersFile, trustedPeersFileSchema } from './trusted-peers.js';
import { type AdminsFile, adminsFileSchema } from './admins.js';
import { type PluginsFile, pluginsFileSchema } from './plugins.js';
import { ConfigFileError, parseConfigText } from './yaml-file.js';

/** A key an agent signs its calls with (docs/signatures.md): exactly one of the two kinds. */
export const signingKeySchema = z
  .strictObject({
    /** The `keyid` of the signature: unique within the file. */
    key_id: keyIdSchema,
    /** hmac-sha256: the shared key, as a `{{secret:NAME}}` reference (never the key itself). */
    hmac_secret: z
      .string()
      .regex(SECRET_REFERENCE, 'a {{secret:NAME}} reference: shared keys never sit in this file')
      .optional(),
    /** ed25519: the agent's public key, as an SPKI PEM or the base64 of its 32 bytes. */
    ed25519_public_key: z.string().min(43).max(1000).optional(),
  })
  .refine((k) => (k.hmac_secret === undefined) !== (k.ed25519_public_key === undefined), {
    message: 'set exactly one of hmac_secret or ed25519_public_key',
  });
export type SigningKey = z.infer<typeof signingKeySchema>;

/** model_keys/<project>.yaml (seed 001): who may call, with which key, and what it is granted. */
export const modelKeysFileSchema = z
  .strictObject({
    models: z.record(
      z.string().min(1).max(128),
      z
        .strictObject({
          /** The key itself, as in the seeds. Prefer key_sha256 outside development. */
          key: z.string().min(12, 'keys must be at least 12 characters').optional(),
          /** Hex SHA-256 of the key, so the file holds no usable secret. */
          key_sha256: z
            .string()
            .regex(/^[a-f0-9]{64}$/, '64 lower-case hex digits')
            .optional(),
          /** Keys the agent signs `POST /api/tools/call` with (HMAC-SHA256 or Ed25519). */
          signing_keys: z.array(signingKeySchema).max(8).default([]),
          /** Calls without a valid signature are refused (AUTH.SIGNATURE_REQUIRED). */
          require_signature: z.boolean().default(false),
          /** OAuth 2.1 bearer tokens of the configured issuer whose `sub` or `client_id` is this agent. */
          oauth: z
            .strictObject({
              sub: z.string().min(1).max(256).optional(),
              client_id: z.string().min(1).max(256).optional(),
            })
            .refine((o) => o.sub !== undefined || o.client_id !== undefined, {
              message: 'set sub, client_id or both',
            })
            .optional(),
          /** Optional scope of the key: globs of tools it may ever call, on top of the policy. */
          tools: globList.optional(),
          can_propose: z.boolean().default(false),
          /** The agent's role (seed 004): the policy's roles section applies to it. */
          role: z.string().min(1).max(64).optional(),
          /** Tenants it may name in a tool's tenant field (seed 003 row-level security); "*" = all. */
          tenants: z.array(z.string().min(1).max(128)).default([]),
          /** Grants such as PII_READ (seed 003). */
          permissions: z.array(z.enum(['PII_READ'])).default([]),
        })
        .refine((m) => m.key === undefined || m.key_sha256 === undefined, {
          message: 'set at most one of key or key_sha256',
        })
        .refine(
          (m) =>
            m.key !== undefined ||
            m.key_sha256 !== undefined ||
            m.signing_keys.length > 0 ||
            m.oauth !== undefined,
          { message: 'give the agent a way in: key, key_sha256, signing_keys or oauth' },
        )
        .refine((m) => !m.require_signature || m.signing_keys.length > 0, {
          message: 'require_signature needs at least one entry in signing_keys',
        }),
    ),
  })
  .superRefine((file, ctx) => {
    const seen = new Map<string, string>();
    for (const [agent, m] of Object.entries(file.models)) {
      for (const [i, k] of m.signing_keys.entries()) {
        const other = seen.get(k.key_id);
        if (other !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['models', agent, 'signing_keys', i, 'key_id'],
            message: `key_id ${k.key_id} is also used by ${other}; key ids are unique in a file`,
          });
        seen.set(k.key_id, agent);
      }
    }
  });
export type ModelKeysFile = z.infer<typeof modelKeysFileSchema>;

const toolRulesShape = {
  allow_tools: globList.default([]),
  deny_tools: globList.default([]),
  /** Tools this rule lets through only with a person's approval. */
  requires_approval: globList.default([]),
};

const windowLimit = z.strictObject({
  limit: z.number().int().positive(),
  window_s: z.number().int().positive().max(86_400),
});

/** policies/<project>.yaml (seeds 000/001/003/004): who may call which tools, and how. Deny wins. */
export const policyFileSchema = z.strictObject({
  /** Per model (seeds 000/001). `model: "*"` applies to every model. */
  rules: z
    .array(z.strictObject({ model: z.string().min(1).max(128), ...toolRulesShape }))
    .default([]),
  /** Per agent role (seed 004), for agents whose model_keys entry names a role. */
  roles: z.record(z.string().min(1).max(64), z.strictObject(toolRulesShape)).default({}),
  /** Argument names refused at any depth, case and _/- insensitive (seed 004). */
  forbidden_fields: z
    .array(z.string().min(1).max(64))
    .default(['password', 'api_key', 'secret', 'token', 'private_key']),
  /** Seed 003's complexity score: length, argument count and nesting depth, with a limit. */
  complexity: z
    .strictObject({
      max_score: z.number().positive().default(100),
      per_100_chars: z.number().nonnegative().default(2),
      per_field: z.number().nonnegative().default(1),
      per_depth_level: z.number().nonnegative().default(10),
    })
    .prefault({}),
  /** PII masking of tool results for the project (seed 003); a tool's own level wins. */
  pii_masking: z
    .strictObject({ level: z.enum(['standard', 'strict', 'off']).default('standard') })
    .prefault({}),
  /** Redis rate limits; user limits apply when the call names a user (X-User-Id). */
  rate_limits: z
    .strictObject({
      agent: windowLimit.default({ limit: 600, window_s: 60 }),
      /** Seed 003: 100 calls an hour per user. */
      user: windowLimit.default({ limit: 100, window_s: 3600 }),
      /** Per tool, across all callers of the project: protects the upstream. */
      tool: windowLimit.optional(),
    })
    .prefault({}),
  /**
   * Agents' policy proposals (seed 001, docs/proposals.md): which guardrails apply (all by
   * default) and whether a proposal that passes them all is approved without a review. A proposal
   * can never change this section.
   */
  proposals: z
    .strictObject({
      auto_approve: z.boolean().default(false),
      guardrails: z
        .strictObject({
          own_rules_only: z.boolean().default(true),
          no_wildcards: z.boolean().default(true),
          no_sensitive_widening: z.boolean().default(true),
          no_removals: z.boolean().default(true),
        })
        .prefault({}),
    })
    .prefault({}),
  /** The audit service's anomaly detectors for the project (seed 002); alerts go to the SIEM. */
  anomalies: z
    .strictObject({
      /** An alert with the same type and key is raised again only after this many seconds. */
      cooldown_s: z.number().int().positive().max(86_400).default(600),
      /** Denied calls in the project (seed 002: 10 in 2 minutes). */
      denial_spike: z
        .strictObject({
          enabled: z.boolean().default(true),
          count: z.number().int().positive().default(10),
          window_s: z.number().int().positive().max(86_400).default(120),
        })
        .prefault({}),
      /** Calls refused with POLICY.RATE_LIMITED in the project. */
      rate_limit_storm: z
        .strictObject({
          enabled: z.boolean().default(true),
          count: z.number().int().positive().default(20),
          window_s: z.number().int().positive().max(86_400).default(60),
        })
        .prefault({}),
      /** A session whose risk score reaches `risk_at`. */
      high_risk_session: z
        .strictObject({
          enabled: z.boolean().default(true),
          risk_at: z.number().min(0).max(1).default(0.8),
        })
        .prefault({}),
      /** A tool or an agent the project has never seen before. */
      first_seen: z
        .strictObject({ tools: z.boolean().default(true), agents: z.boolean().default(true) })
        .prefault({}),
    })
    .prefault({}),
});
export type PolicyFile = z.infer<typeof policyFileSchema>;

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'use HH:MM, 24-hour');
const weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);

/** contextual_policies/<project>.yaml (seeds 000/002): rules on the session's history. */
export const contextualFileSchema = z.strictObject({
  /** Calls a session may make in all; further calls are denied. */
  max_calls_per_session: z.number().int().positive().optional(),
  /** Deny `deny` when `after` was called earlier in the same session (read-then-exfiltrate). */
  forbidden_sequences: z
    .array(
      z.strictObject({
        after: z.string().min(1).max(200),
        deny: z.string().min(1).max(200),
        reason: z.string().max(300).optional(),
      }),
    )
    .default([]),
  /** Tools matching `tools` may only be called inside one of these windows. */
  time_windows: z
    .array(
      z.strictObject({
        tools: globList.min(1),
        days: z.array(weekday).min(1).default(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']),
        from: hhmm,
        to: hhmm,
        timezone: z.string().default('UTC'),
      }),
    )
    .default([]),
  /** Seed 000's session score, with configurable weights and thresholds. */
  risk: z
    .strictObject({
      weights: z
        .strictObject({
          many_calls: z.number().min(0).max(1).default(0.2),
          write_tool: z.number().min(0).max(1).default(0.3),
          prior_denial: z.number().min(0).max(1).default(0.2),
          pii_tool: z.number().min(0).max(1).default(0.1),
          suspicious_input: z.number().min(0).max(1).default(0.3),
        })
        .prefault({}),
      /** More calls than this in the session count as "many". */
      many_calls_after: z.number().int().nonnegative().default(5),
      /** At or above: the call needs a person's approval. */
      approval_at: z.number().min(0).max(1).optional(),
      /** At or above: the call is denied. */
      deny_at: z.number().min(0).max(1).optional(),
    })
    .prefault({}),
  /**
   * Prompt-injection markers: case-insensitive phrases searched in every string argument.
   * Phrases, not regular expressions, so a policy file cannot make the engine backtrack.
   */
  suspicious_patterns: z
    .strictObject({
      action: z.enum(['deny', 'flag']).default('deny'),
      phrases: z.array(z.string().min(3).max(200)).default([]),
    })
    .prefault({}),
});
export type ContextualFile = z.infer<typeof contextualFileSchema>;

/** `{{secret:NAME}}` may appear in url, headers and arguments; it is resolved at execution. */
export const httpUpstreamSchema = z.strictObject({
  type: z.literal('http'),
  url: z.string().regex(/^https?:\/\/[^\s]+$/, 'an http(s) URL'),
  method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('POST'),
  headers: z.record(z.string(), z.string()).default({}),
  /** Where the arguments go: a JSON body, or the query string (flat values only). */
  arguments_in: z.enum(['body', 'query']).default('body'),
  /**
   * Arguments the registry adds to every call, beside the agent's; on a name both give, the
   * registry's value wins. Only these (with url and headers) may hold `{{secret:NAME}}`: the
   * same text in the agent's own arguments is sent as it is, never resolved.
   */
  arguments: z.record(z.string(), z.unknown()).default({}),
  ...resilienceShape,
});

/** An MCP server reached with @modelcontextprotocol/sdk's client. */
export const mcpUpstreamSchema = z
  .strictObject({
    type: z.literal('mcp'),
    transport: z.enum(['streamable_http', 'stdio']),
    /** streamable_http: the server's MCP endpoint. */
    url: z
      .string()
      .regex(/^https?:\/\/[^\s]+$/, 'an http(s) URL')
      .optional(),
    headers: z.record(z.string(), z.string()).default({}),
    /** stdio: the command that starts the server, and its arguments and environment. */
    command: z.string().min(1).optional(),
    args: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string()).default({}),
    /** The tool's name on the server, when it differs from the registry name. */
    remote_tool: z.string().min(1).optional(),
    /**
     * The tool as reviewed: sha256 of its description and input schema as the server advertised
     * them (`mcpToolPin`, written by import-mcp-tools). When the server later advertises
     * anything else, calls are refused (EXECUTOR.TOOL_PIN_MISMATCH) and an alert is raised.
     */
    pin_sha256: z
      .string()
      .regex(/^[a-f0-9]{64}$/, '64 lower-case hex digits')
      .optional(),
    ...resilienceShape,
  })
  .refine((u) => (u.transport === 'stdio' ? Boolean(u.command) : Boolean(u.url)), {
    message: 'streamable_http needs url; stdio needs command',
  });

/**
 * A tool that runs inside its own MCP server, governed there with the SDK (`@sg/sdk`
 * governed()): the gateway decides and audits it, and never runs it.
 */
export const sdkUpstreamSchema = z.strictObject({ type: z.literal('sdk') });

/** tools/<name>.json: the registry entry of one tool. A tool without one is denied. */
export const toolFileSchema = z.strictObject({
  name: toolNameSchema,
  description: z.string().default(''),
  /** JSON Schema of the arguments; objects reject unknown fields unless they say otherwise. */
  input_schema: z.record(z.string(), z.unknown()).default({ type: 'object', properties: {} }),
  requires_approval: z.boolean().default(false),
  /** Results hold personal data: callers need the PII_READ grant (seed 003). */
  pii: z.boolean().default(false),
  /** The argument naming the tenant; callers may only name tenants granted to them (seed 003). */
  tenant_field: z.string().min(1).max(64).optional(),
  /** The tool changes data (counts toward the session's write risk). */
  writes: z.boolean().default(false),
  /** Safe to call twice with the same arguments: only such tools are retried. */
  idempotent: z.boolean().default(false),
  /** PII masking of results (seed 003): level, and fields exempt from it. */
  pii_masking: z
    .strictObject({
      level: z.enum(['standard', 'strict', 'off']).optional(),
      allow_fields: z.array(z.string().min(1).max(64)).default([]),
    })
    .prefault({}),
  upstream: z.union([httpUpstreamSchema, mcpUpstreamSchema, sdkUpstreamSchema]),
});
export type ToolFile = z.infer<typeof toolFileSchema>;
export type HttpUpstream = z.infer<typeof httpUpstreamSchema>;
export type McpUpstream = z.infer<typeof mcpUpstreamSchema>;

export const DEFAULT_PROJECT = 'default';

export type FileKind = 'policies' | 'model_keys' | 'contextual_policies';
export const FILE_KINDS: readonly FileKind[] = ['policies', 'contextual_policies', 'model_keys'];
/** A per-project file's name: `<project>.yaml` (1: the project), or `<project>.preview.yaml` (2 set). */
export const PROJECT_FILE = /^(.+?)(\.preview)?\.ya?ml$/;

/** The schema of each kind of per-project file (`<kind>/<project>.yaml`). */
export const FILE_KIND_SCHEMAS = {
  policies: policyFileSchema,
  model_keys: modelKeysFileSchema,
  contextual_policies: contextualFileSchema,
} as const;

/** The files of one config directory, parsed and validated; `version` changes when any file does. */
export interface GatewayFiles {
  dir: string;
  version: string;
  /**
   * The projects that exist: `default` and every project with a live policies/, model_keys/ or
   * contextual_policies/ file. A request naming any other project is refused, never run under
   * the default project's files; a preview file alone does not create a project.
   */
  projects: ReadonlySet<string>;
  tools: ReadonlyMap<string, ToolFile>;
  /** Per project; `default` is always present. */
  policies: ReadonlyMap<string, PolicyFile>;
  modelKeys: ReadonlyMap<string, ModelKeysFile>;
  /** Per project; may be empty (no contextual rules). */
  contextual: ReadonlyMap<string, ContextualFile>;
  /** trusted_peers.yaml (federation); null when the directory has none: federation is off. */
  peers: TrustedPeersFile | null;
  /** admins.yaml: the named admin principals; null when the directory has none (ADMIN_API_KEY only). */
  admins: AdminsFile | null;
  /** plugins.yaml: plugin settings and remote plugins; null when absent (plugins/ files use defaults). */
  plugins: PluginsFile | null;
  /** Shadow (preview) files: `<project>.preview.yaml`, evaluated beside the live ones. */
  preview: {
    policies: ReadonlyMap<string, PolicyFile>;
    contextual: ReadonlyMap<string, ContextualFile>;
  };
}

function projectFiles<T extends z.ZodType>(
  dir: string,
  kind: FileKind,
  schema: T,
  hash: ReturnType<typeof createHash>,
  opts: { preview: boolean; requireDefault: boolean },
) {
  const folder = join(dir, kind);
  const out = new Map<string, z.infer<T>>();
  if (!existsSync(folder)) {
    if (opts.requireDefault)
      throw new ConfigFileError(
        folder,
        null,
        null,
        `missing: every config needs ${kind}/${DEFAULT_PROJECT}.yaml`,
      );
    return out;
  }
  for (const entry of readdirSync(folder).sort()) {
    const match = PROJECT_FILE.exec(entry);
    if (!match || Boolean(match[2]) !== opts.preview) continue;
    const project = match[1]!;
    const file = join(folder, entry);
    if (!PROJECT_ID_PATTERN.test(project)) {
      throw new ConfigFileError(
        file,
        null,
        null,
        `file name must be a project id matching ${PROJECT_ID_PATTERN}`,
      );
    }
    const text = readFileSync(file, 'utf8');
    hash.update(relative(dir, file)).update(text);
    out.set(project, parseConfigText(file, text, schema));
  }
  if (opts.requireDefault && !out.has(DEFAULT_PROJECT)) {
    throw new ConfigFileError(
      join(folder, `${DEFAULT_PROJECT}.yaml`),
      null,
      null,
      'missing: every config needs the default project file',
    );
  }
  return out;
}

/**
 * Loads and validates a whole config directory. Throws ConfigFileError naming the first bad
 * file; callers keep their last good config when that happens.
 */
export function loadGatewayFiles(dir: string): GatewayFiles {
  if (!existsSync(dir))
    throw new ConfigFileError(dir, null, null, 'config directory does not exist (set CONFIG_DIR)');
  const hash = createHash('sha256');
  const live = { preview: false, requireDefault: true };
  const optional = { preview: false, requireDefault: false };
  const previewOnly = { preview: true, requireDefault: false };
  const policies = projectFiles(dir, 'policies', policyFileSchema, hash, live);
  const modelKeys = projectFiles(dir, 'model_keys', modelKeysFileSchema, hash, live);
  const contextual = projectFiles(dir, 'contextual_policies', contextualFileSchema, hash, optional);
  const preview = {
    policies: projectFiles(dir, 'policies', policyFileSchema, hash, previewOnly),
    contextual: projectFiles(dir, 'contextual_policies', contextualFileSchema, hash, previewOnly),
  };
  const tools = new Map<string, ToolFile>();
  const toolDir = join(dir, 'tools');
  if (existsSync(toolDir)) {
    for (const entry of readdirSync(toolDir).sort()) {
      if (!entry.endsWith('.json')) continue;
      const file = join(toolDir, entry);
      const text = readFileSync(file, 'utf8');
      hash.update(relative(dir, file)).update(text);
      const tool = parseConfigText(file, text, toolFileSchema);
      if (`${tool.name}.json` !== entry) {
        throw new ConfigFileError(
          file,
          null,
          null,
          `name "${tool.name}" must match the file name (${tool.name}.json)`,
        );
      }
      tools.set(tool.name, tool);
    }
  }
  const optionalFile = <T>(names: string[], schema: z.ZodType<T>): T | null => {
    for (const name of names) {
      const file = join(dir, name);
      if (!existsSync(file)) continue;
      const text = readFileSync(file, 'utf8');
      hash.update(name).update(text);
      return parseConfigText(file, text, schema);
    }
    return null;
  };
  const peers = optionalFile(['trusted_peers.yaml', 'trusted_peers.yml'], trustedPeersFileSchema);
  const admins = optionalFile(['admins.yaml', 'admins.yml'], adminsFileSchema);
  const plugins = optionalFile(['plugins.yaml', 'plugins.yml'], pluginsFileSchema);
  const projects = projectsOf({ policies, modelKeys, contextual });
  return {
    dir,
    version: hash.digest('hex').slice(0, 12),
    projects,
    tools,
    policies,
    modelKeys,
    contextual,
    peers,
    admins,
    plugins,
    preview,
  };
}

/** `default` and every project with a live file of its own: what `GatewayFiles.projects` holds. */
export function projectsOf(
  files: Pick<GatewayFiles, 'policies' | 'modelKeys' | 'contextual'>,
): Set<string> {
  return new Set([
    DEFAULT_PROJECT,
    ...files.policies.keys(),
    ...files.modelKeys.keys(),
    ...files.contextual.keys(),
  ]);
}

/** Why a request naming a project that is not in `GatewayFiles.projects` is refused, and the fix. */
export function unknownProjectMessage(project: string): string {
  return (
    `project "${project}" is not configured: create policies/${project}.yaml, model_keys/${project}.yaml or ` +
    `contextual_policies/${project}.yaml in the config directory (a .preview.yaml file alone does not create a project), ` +
    `or correct X-Project-ID; without X-Project-ID the project is "${DEFAULT_PROJECT}"`
  );
}

/** The project's own file, or the default project's when it has none (seed 002). Only for projects in `projects`. */
export function forProject<T>(files: ReadonlyMap<string, T>, project: string): T {
  return files.get(project) ?? files.get(DEFAULT_PROJECT)!;
}

/** Like forProject, for file kinds a config may leave out: undefined when neither exists. */
export function forProjectOptional<T>(
  files: ReadonlyMap<string, T>,
  project: string,
): T | undefined {
  return files.get(project) ?? files.get(DEFAULT_PROJECT);
}

/** A version of a project file that overrides the file (saved through the API, rolled back, proposed). */
export interface OverridingVersion {
  id: string;
  project: string;
  kind: FileKind;
  content: string;
}

/** Where each kind of project file is in GatewayFiles. */
export const FILES_FIELD = {
  policies: 'policies',
  contextual_policies: 'contextual',
  model_keys: 'modelKeys',
} as const satisfies Record<FileKind, keyof GatewayFiles>;

/**
 * The files with `versions` in place of the project files they override (docs/policy-versions.md).
 * A version for a project the directory does not have, or whose content does not validate, is
 * left out and returned in `refused`. `version` changes with the versions applied.
 */
export function applyVersions(
  files: GatewayFiles,
  versions: readonly OverridingVersion[],
): { files: GatewayFiles; refused: Array<{ id: string; reason: string }> } {
  if (versions.length === 0) return { files, refused: [] };
  const maps = {
    policies: new Map(files.policies),
    contextual: new Map(files.contextual),
    modelKeys: new Map(files.modelKeys),
  };
  const refused: Array<{ id: string; reason: string }> = [];
  const applied: string[] = [];
  for (const v of versions) {
    if (!files.projects.has(v.project)) {
      refused.push({
        id: v.id,
        reason: `project ${v.project} has no file in the config directory`,
      });
      continue;
    }
    try {
      const value = parseConfigText(
        `${v.kind}/${v.project}.yaml@${v.id}`,
        v.content,
        FILE_KIND_SCHEMAS[v.kind],
      );
      (maps[FILES_FIELD[v.kind]] as Map<string, unknown>).set(v.project, value);
      applied.push(v.id);
    } catch (err) {
      refused.push({ id: v.id, reason: (err as Error).message });
    }
  }
  const version = applied.length
    ? createHash('sha256')
        .update(files.version)
        .update(applied.sort().join(','))
        .digest('hex')
        .slice(0, 12)
    : files.version;
  return { files: { ...files, ...maps, version }, refused };
}
