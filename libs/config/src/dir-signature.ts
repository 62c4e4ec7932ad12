import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A cheap fingerprint of a directory tree (names, sizes, modification times). Polling it
 * notices edits however they happen: an editor's rename, a Kubernetes ConfigMap's symlink swap.
 */
export function dirSignature(dir: string): string {
  const hash = createHash('sha256');
  const walk = (folder: string) => {
    let entries: string[];
    try {
      entries = readdirSync(folder).sort();
    } catch {
      hash.update(`missing:${folder}`);
      return;
    }
    for (const name of entries) {
      const path = join(folder, name);
      try {
        const st = statSync(path);
        if (st.isDirectory()) walk(path);
        else hash.update(`${path}:${st.size}:${st.mtimeMs}\n`);
      } catch {
        // Vanished between readdir and stat: the next poll sees the new state.
      }
    }
  };
  walk(dir);
  return hash.digest('hex');
}
