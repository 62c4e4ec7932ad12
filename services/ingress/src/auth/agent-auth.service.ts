import { Injectable } from '@nestjs/common';
import { forProject, type GatewayFiles } from '@sg/config';
import { GatewayError, HttpHeaders } from '@sg/contracts';
import { ConfigSync } from '@sg/messaging';
import { matchKey, sha256 } from './keys.js';

export interface Principal {
  /** The model_keys entry the key belongs to: the agent's identity everywhere downstream. */
  agentId: string;
  project: string;
}

type HeaderBag = Record<string, string | string[] | undefined>;

/**
 * Agent authentication against model_keys/<project>.yaml (default.yaml when the project has
 * none). A project that is not configured has no keys at all, not the default project's.
 */
@Injectable()
export class AgentAuthService {
  private keys = new Map<string, Array<{ digest: Buffer; value: string }>>();

  constructor(config: ConfigSync) {
    config.register((files) => {
      const keys = AgentAuthService.digests(files);
      return () => {
        this.keys = keys;
      };
    });
  }

  /** Each configured project's key digests, computed once per config version. */
  static digests(files: GatewayFiles) {
    const keys = new Map<string, Array<{ digest: Buffer; value: string }>>();
    for (const project of files.projects) {
      const file = forProject(files.modelKeys, project);
      keys.set(
        project,
        Object.entries(file.models).map(([agentId, m]) => ({
          digest: m.key_sha256 ? Buffer.from(m.key_sha256, 'hex') : sha256(m.key!),
          value: agentId,
        })),
      );
    }
    return keys;
  }

  authenticate(project: string, headers: HeaderBag): Principal {
    const key = presentedKey(headers);
    if (!key) {
      throw new GatewayError(
        'AUTH.MISSING_KEY',
        'send your agent key in the X-API-Key header or as Authorization: Bearer <key>',
      );
    }
    const entries = this.keys.get(project) ?? [];
    const agentId = matchKey(key, entries);
    if (agentId === null) {
      throw new GatewayError(
        'AUTH.INVALID_KEY',
        `the key is not valid for project ${project}; check the key and the X-Project-ID header`,
      );
    }
    return { agentId, project };
  }
}

function header(headers: HeaderBag, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function presentedKey(headers: HeaderBag): string | undefined {
  const apiKey = header(headers, HttpHeaders.apiKey)?.trim();
  if (apiKey) return apiKey;
  const auth = header(headers, HttpHeaders.authorization);
  const match = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  return match?.[1];
}
