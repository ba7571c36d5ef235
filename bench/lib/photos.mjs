// The bench's photos: photo-like generated JPEGs (a gradient with shapes, derived from a seed, as
// in test/support/photos.ts), kept on disk under .tmp/bench/photos so a run reuses them, plus
// re-encoded near-copies (cropped 3 %, scaled, lower quality) for the similar-image cache.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function makePhoto(seed, w = 800, h = 600) {
  const r = rng(seed * 7919 + 17);
  const c = () => `rgb(${Math.floor(r() * 255)},${Math.floor(r() * 255)},${Math.floor(r() * 255)})`;
  const shapes = [];
  for (let i = 0; i < 14; i++) {
    const x = Math.floor(r() * w);
    const y = Math.floor(r() * h);
    const s = Math.floor(40 + r() * (w / 3));
    shapes.push(
      r() > 0.5
        ? `<circle cx="${x}" cy="${y}" r="${s / 2}" fill="${c()}"/>`
        : `<rect x="${x - s / 2}" y="${y - s / 3}" width="${s}" height="${(s * 2) / 3}" fill="${c()}" transform="rotate(${Math.floor(r() * 90)} ${x} ${y})"/>`,
    );
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">
    <defs><linearGradient id="g" x1="${r().toFixed(2)}" y1="0" x2="1" y2="${r().toFixed(2)}"><stop offset="0" stop-color="${c()}"/><stop offset="1" stop-color="${c()}"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/>${shapes.join('')}</svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 88 }).toBuffer();
}

export async function nearCopy(photo, seed) {
  const r = rng(seed * 31 + 5);
  const meta = await sharp(photo).metadata();
  const crop = 0.01 + r() * 0.02;
  const left = Math.floor(meta.width * crop);
  const top = Math.floor(meta.height * crop);
  return sharp(photo)
    .extract({ left, top, width: meta.width - 2 * left, height: meta.height - 2 * top })
    .resize(Math.floor(meta.width * (0.55 + r() * 0.3)))
    .jpeg({ quality: 60 + Math.floor(r() * 25) })
    .toBuffer();
}

/**
 * `count` distinct photos and one near-copy of each, from the disk cache when present.
 * Returns { originals: Buffer[], near: Buffer[] }.
 */
export async function photoPool(root, count) {
  const dir = join(root, '.tmp', 'bench', 'photos-v1');
  await mkdir(dir, { recursive: true });
  const originals = new Array(count);
  const near = new Array(count);
  const work = [];
  for (let i = 0; i < count; i++) {
    work.push(async () => {
      const o = join(dir, `${i}.jpg`);
      const n = join(dir, `${i}.near.jpg`);
      try {
        originals[i] = await readFile(o);
        near[i] = await readFile(n);
      } catch {
        originals[i] = await makePhoto(i + 1);
        near[i] = await nearCopy(originals[i], i + 1);
        await writeFile(o, originals[i]);
        await writeFile(n, near[i]);
      }
    });
  }
  // A few at a time: sharp has its own thread pool.
  const lanes = 4;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = lane; i < work.length; i += lanes) await work[i]();
    }),
  );
  return { originals, near };
}
