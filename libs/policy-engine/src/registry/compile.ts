import {
  forProject,
  forProjectOptional,
  type ContextualFile,
  type GatewayFiles,
  type ModelKeysFile,
  type PolicyFile,
  contextualFileSchema,
} from '@sg/config';
import { compileGlobs, type GlobList } from '../decision/glob.js';
import { normalizeFieldName } from '../decision/arguments.js';

export interface CompiledToolRules {
  /** Where the rule lives, for rule_trace: `policies/default.yaml#rules[0]`. */
  ref: string;
  allow: GlobList;
  deny: GlobList;
  approval: GlobList;
}

export interface CompiledPolicy {
  file: string;
  policy: PolicyFile;
  /** Model rules, in file order; `model: "*"` rules apply to every model. */
  rules: Array<CompiledToolRules & { model: string }>;
  /** The rules that apply to each named model (its own and the `*` ones, in file order). */
  rulesByModel: Map<string, CompiledToolRules[]>;
  /** The rules for a model no rule names: the `*` ones. */
  starRules: CompiledToolRules[];
  roles: Map<string, CompiledToolRules>;
  forbidden: Set<string>;
  contextualFile: string | null;
  contextual: ContextualFile;
  sequences: Array<{ ref: string; after: GlobList; deny: GlobList; reason: string | undefined }>;
  timeWindows: Array<{
    ref: string;
    tools: GlobList;
    days: Set<string>;
    from: number;
    to: number;
    timezone: string;
  }>;
  phrases: string[];
}

export interface CompiledAgent {
  scope: GlobList | undefined;
  role: string | undefined;
  tenants: Set<string>;
  permissions: Set<string>;
}

export interface CompiledKeys {
  file: string;
  agents: Map<string, CompiledAgent>;
}

const EMPTY_CONTEXTUAL = contextualFileSchema.parse({});

function toolRules(
  ref: string,
  r: { allow_tools: string[]; deny_tools: string[]; requires_approval: string[] },
): CompiledToolRules {
  return {
    ref,
    allow: compileGlobs(r.allow_tools),
    deny: compileGlobs(r.deny_tools),
    approval: compileGlobs(r.requires_approval),
  };
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
}

function fileName(
  kind: string,
  files: ReadonlyMap<string, unknown>,
  project: string,
  suffix = '',
): string {
  return `${kind}/${files.has(project) ? project : 'default'}${suffix}.yaml`;
}

export function compilePolicy(
  policy: PolicyFile,
  file: string,
  contextual: ContextualFile | undefined,
  contextualFile: string | null,
): CompiledPolicy {
  const ctx = contextual ?? EMPTY_CONTEXTUAL;
  const cfile = contextual ? contextualFile : null;
  for (const w of ctx.time_windows) {
    // An unknown zone would throw at every decision; refuse the file instead.
    new Intl.DateTimeFormat('en-US', { timeZone: w.timezone });
  }
  const rules = policy.rules.map((r, i) => ({
    model: r.model,
    ...toolRules(`${file}#rules[${i}]`, r),
  }));
  // A lookup by model instead of a scan: with a thousand rules the scan was most of a decision.
  const rulesByModel = new Map<string, CompiledToolRules[]>();
  for (const model of new Set(rules.map((r) => r.model))) {
    if (model !== '*')
      rulesByModel.set(
        model,
        rules.filter((r) => r.model === model || r.model === '*'),
      );
  }
  return {
    file,
    policy,
    rules,
    rulesByModel,
    starRules: rules.filter((r) => r.model === '*'),
    roles: new Map(
      Object.entries(policy.roles).map(([name, r]) => [
        name,
        toolRules(`${file}#roles.${name}`, r),
      ]),
    ),
    forbidden: new Set(policy.forbidden_fields.map(normalizeFieldName)),
    contextualFile: cfile,
    contextual: ctx,
    sequences: ctx.forbidden_sequences.map((s, i) => ({
      ref: `${cfile}#forbidden_sequences[${i}]`,
      after: compileGlobs([s.after]),
      deny: compileGlobs([s.deny]),
      reason: s.reason,
    })),
    timeWindows: ctx.time_windows.map((w, i) => ({
      ref: `${cfile}#time_windows[${i}]`,
      tools: compileGlobs(w.tools),
      days: new Set(w.days),
      from: minutes(w.from),
      to: minutes(w.to),
      timezone: w.timezone,
    })),
    phrases: ctx.suspicious_patterns.phrases.map((p) => p.toLowerCase()),
  };
}

export function compileKeys(keys: ModelKeysFile, file: string): CompiledKeys {
  return {
    file,
    agents: new Map(
      Object.entries(keys.models).map(([id, m]) => [
        id,
        {
          scope: m.tools ? compileGlobs(m.tools) : undefined,
          role: m.role,
          tenants: new Set(m.tenants),
          permissions: new Set(m.permissions),
        },
      ]),
    ),
  };
}

/** Every configured project (`files.projects`), each with its live policy, its keys and its shadow policy. */
export function compileProjects(files: GatewayFiles) {
  const names = files.projects;
  const live = new Map<string, CompiledPolicy>();
  const keys = new Map<string, CompiledKeys>();
  const shadow = new Map<string, CompiledPolicy>();
  const hasPreview = files.preview.policies.size > 0 || files.preview.contextual.size > 0;
  for (const project of names) {
    const policyFile = fileName('policies', files.policies, project);
    const contextual = forProjectOptional(files.contextual, project);
    const contextualFile = contextual
      ? fileName('contextual_policies', files.contextual, project)
      : null;
    live.set(
      project,
      compilePolicy(forProject(files.policies, project), policyFile, contextual, contextualFile),
    );
    keys.set(
      project,
      compileKeys(
        forProject(files.modelKeys, project),
        fileName('model_keys', files.modelKeys, project),
      ),
    );
    if (hasPreview) {
      // The preview of each file kind, or the live file where there is no preview. A project
      // with its own live file never borrows the default project's preview of it.
      const pPolicy =
        files.preview.policies.get(project) ??
        (files.policies.has(project) ? undefined : files.preview.policies.get('default'));
      const pContextual =
        files.preview.contextual.get(project) ??
        (files.contextual.has(project) ? undefined : files.preview.contextual.get('default'));
      if (!pPolicy && !pContextual) continue;
      shadow.set(
        project,
        compilePolicy(
          pPolicy ?? forProject(files.policies, project),
          pPolicy ? fileName('policies', files.preview.policies, project, '.preview') : policyFile,
          pContextual ?? contextual,
          pContextual
            ? fileName('contextual_policies', files.preview.contextual, project, '.preview')
            : contextualFile,
        ),
      );
    }
  }
  return { live, keys, shadow };
}
