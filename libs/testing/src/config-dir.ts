import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const EXAMPLES_CONFIG = resolve(import.meta.dirname, '../../../examples/config');

export interface ConfigDir {
  dir: string;
  write(relative: string, content: string | object): void;
  remove(): void;
}

/**
 * A copy of examples/config in a temp folder, with every upstream URL pointed at `upstreamUrl`
 * (the example files say http://127.0.0.1:9000).
 */
export function exampleConfigDir(upstreamUrl: string): ConfigDir {
  const dir = mkdtempSync(join(tmpdir(), 'sg-config-'));
  cpSync(EXAMPLES_CONFIG, dir, { recursive: true });
  for (const file of readdirSync(join(dir, 'tools'))) {
    const path = join(dir, 'tools', file);
    writeFileSync(
      path,
      readFileSync(path, 'utf8').replaceAll('http://127.0.0.1:9000', upstreamUrl),
    );
  }
  return {
    dir,
    write(relative, content) {
      mkdirSync(dirname(join(dir, relative)), { recursive: true });
      writeFileSync(
        join(dir, relative),
        typeof content === 'string' ? content : JSON.stringify(content, null, 2),
      );
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
