#!/usr/bin/env node
// Nearby-search benchmark for the locations module (docs/locations.md → Numbers).
//
//   npm run build && node bench/locations-nearby.bench.mjs [--points 100000] [--queries 400]
//        [--radii 500,1000,5000,20000] [--dist ./dist] [--keep] [--json]
//
// Creates its own database (bench_locations_<time>) on the PostgreSQL at BENCH_PG_ADMIN_URL
// (default postgres://postgres@127.0.0.1:5432/postgres), applies the real migrations, imports
// N generated points through the real CSV importer (timed: rows/s), then times the real
// CollectionPointsRepository.nearby query at several radii, with and without a types filter,
// and prints p50/p95/p99. The database is dropped at the end unless --keep.
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const { values: opts } = parseArgs({
  options: {
    points: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '400' },
    radii: { type: 'string', default: '500,1000,5000,20000' },
    dist: { type: 'string', default: resolve(import.meta.dirname ?? '.', '..', 'dist') },
    keep: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const POINTS = Number(opts.points);
const QUERIES = Number(opts.queries);
const RADII = opts.radii.split(',').map(Number);
const dist = resolve(opts.dist);

let mods;
try {
  mods = {
    pg: require('pg'),
    typeorm: require('typeorm'),
    migrations: require(`${dist}/migrations/index.js`),
    repo: require(`${dist}/modules/locations/collection-points.repository.js`),
    importer: require(`${dist}/modules/locations/import/collection-point.importer.js`),
    csv: require(`${dist}/modules/locations/import/collection-point-csv.js`),
    iconv: require('iconv-lite'),
  };
} catch (err) {
  console.error(
    `cannot load the compiled code from ${dist} (run \`npm run build\` first): ${err.message}`,
  );
  process.exit(2);
}

const ADMIN = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `bench_locations_${Date.now().toString(36)}`;
const dbUrl = new URL(ADMIN);
dbUrl.pathname = `/${dbName}`;

// Deterministic pseudo-random numbers (mulberry32) so runs are comparable.
let seed = 0x5eed;
function rnd() {
  seed |= 0;
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const between = (a, b) => a + (b - a) * rnd();

// Roughly the mix of district open data: many recycling/clothing bins, few refill shops.
const TYPE_MIX = [
  ['재활용품', 0.3],
  ['의류수거함', 0.25],
  ['폐건전지', 0.15],
  ['투명페트병', 0.1],
  ['폐형광등', 0.08],
  ['소형폐가전', 0.05],
  ['폐의약품', 0.04],
  ['폐식용유', 0.02],
  ['재활용센터', 0.005],
  ['제로웨이스트샵', 0.005],
];
function pickType() {
  let r = rnd();
  for (const [t, p] of TYPE_MIX) if ((r -= p) < 0) return t;
  return TYPE_MIX[0][0];
}

// 60% of the points in Seoul (dense, like the real data), 40% across South Korea.
const SEOUL = { lat: [37.45, 37.7], lng: [126.8, 127.18] };
const KOREA = { lat: [34.6, 38.2], lng: [126.3, 129.4] };
function generateCsv(n) {
  const lines = ['관리번호,시설명,수거품목,소재지도로명주소,위도,경도,운영시간,전화번호'];
  for (let i = 1; i <= n; i++) {
    const box = rnd() < 0.6 ? SEOUL : KOREA;
    const lat = between(...box.lat).toFixed(6);
    const lng = between(...box.lng).toFixed(6);
    lines.push(`B-${i},벤치 수거함 ${i},${pickType()},서울특별시 어딘가 ${i},${lat},${lng},,`);
  }
  return Buffer.from(lines.join('\n'));
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main() {
  const admin = new mods.pg.Client({ connectionString: ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${dbName}"`);
  const ds = new mods.typeorm.DataSource({
    type: 'postgres',
    url: dbUrl.toString(),
    migrations: mods.migrations.MIGRATIONS,
    migrationsTransactionMode: 'each',
    extra: { max: 4 },
    logging: ['error'],
  });
  const result = { points: POINTS, queries: QUERIES, import: {}, nearby: [], plans: {} };
  try {
    await ds.initialize();
    await ds.runMigrations({ transaction: 'each' });
    const repo = new mods.repo.CollectionPointsRepository(ds);

    const csv = generateCsv(POINTS);
    let t = performance.now();
    const first = await mods.importer.importCollectionPoints(repo, csv, { dataset: 'bench' });
    const firstMs = performance.now() - t;
    t = performance.now();
    const again = await mods.importer.importCollectionPoints(repo, csv, { dataset: 'bench' });
    const againMs = performance.now() - t;
    result.import = {
      rows: POINTS,
      csvBytes: csv.length,
      firstImport: {
        ms: Math.round(firstMs),
        rowsPerSec: Math.round(POINTS / (firstMs / 1000)),
        inserted: first.inserted,
      },
      reImport: {
        ms: Math.round(againMs),
        rowsPerSec: Math.round(POINTS / (againMs / 1000)),
        unchanged: again.unchanged,
      },
    };
    // Parsing alone, UTF-8 and CP949 (district files are often CP949).
    const cp949 = mods.iconv.encode(csv.toString('utf8'), 'cp949');
    const parseMs = {};
    for (const [name, bytes] of [
      ['utf8', csv],
      ['cp949', cp949],
    ]) {
      t = performance.now();
      mods.csv.parseCollectionPointsCsv(bytes);
      parseMs[name] = Math.round(performance.now() - t);
    }
    result.import.parseOnlyMs = parseMs;
    await ds.query('VACUUM ANALYZE locations.collection_points');

    const filters = [
      ['all types', undefined],
      ['battery', ['battery']],
      ['zero_waste_shop (0.5%)', ['zero_waste_shop']],
    ];
    for (const radiusM of RADII) {
      for (const [label, types] of filters) {
        const times = [];
        let found = 0;
        for (let i = 0; i < QUERIES + 20; i++) {
          const q = {
            lat: between(...SEOUL.lat),
            lng: between(...SEOUL.lng),
            radiusM,
            types,
            limit: 20,
          };
          const s = performance.now();
          const items = await repo.nearby(q);
          const ms = performance.now() - s;
          if (i >= 20) {
            times.push(ms); // the first 20 warm the cache and the connection pool
            found += items.length;
          }
        }
        times.sort((a, b) => a - b);
        result.nearby.push({
          radiusM,
          filter: label,
          p50: +percentile(times, 50).toFixed(2),
          p95: +percentile(times, 95).toFixed(2),
          p99: +percentile(times, 99).toFixed(2),
          avgResults: +(found / QUERIES).toFixed(1),
        });
      }
      result.plans[radiusM] = await repo.explainNearby(
        { lat: 37.5665, lng: 126.978, radiusM, limit: 20 },
        true,
      );
    }
  } finally {
    if (ds.isInitialized) await ds.destroy();
    if (!opts.keep) await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await admin.end();
  }

  if (opts.json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  const imp = result.import;
  console.log(
    `# locations nearby benchmark — ${POINTS} points, ${QUERIES} queries per row (PostgreSQL ${dbName}${opts.keep ? ', kept' : ''})\n`,
  );
  console.log(
    `import (CSV parse + upsert): first ${imp.firstImport.ms} ms = ${imp.firstImport.rowsPerSec} rows/s; ` +
      `re-import (all unchanged) ${imp.reImport.ms} ms = ${imp.reImport.rowsPerSec} rows/s; ` +
      `parse only: UTF-8 ${imp.parseOnlyMs.utf8} ms, CP949 ${imp.parseOnlyMs.cp949} ms\n`,
  );
  console.log('| radius m | types | p50 ms | p95 ms | p99 ms | avg results |');
  console.log('|---:|---|---:|---:|---:|---:|');
  for (const r of result.nearby) {
    console.log(
      `| ${r.radiusM} | ${r.filter} | ${r.p50} | ${r.p95} | ${r.p99} | ${r.avgResults} |`,
    );
  }
  for (const [radius, plan] of Object.entries(result.plans)) {
    console.log(`\nEXPLAIN ANALYZE, radius ${radius} m, Seoul City Hall, no filter:\n${plan}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
