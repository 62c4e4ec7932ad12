import { z } from 'zod';

/** A plugin's name: its file name in plugins/ without `.mjs`/`.js`, or a remote service's. */
export const PLUGIN_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const pluginSchema = z.strictObject({
  /** A crash, a timeout or a bad answer denies the call (`deny`, the default) or lets it pass (`allow`). */
  on_error: z.enum(['deny', 'allow']).default('deny'),
  /** How long one call of the plugin may take. */
  timeout_ms: z.number().int().min(1).max(10_000).default(200),
  /** A NATS service on `gw.plugin.<name>.v1` (any language) instead of plugins/<name>.mjs. */
  remote: z.boolean().default(false),
});
export type PluginSettings = z.infer<typeof pluginSchema>;

/** plugins.yaml (docs/plugins.md): settings of the plugins in plugins/, and the remote ones. */
export const pluginsFileSchema = z
  .strictObject({ plugins: z.record(z.string(), pluginSchema).default({}) })
  .superRefine((file, ctx) => {
    for (const name of Object.keys(file.plugins))
      if (!PLUGIN_NAME_PATTERN.test(name))
        ctx.addIssue({
          code: 'custom',
          path: ['plugins', name],
          message: `plugin name "${name.slice(0, 64)}": lower-case letters, digits, _ and - (1-63)`,
        });
  });
export type PluginsFile = z.infer<typeof pluginsFileSchema>;
export const DEFAULT_PLUGIN_SETTINGS: PluginSettings = pluginSchema.parse({});
