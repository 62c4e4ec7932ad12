import type { ChildProcess } from 'node:child_process';

export declare const ROOT: string;
export declare const SERVICES: string[];
export declare function readEnvFile(file: string): Record<string, string>;
export declare function preflight(env: Record<string, string | undefined>): Promise<string[]>;
export interface Stack {
  stop(signal?: NodeJS.Signals): Promise<void>;
  children: Map<string, ChildProcess>;
  exits: Array<{ name: string; code: number | null; signal: NodeJS.Signals | null }>;
  url: string | null;
}
export declare function startStack(opts: {
  env: Record<string, string>;
  /** Variables of one service only (its HEALTH_PORT, say), on top of env. */
  serviceEnv?: Record<string, Record<string, string>>;
  services?: string[];
  upstream?: boolean;
  output?: (line: string) => void;
  readyTimeoutMs?: number;
}): Promise<Stack>;
