import { Injectable } from '@nestjs/common';
import type { GatewayFiles } from '@sg/config';
import { ConfigSync } from '@sg/messaging';
import { compileProjects, type CompiledKeys, type CompiledPolicy } from './compile.js';
import { listing } from '../decision/engine.js';
import { compileRegistry, type RegisteredTool } from './tool-registry.js';

interface Active {
  version: string;
  registry: Map<string, RegisteredTool>;
  live: Map<string, CompiledPolicy>;
  keys: Map<string, CompiledKeys>;
  shadow: Map<string, CompiledPolicy>;
}

/**
 * The active policy, compiled once per config version and swapped whole on a reload, so a
 * decision never sees half of an old and half of a new policy.
 */
@Injectable()
export class PolicyStore {
  private active!: Active;

  constructor(config: ConfigSync) {
    config.register((files) => {
      const next = PolicyStore.compile(files);
      return () => {
        this.active = next;
      };
    });
  }

  static compile(files: GatewayFiles): Active {
    return {
      version: files.version,
      registry: compileRegistry(files.tools, files.dir),
      ...compileProjects(files),
    };
  }

  get version(): string {
    return this.active.version;
  }

  /**
   * One consistent view for one decision; null for a project that is not configured, which
   * must be refused rather than decided by the default project's files.
   */
  snapshot(project: string) {
    const a = this.active;
    // compileProjects compiled exactly the configured projects, each with the default's files
    // (and preview) for the kinds it has none of.
    const policy = a.live.get(project);
    const keys = a.keys.get(project);
    if (!policy || !keys) return null;
    return {
      version: a.version,
      registry: a.registry,
      policy,
      keys,
      shadow: a.shadow.get(project),
    };
  }

  /**
   * The tools an agent may see in a project (`listing`), in name order, with the version they
   * were listed from; null for a project that is not configured.
   */
  listable(
    project: string,
    agentId: string,
    /** Peers' tools (`<peer>/<tool>`, from their catalogues), listed by the same rules. */
    remote: Iterable<[string, RegisteredTool]> = [],
  ) {
    const s = this.snapshot(project);
    if (!s) return null;
    const tools: Array<{ name: string; tool: RegisteredTool; requires_approval: boolean }> = [];
    for (const [name, tool] of [...s.registry, ...remote]) {
      const listed = listing(s.keys, s.policy, agentId, name, tool);
      if (listed) tools.push({ name, tool, ...listed });
    }
    tools.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { version: s.version, tools };
  }
}
