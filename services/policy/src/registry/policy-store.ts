import { Inject, Injectable } from '@nestjs/common';
import { forProject, loadGatewayFiles, type GatewayFiles, type ModelKeysFile, type PolicyFile } from '@sg/config';
import { ENV } from '@sg/runtime';
import type { PolicyEnv } from '../config/env.js';
import { compileGlobs, type GlobList } from '../decision/glob.js';
import { compileRegistry, type RegisteredTool } from './tool-registry.js';

export interface CompiledRule {
  index: number;
  model: string;
  allow: GlobList;
  deny: GlobList;
}

export interface CompiledProject {
  file: string;
  keysFile: string;
  policy: PolicyFile;
  rules: CompiledRule[];
  keys: ModelKeysFile;
  keyScopes: Map<string, GlobList>;
}

/** The active policy: files validated and compiled once, then read on every decision. */
@Injectable()
export class PolicyStore {
  private files!: GatewayFiles;
  private registry!: Map<string, RegisteredTool>;
  private projects = new Map<string, CompiledProject>();

  constructor(@Inject(ENV) env: PolicyEnv) {
    this.load(env.CONFIG_DIR);
  }

  load(dir: string) {
    const files = loadGatewayFiles(dir);
    const registry = compileRegistry(files.tools, dir);
    const projects = new Map<string, CompiledProject>();
    for (const project of new Set([...files.policies.keys(), ...files.modelKeys.keys()])) {
      const policy = forProject(files.policies, project);
      const keys = forProject(files.modelKeys, project);
      const file = `policies/${files.policies.has(project) ? project : 'default'}.yaml`;
      projects.set(project, {
        file,
        keysFile: `model_keys/${files.modelKeys.has(project) ? project : 'default'}.yaml`,
        policy,
        keys,
        rules: policy.rules.map((r, index) => ({
          index,
          model: r.model,
          allow: compileGlobs(r.allow_tools),
          deny: compileGlobs(r.deny_tools),
        })),
        keyScopes: new Map(
          Object.entries(keys.models).flatMap(([id, m]) => (m.tools ? [[id, compileGlobs(m.tools)] as const] : [])),
        ),
      });
    }
    this.files = files;
    this.registry = registry;
    this.projects = projects;
  }

  get version(): string {
    return this.files.version;
  }

  tool(name: string): RegisteredTool | undefined {
    return this.registry.get(name);
  }

  project(project: string): CompiledProject {
    return this.projects.get(project) ?? this.projects.get('default')!;
  }
}
