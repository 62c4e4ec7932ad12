import { Injectable } from '@nestjs/common';
import type { GatewayFiles } from '@sg/config';
import { ConfigSync } from '@sg/messaging';
import { compileProjects, type CompiledKeys, type CompiledPolicy } from './compile.js';
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
    return { version: files.version, registry: compileRegistry(files.tools, files.dir), ...compileProjects(files) };
  }

  /** One consistent view for one decision. */
  snapshot(project: string) {
    const a = this.active;
    return {
      version: a.version,
      registry: a.registry,
      policy: a.live.get(project) ?? a.live.get('default')!,
      keys: a.keys.get(project) ?? a.keys.get('default')!,
      // A project with files of its own has its own shadow or none; never the default's.
      shadow: a.shadow.get(project) ?? (a.live.has(project) ? undefined : a.shadow.get('default')),
    };
  }
}
