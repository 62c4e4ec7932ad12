import type { Provider } from '@nestjs/common';
import { loadGatewayFiles, type GatewayFiles } from '@sg/config';
import { ENV } from '@sg/runtime';
import type { IngressEnv } from './env.js';

/** The config directory (model keys, tools), loaded and validated once at start. */
export const GATEWAY_FILES = Symbol('GATEWAY_FILES');

export const gatewayFilesProvider: Provider = {
  provide: GATEWAY_FILES,
  inject: [ENV],
  useFactory: (env: IngressEnv): GatewayFiles => loadGatewayFiles(env.CONFIG_DIR),
};
