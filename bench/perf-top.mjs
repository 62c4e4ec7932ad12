// Reads `perf script` output (system-wide samples with call chains, recorded while the gateway
// is loaded) and prints, per process, where its CPU went: by owner of the innermost JavaScript
// frame (a package, one of our files, or a Node internal), with V8's own threads (background
// compilation, concurrent GC) apart. Unlike a --cpu-prof profile, perf samples CPU time only, so
// a process that waits inside a socket write is not counted as busy there.
//
//   SG_NODE_ARGS=--perf-basic-prof BENCH_WARMUP_S=15 node bench/gateway.mjs &   # then, while loaded:
//   perf record -F 499 -a -g -o /tmp/gw.perf.data sleep 8
//   perf script -i /tmp/gw.perf.data -F pid,tid,ip,sym,dso > /tmp/gw.perf.txt
//   node bench/perf-top.mjs /tmp/gw.perf.txt [top=12] [processes=4]
//
// --perf-basic-prof makes each Node process write /tmp/perf-<pid>.map, so perf names JIT frames.
import { readFileSync } from 'node:fs';

const [file, topArg = '12', procArg = '4'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/perf-top.mjs <perf script output> [top] [processes]');
  process.exit(2);
}

/** One sample: its process and thread, and its frames innermost first, as [symbol, dso]. */
const samples = [];
for (const line of readFileSync(file, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  if (!line.startsWith('\t')) {
    const [pid, tid = pid] = line.trim().split(/\s+/)[0].split('/');
    samples.push({ pid, tid, frames: [] });
    continue;
  }
  const m = /^\s*[0-9a-f]+ (.*) \((.*)\)$/.exec(line);
  if (m && samples.length) samples.at(-1).frames.push([m[1], m[2]]);
}

/** Who owns a JavaScript frame: a package, one of our libs or services, or a Node internal. */
function owner(symbol) {
  let m = /node_modules\/((@[^/]+\/)?[^/:]+)/.exec(symbol);
  if (m) return m[1];
  m = /\/(libs|services)\/([^/]+)\/dist\/([^:]+):/.exec(symbol);
  if (m) return `${m[1]}/${m[2]}/${m[3]}`;
  m = /node:([a-z_/]+)/.exec(symbol);
  if (m) return `node:${m[1]}`;
  return null;
}

const GC = /Scavenge|MarkCompact|Heap::Collect|Sweeper/;
function classify(s) {
  const names = s.frames.map(([f]) => f).join(' ');
  if (s.tid !== s.pid)
    return GC.test(names) || /Heap|Concurrent/.test(names)
      ? '(V8 threads: GC)'
      : /compiler|Compile|Maglev|Turbofan/i.test(names)
        ? '(V8 threads: compiler)'
        : '(other threads)';
  if (GC.test(names)) return '(GC, main thread)';
  for (const [f] of s.frames) {
    if (!f.startsWith('JS:')) continue;
    const o = owner(f);
    if (o) return o;
  }
  const leaf = s.frames[0];
  return !leaf
    ? '(unknown)'
    : leaf[1] === '[kernel.kallsyms]'
      ? '(kernel, no JS frame)'
      : `(native: ${leaf[0].slice(0, 40)})`;
}

const byPid = new Map();
for (const s of samples) byPid.set(s.pid, (byPid.get(s.pid) ?? []).concat([s]));
const total = samples.length;
const busiest = [...byPid.entries()]
  .sort((a, b) => b[1].length - a[1].length)
  .slice(0, Number(procArg));
for (const [pid, list] of busiest) {
  const counts = new Map();
  for (const s of list) {
    const k = classify(s);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  console.log(
    `\n## pid ${pid}: ${list.length} samples, ${((100 * list.length) / total).toFixed(1)} % of the machine's`,
  );
  for (const [k, n] of [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg))) {
    console.log(`${((100 * n) / list.length).toFixed(1).padStart(6)} %  ${k}`);
  }
}
