/**
 * Long runs that almost match a detector: a backtracking pattern would take seconds to minutes
 * on them. The unit test masks each (it must finish); bench/pii.mjs times each.
 */
export const PATHOLOGICAL_INPUTS: readonly string[] = [
  'a'.repeat(200_000),
  '1'.repeat(200_000),
  '1-'.repeat(100_000),
  'a.'.repeat(100_000) + '@',
  'a@' + 'b.'.repeat(100_000),
  '+1 '.repeat(70_000),
  ':'.repeat(200_000),
  '1.'.repeat(100_000),
  'ey'.repeat(100_000) + '.',
  'Bearer '.repeat(30_000),
  '-----BEGIN PRIVATE KEY-----'.repeat(8_000),
  'DE89 '.repeat(40_000),
];
