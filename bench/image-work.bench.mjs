// Image work per photo (issue 12, item 4): CPU (all threads: libvips runs on libuv's pool) and
// wall time of what the fast role does to one upload — validate, strip, sha256, fingerprint,
// vision copy — against a reference measured in the same run: one sharp decode + resize +
// encode of the same photo. Photo-like 800×600 JPEGs (bench/lib/photos.mjs), sequential, warmed.
//
//   npx nest build && node bench/image-work.bench.mjs [--photos 40] [--rounds 3] [--before DIR]
//
// --before: another build's dist/ (e.g. of an earlier commit): its image work is measured in the
// same run, for a before/after.
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { makePhoto } from './lib/photos.mjs';
import { round } from './lib/stats.mjs';
import { root } from './lib/sut.mjs';

const argv = process.argv.slice(2);
const opt = (n, d) => (argv.includes(`--${n}`) ? argv[argv.indexOf(`--${n}`) + 1] : d);
const N = Number(opt('photos', '40'));
const ROUNDS = Number(opt('rounds', '5'));

const load = (dist) =>
  createRequire(import.meta.url)(
    join(resolve(root, dist), 'modules', 'waste', 'pipeline', 'image-processing.js'),
  );
const img = load('dist');
const before = opt('before') ? load(opt('before')) : undefined;
sharp.cache(false);

const MAX_PIXELS = 40_000_000;
const paths = {
  /** What the fast role runs (src/modules/waste/pipeline/fast.handlers.ts). */
  pipeline: async (buf) => {
    const image = await img.decodeAndClean(buf, MAX_PIXELS);
    img.sha256(buf);
    await img.pixelFingerprint(image.pixels);
    await img.visionCopy(image.pixels);
  },
  /**
   * The --before build's path: the same one-decode steps when it has them, else the earlier
   * path where each derivative decoded the clean JPEG again.
   */
  [`before (${opt('before')})`]: before?.decodeAndClean
    ? async (buf) => {
        const image = await before.decodeAndClean(buf, MAX_PIXELS);
        before.sha256(buf);
        await before.pixelFingerprint(image.pixels);
        await before.visionCopy(image.pixels);
      }
    : before
      ? async (buf) => {
          const image = await before.validateAndClean(buf, MAX_PIXELS);
          before.sha256(buf);
          await before.fingerprint(image.clean);
          await before.preprocessForVision(image.clean);
        }
      : undefined,
  'reference: one decode + resize + encode': async (buf) => {
    await sharp(buf).resize(640, 640, { fit: 'inside' }).jpeg({ quality: 82 }).toBuffer();
  },
};

const photos = [];
for (let i = 0; i < N; i++) photos.push(await makePhoto(1000 + i));
const active = Object.entries(paths).filter(([, fn]) => fn);
for (const [, fn] of active) for (const p of photos.slice(0, 5)) await fn(p); // warm-up
const cpu = new Map(active.map(([n]) => [n, []]));
const wall = new Map(active.map(([n]) => [n, []]));
// Rounds interleave the paths, so the machine's other load falls on all of them alike.
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of active) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (const p of photos) await fn(p);
    const c = process.cpuUsage(c0);
    wall.get(name).push((performance.now() - t0) / photos.length);
    cpu.get(name).push((c.user + c.system) / 1000 / photos.length);
  }
}
// The median round: robust to a burst of load from elsewhere.
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const out = Object.fromEntries(
  active.map(([n]) => [
    n,
    { cpuMsPerPhoto: round(median(cpu.get(n)), 1), wallMsPerPhoto: round(median(wall.get(n)), 1) },
  ]),
);
const ref = out['reference: one decode + resize + encode'].cpuMsPerPhoto;
for (const [name, r] of Object.entries(out)) {
  console.log(
    `${name.padEnd(42)} ${String(r.cpuMsPerPhoto).padStart(6)} ms CPU/photo  ${String(r.wallMsPerPhoto).padStart(6)} ms wall  (${round(r.cpuMsPerPhoto / ref, 2)}× reference)`,
  );
}
console.log(
  `${N} photos 800×600, ${ROUNDS} rounds (median shown), UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}, sharp concurrency ${sharp.concurrency()}, load ${(
    await import('node:os')
  )
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
