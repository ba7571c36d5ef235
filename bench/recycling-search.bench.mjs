// Search latency of the recycling knowledge base's in-memory index.
//   node bench/recycling-search.bench.mjs [--iterations 2000]
// Loads the TypeScript sources directly (transpiled in memory with @swc/core, no build needed),
// builds the index the way the app does at boot, then times a mix of queries: exact Korean and
// English names, spacing variants, partial words, typos, long sentences and misses.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const swc = require('@swc/core');
const Module = require('node:module');
Module._extensions['.ts'] = (module, filename) => {
  const { code } = swc.transformSync(readFileSync(filename, 'utf8'), {
    filename,
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'modules', 'recycling');
const { loadKnowledgeBase } = require(join(root, 'knowledge', 'knowledge-base.loader.ts'));
const { RecyclingService } = require(join(root, 'recycling.service.ts'));

const argIdx = process.argv.indexOf('--iterations');
const iterations = argIdx > 0 ? Number(process.argv[argIdx + 1]) : 2000;

let t0 = process.hrtime.bigint();
const kb = loadKnowledgeBase();
const service = new RecyclingService(kb);
const bootMs = Number(process.hrtime.bigint() - t0) / 1e6;

const queries = [
  '페트병',
  '우유 팩',
  '우유팩',
  'pet bottle',
  'pizza box',
  '피자',
  '패트병',
  '스티로품',
  '냉장거',
  'batery',
  'refrigerater',
  '보조 배터리',
  '기름 묻은 피자 박스는 어디에 버려요',
  '닭뼈',
  'chicken',
  '영수증',
  'receipt',
  '깨진 유리',
  'glass',
  '캔',
  '아이스팩',
  'ice pack',
  '컵라면',
  '후라이팬',
  '전자렌지',
  'aerosol',
  '형광등',
  'xyzzy',
  '종이',
  'plastic',
];

// Warm up the JIT, then measure.
for (let i = 0; i < 200; i++) service.search(queries[i % queries.length], 10);
const samples = [];
for (let i = 0; i < iterations; i++) {
  const q = queries[i % queries.length];
  t0 = process.hrtime.bigint();
  service.search(q, 10);
  samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
samples.sort((a, b) => a - b);
const pct = (p) => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))];
const stats = service.stats();
console.log(
  JSON.stringify(
    {
      ...stats,
      labelMaps: service.labelMapModels().map((m) => `${m.model}:${m.labels.length}`),
      bootMs: Number(bootMs.toFixed(1)),
      iterations,
      p50Ms: Number(pct(50).toFixed(3)),
      p95Ms: Number(pct(95).toFixed(3)),
      p99Ms: Number(pct(99).toFixed(3)),
      maxMs: Number(samples[samples.length - 1].toFixed(3)),
    },
    null,
    2,
  ),
);
if (process.argv.includes('--show')) {
  for (const q of queries) {
    const top = service.scoredSearch(q, 3).map((h) => `${h.doc.name}(${h.score.toFixed(0)})`);
    console.log(q.padEnd(24), '→', top.join(', ') || '—');
  }
}
