// Helpers the benchmarks share: the same machine description, commit and random stream in
// every results file.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { ROOT } from '../scripts/stack.mjs';

/** A small seeded PRNG (mulberry32): the same seed gives the same data on every run. */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The commit measured, and whether the tree had uncommitted changes; null outside git. */
export function gitInfo() {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return { commit, dirty };
  } catch {
    return null;
  }
}

/** What the figures were measured on, with the load average at start (other work skews them). */
export function machineInfo() {
  return {
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model?.trim() ?? 'unknown',
    platform: os.platform(),
    release: os.release(),
    arch: os.arch(),
    total_memory_mb: Math.round(os.totalmem() / 1024 / 1024),
    node: process.version,
    v8: process.versions.v8,
    load_average_at_start: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/**
 * A file-name-safe name for this machine: figures are only comparable on the same hardware, so
 * baselines are kept per host name, CPU model and CPU count (a resized VM gets a new one).
 */
export function machineKey() {
  const raw = `${os.hostname()}-${os.cpus()[0]?.model?.trim() ?? 'unknown'}-${os.cpus().length}cpu`;
  return (
    raw
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 120) || 'unknown'
  );
}
