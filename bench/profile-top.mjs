// Reads .cpuprofile files (node --cpu-prof) and prints where each process spent its time: the
// functions with the most self time, and the same grouped by package (or by our own lib/service).
//
//   SG_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" node bench/gateway.mjs
//   node bench/profile-top.mjs /tmp/prof [top=15] [skip_s=14]
//
// The first skip_s seconds of each process (start-up, and the bench's upstream-only phase) are
// left out, so what remains is the gateway under load.
// A profile is matched to its service by the script its main module ran (services/<name>/dist).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const top = Number(process.argv[3] ?? 15);
const skipUs = Number(process.argv[4] ?? 14) * 1e6;
if (!dir) {
  console.error('usage: node bench/profile-top.mjs <dir with .cpuprofile files> [top]');
  process.exit(2);
}

/** Where a frame's code lives: a package, one of our libs or services, or node itself. */
function ownerOf(url) {
  if (!url) return '(native/gc)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const ours = /\/(libs|services)\/([^/]+)\//.exec(url);
  if (ours) return `${ours[1]}/${ours[2]}`;
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  return url;
}

function serviceOf(nodes) {
  for (const n of nodes) {
    const m = /services\/([^/]+)\/dist\/main\.js/.exec(n.callFrame.url);
    if (m) return m[1];
  }
  return '?';
}

for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = profile.timeDeltas;
  let t = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += dt[i] ?? 0;
    if (t < skipUs) continue;
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0));
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFn = new Map();
  const byOwner = new Map();
  let idle = 0;
  for (const [id, us] of self) {
    const { callFrame } = byId.get(id);
    if (callFrame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const where = callFrame.url
      ? `${callFrame.url.replace(/^.*\/(node_modules|libs|services)\//, '$1/')}:${callFrame.lineNumber + 1}`
      : '';
    const fn = `${callFrame.functionName || '(anonymous)'} ${where}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
    const owner =
      ownerOf(callFrame.url) === '(native/gc)' ? callFrame.functionName : ownerOf(callFrame.url);
    byOwner.set(owner, (byOwner.get(owner) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  console.log(
    `\n## ${serviceOf(profile.nodes)} (${file}): busy ${(busy / 1e3).toFixed(0)} ms of ${(total / 1e3).toFixed(0)} ms`,
  );
  console.log('by owner:');
  for (const [k, us] of [...byOwner].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`  ${pct(us)}  ${k}`);
  console.log('by function (self time):');
  for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`  ${pct(us)}  ${k}`);
}
