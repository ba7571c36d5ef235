// Job row → JobEntity, 100,000 rows: the mapper generated from the entity's metadata
// (src/modules/waste/jobs/row-mapper.ts) against the hand-written mapping it replaced.
// Needs dist/ (`npx nest build`). `node bench/job-row-mapping.bench.mjs`
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { DataSource } = require('typeorm');
const { JobEntity } = require('../dist/modules/waste/jobs/job.entity.js');
const { rowMapper } = require('../dist/modules/waste/jobs/row-mapper.js');

const ds = new DataSource({ type: 'postgres', entities: [JobEntity] });
await ds.buildMetadatas();
const generated = rowMapper(JobEntity, ds.getMetadata(JobEntity).columns);

/** The hand mapping as it was in jobs.repository.ts before (the baseline). */
function hand(r) {
  const e = new JobEntity();
  Object.assign(e, {
    id: r.id,
    userId: r.user_id,
    status: r.status,
    stage: r.stage,
    progress: Number(r.progress),
    version: Number(r.version),
    contentType: r.content_type,
    contentLength: Number(r.content_length),
    hint: r.hint,
    locale: r.locale,
    lat: r.lat === null ? null : Number(r.lat),
    lng: r.lng === null ? null : Number(r.lng),
    storageKey: r.storage_key,
    uploadExpiresAt: r.upload_expires_at,
    imageSha256: r.image_sha256,
    imagePhash: r.image_phash,
    result: r.result,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    timings: r.timings ?? {},
    correction: r.correction,
    queuedAt: r.queued_at,
    finishedAt: r.finished_at,
    finalizedAt: r.finalized_at,
    imagesDeletedAt: r.images_deleted_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  });
  return e;
}

const N = 100_000;
const rows = Array.from({ length: N }, (_, i) => ({
  id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  user_id: '22222222-2222-4222-8222-222222222222',
  status: 'processing',
  stage: 'coaching',
  progress: 70,
  version: i,
  content_type: 'image/jpeg',
  content_length: 120_000,
  hint: null,
  locale: 'ko',
  lat: i % 2 ? 37.5 : null,
  lng: i % 2 ? 127.0 : null,
  storage_key: `u/${i}/original`,
  upload_expires_at: new Date(),
  image_sha256: 'a'.repeat(64),
  image_phash: 'b'.repeat(32),
  result: { items: [] },
  error_code: null,
  error_message: null,
  timings: { queue: 1 },
  correction: null,
  queued_at: new Date(),
  finished_at: null,
  finalized_at: null,
  images_deleted_at: null,
  created_at: new Date(),
  updated_at: new Date(),
}));

const run = (fn) => {
  let sum = 0;
  const t = process.hrtime.bigint();
  for (const r of rows) sum += fn(r).version;
  return [Number(process.hrtime.bigint() - t) / 1e6, sum];
};
const best = { hand: Infinity, generated: Infinity };
for (let round = 0; round < 15; round++) {
  for (const [name, fn] of [
    ['hand', hand],
    ['generated', generated],
  ]) {
    best[name] = Math.min(best[name], run(fn)[0]);
  }
}
for (const [name, ms] of Object.entries(best)) {
  console.log(
    `${name.padEnd(10)} ${ms.toFixed(1)} ms / ${N} rows  (${((ms * 1000) / N).toFixed(3)} µs/row)`,
  );
}
