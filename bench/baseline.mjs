// Regression check of bench/gateway.mjs: a run's key figures against the last baseline recorded
// on the same machine. Figures from another machine (or the same VM resized) say nothing about a
// change to the code, so baselines are kept per machine key and never compared across.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../scripts/stack.mjs';
import { machineKey } from './lib.mjs';

/**
 * A figure may be this much worse than its baseline: 0.7× for a figure where higher is better,
 * 1/0.7 ≈ 1.43× where lower is better (30 % less "goodness" either way). This VM's run-to-run
 * noise is ±10–30 % on throughput, so a tighter bound would fail on noise alone.
 */
export const TOLERANCE = 0.7;

export function baselineFile(key = machineKey()) {
  return join(ROOT, 'bench/results', `baseline-${key}.json`);
}

/** The recorded baseline of this machine, or null if none was recorded yet. */
export function readBaseline(file = baselineFile()) {
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, 'utf8'));
}

export function writeBaseline(baseline, file = baselineFile()) {
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(file, `${JSON.stringify(baseline, null, 2)}\n`);
  return file;
}

/**
 * Compares `figures` ({ key: number }) with `baseline.key_figures`, for each definition
 * { key, label, unit, better: 'higher' | 'lower' }. Returns one entry per figure with its
 * verdict ('ok', 'regressed' or 'not compared') and a readable message.
 */
export function compare(figures, baseline, definitions, tolerance = TOLERANCE) {
  return definitions.map(({ key, label, unit, better }) => {
    const value = figures[key];
    const base = baseline.key_figures?.[key];
    const show = (x) =>
      `${x.toFixed(unit === 'calls/s' ? 0 : 3)}${unit === '×' ? '×' : ` ${unit}`}`;
    const entry = { key, label, unit, better, value: value ?? null, baseline: base ?? null };
    if (typeof value !== 'number' || typeof base !== 'number') {
      return {
        ...entry,
        verdict: 'not compared',
        message: `${label}: not compared (${typeof value !== 'number' ? 'not measured in this run' : 'not in the baseline'})`,
      };
    }
    if (base <= 0) {
      // A ratio to zero or a negative latency means nothing; say so rather than divide by it.
      return {
        ...entry,
        verdict: 'not compared',
        message: `${label}: not compared (baseline ${show(base)} is not positive)`,
      };
    }
    const ratio = value / base;
    const limit = better === 'higher' ? base * tolerance : base / tolerance;
    const regressed = better === 'higher' ? value < limit : value > limit;
    const message = regressed
      ? `${label}: ${show(value)} vs baseline ${show(base)} (${ratio.toFixed(2)}× the baseline; ` +
        `${better === 'higher' ? 'at least' : 'at most'} ${show(limit)} allowed, ${better} is better)`
      : `${label}: ${show(value)} vs baseline ${show(base)} (${ratio.toFixed(2)}×)`;
    return {
      ...entry,
      ratio: Number(ratio.toFixed(4)),
      limit: Number(limit.toFixed(4)),
      verdict: regressed ? 'regressed' : 'ok',
      message,
    };
  });
}
