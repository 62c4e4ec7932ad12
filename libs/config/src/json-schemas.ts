import { z } from 'zod';
import {
  contextualFileSchema,
  modelKeysFileSchema,
  policyFileSchema,
  toolFileSchema,
} from './gateway-files.js';
import { trustedPeersFileSchema } from './trusted-peers.js';
import { adminsFileSchema } from './admins.js';
import { pluginsFileSchema } from './plugins.js';

/**
 * JSON Schemas of the config files, for editors (yaml-language-server, VS Code). Generated
 * from the same zod schemas the services validate with, as the files are written (input side:
 * fields with defaults are optional). `npm run schemas` writes them to schemas/.
 */
export function configJsonSchemas(): Record<string, object> {
  const of = (schema: z.ZodType, title: string, description: string) => ({
    ...z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }),
    title,
    description,
  });
  return {
    'policies.schema.json': of(
      policyFileSchema,
      'SecureGateway policies/<project>.yaml',
      'Which model may call which tools, and how. Deny by default; deny globs win.',
    ),
    'model_keys.schema.json': of(
      modelKeysFileSchema,
      'SecureGateway model_keys/<project>.yaml',
      'Agents, their keys and their grants.',
    ),
    'contextual_policies.schema.json': of(
      contextualFileSchema,
      'SecureGateway contextual_policies/<project>.yaml',
      'Rules on a session’s history: limits, sequences, time windows, risk, injection markers.',
    ),
    'trusted_peers.schema.json': of(
      trustedPeersFileSchema,
      'SecureGateway trusted_peers.yaml',
      'This gateway’s id among its peers, and each trusted peer: URL, key, what it may call here.',
    ),
    'admins.schema.json': of(
      adminsFileSchema,
      'SecureGateway admins.yaml',
      'The named admin principals (hashed keys, roles), the OIDC role mapping, the four-eyes rule.',
    ),
    'plugins.schema.json': of(
      pluginsFileSchema,
      'SecureGateway plugins.yaml',
      'Settings of the plugins in plugins/ (on_error, timeout_ms) and the remote plugins (NATS).',
    ),
    'tool.schema.json': of(
      toolFileSchema,
      'SecureGateway tools/<name>.json',
      'One tool of the registry: argument schema, upstream, flags.',
    ),
  };
}
