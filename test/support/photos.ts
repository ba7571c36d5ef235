import sharp from 'sharp';

/** Deterministic pseudo-random numbers (mulberry32), so a seed always draws the same photo. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A photo-like test image: a gradient background with a few shapes, all derived from `seed`,
 * so different seeds give visibly different pictures (and perceptual hashes).
 */
export async function makePhoto(
  seed: number,
  opts: {
    width?: number;
    height?: number;
    format?: 'jpeg' | 'png' | 'webp';
    gps?: boolean;
    quality?: number;
  } = {},
): Promise<Buffer> {
  const w = opts.width ?? 800;
  const h = opts.height ?? 600;
  const r = rng(seed);
  const c = () => `rgb(${Math.floor(r() * 255)},${Math.floor(r() * 255)},${Math.floor(r() * 255)})`;
  const shapes: string[] = [];
  for (let i = 0; i < 12; i++) {
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
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="${c()}"/><stop offset="1" stop-color="${c()}"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/>${shapes.join('')}</svg>`;
  let img = sharp(Buffer.from(svg));
  if (opts.gps) {
    img = img.withExif({
      IFD0: { Make: 'TestPhone', Model: 'Camera 1' },
      IFD3: {
        GPSLatitudeRef: 'N',
        GPSLatitude: '37/1 33/1 5879/100',
        GPSLongitudeRef: 'E',
        GPSLongitude: '126/1 58/1 4080/100',
      },
    });
  }
  const format = opts.format ?? 'jpeg';
  if (format === 'png') return img.png().toBuffer();
  if (format === 'webp') return img.webp({ quality: opts.quality ?? 85 }).toBuffer();
  return img.jpeg({ quality: opts.quality ?? 90 }).toBuffer();
}

/** The same picture, re-encoded smaller and cropped a little (a "near-identical" photo). */
export async function nearCopy(
  photo: Buffer,
  opts: { cropPct?: number; scale?: number; quality?: number } = {},
): Promise<Buffer> {
  const meta = await sharp(photo).metadata();
  const crop = opts.cropPct ?? 0.03;
  const left = Math.floor(meta.width! * crop);
  const top = Math.floor(meta.height! * crop);
  return sharp(photo)
    .extract({ left, top, width: meta.width! - 2 * left, height: meta.height! - 2 * top })
    .resize(Math.floor(meta.width! * (opts.scale ?? 0.7)))
    .jpeg({ quality: opts.quality ?? 70 })
    .toBuffer();
}
