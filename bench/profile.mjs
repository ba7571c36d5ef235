// Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and by package/file, and
// inclusive time of the frames whose name matches --focus. Used on the roles of a bench run:
//   BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=$PWD/.tmp/bench/prof" node bench/run.mjs …
//   node bench/profile.mjs .tmp/bench/prof/CPU.…cpuprofile [--top 25] [--focus name]
import { readFile } from 'node:fs/promises';

const [file, ...rest] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile.mjs <file.cpuprofile> [--top N] [--focus text]');
  process.exit(2);
}
const top = Number(rest[rest.indexOf('--top') + 1]) || 25;
const focus = rest.includes('--focus') ? rest[rest.indexOf('--focus') + 1] : undefined;

const prof = JSON.parse(await readFile(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Self time per node from the samples and their time deltas (µs).
const self = new Map();
prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

const where = (cf) => {
  const url = cf.url || '';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (url.includes('/dist/')) return `app:${url.slice(url.indexOf('/dist/') + 6)}`;
  if (url.startsWith('node:')) return url;
  return url || `(${cf.functionName || 'native'})`;
};

const fnSelf = new Map();
const pkgSelf = new Map();
for (const [id, us] of self) {
  const cf = byId.get(id).callFrame;
  const fn = `${cf.functionName || '(anonymous)'} ${where(cf)}:${cf.lineNumber + 1}`;
  fnSelf.set(fn, (fnSelf.get(fn) ?? 0) + us);
  const pkg = where(cf);
  pkgSelf.set(pkg, (pkgSelf.get(pkg) ?? 0) + us);
}

const pct = (us) => `${((us / total) * 100).toFixed(1).padStart(5)} %`;
const show = (title, map) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
  }
};
console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled`);
show('self time by package / file', pkgSelf);
show('self time by function', fnSelf);

if (focus) {
  // Inclusive time of every frame named like `focus` (counted once per sample).
  const incl = new Map();
  prof.samples.forEach((id, i) => {
    const seen = new Set();
    for (let n = id; n !== undefined; n = parent.get(n)) {
      const cf = byId.get(n).callFrame;
      const key = `${cf.functionName} ${where(cf)}:${cf.lineNumber + 1}`;
      if (!key.includes(focus) || seen.has(key)) continue;
      seen.add(key);
      incl.set(key, (incl.get(key) ?? 0) + (prof.timeDeltas[i] ?? 0));
    }
  });
  show(`inclusive time of frames matching "${focus}"`, incl);
}
