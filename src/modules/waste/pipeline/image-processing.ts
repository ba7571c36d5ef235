import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { PermanentTaskError } from '../../../core/messaging/task.errors';

// Every photo is decoded once: libvips' operation cache (50 MB by default) would only hold
// memory that the next photo never reuses.
sharp.cache(false);

export type ImageFormat = 'jpeg' | 'png' | 'webp';

/** The format the bytes really are (magic numbers), whatever the client declared. */
export function sniffFormat(buf: Buffer): ImageFormat | undefined {
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  if (
    buf.length >= 8 &&
    buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
  ) {
    return 'png';
  }
  if (
    buf.length >= 12 &&
    buf.toString('ascii', 0, 4) === 'RIFF' &&
    buf.toString('ascii', 8, 12) === 'WEBP'
  ) {
    return 'webp';
  }
  return undefined;
}

export const MIME: Record<ImageFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
};

export interface ValidatedImage {
  format: ImageFormat;
  width: number;
  height: number;
  /** Re-encoded JPEG, auto-oriented, every metadata block (EXIF, GPS, XMP, ICC) dropped. */
  clean: Buffer;
}

/**
 * Validates by content (magic bytes, header, full decode), refuses decompression bombs before
 * decoding (pixel cap from the header), and re-encodes without metadata. Bad input is a
 * permanent failure: retrying cannot fix it.
 */
export async function validateAndClean(
  buf: Buffer,
  maxPixels: number,
  maxSide = 2048,
): Promise<ValidatedImage> {
  const { format, width, height, clean } = await decodeAndClean(buf, maxPixels, maxSide);
  return { format, width, height, clean };
}

/** Upright, flattened 8-bit pixels: what `clean` encodes, and what every derivative is made from. */
export interface Pixels {
  data: Buffer;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

export interface DecodedImage extends ValidatedImage {
  pixels: Pixels;
}

const fromPixels = (p: Pixels) =>
  sharp(p.data, { raw: { width: p.width, height: p.height, channels: p.channels } });

/**
 * `validateAndClean` with one decode: the upload is decoded once to pixels (validated by that
 * full decode), the clean copy is encoded from them, and the fingerprint and the vision copy are
 * derived from the same pixels (`pixelFingerprint`, `visionCopy`) instead of decoding the clean
 * JPEG again for each (docs/benchmarks.md, "per photo": 4 decodes became 1).
 */
export async function decodeAndClean(
  buf: Buffer,
  maxPixels: number,
  maxSide = 2048,
): Promise<DecodedImage> {
  const { format, pixels } = await decodeImage(buf, maxPixels, maxSide);
  const clean = await cleanJpeg(pixels);
  return { format, width: pixels.width, height: pixels.height, clean, pixels };
}

/**
 * The validation: the format by its magic bytes, the pixel cap, and one full decode to upright
 * pixels no larger than `maxSide` (bad input is a permanent failure: retrying cannot fix it).
 * The pipeline derives the clean copy (`cleanJpeg`) beside the fingerprint and the vision copy.
 */
export async function decodeImage(
  buf: Buffer,
  maxPixels: number,
  maxSide = 2048,
): Promise<{ format: ImageFormat; pixels: Pixels }> {
  const format = sniffFormat(buf);
  if (!format)
    throw new PermanentTaskError('INVALID_IMAGE', 'the file is not a JPEG, PNG or WebP image');
  // PNG and WebP can be animated: their pages count against the pixel cap, which only the header
  // tells, so they are checked first. A JPEG has one page, and the decode's own
  // `limitInputPixels` refuses the same images from the header before decoding; its header is
  // read again only to explain a failure (one sharp call less per photo, ~1.4 ms of CPU:
  // bench/image-work.bench.mjs).
  if (format !== 'jpeg') await checkHeader(buf, maxPixels);
  try {
    const { data, info } = await sharp(buf, { limitInputPixels: maxPixels, failOn: 'error' })
      .rotate() // apply EXIF orientation; the pixels carry no metadata at all
      .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return {
      format,
      pixels: { data, width: info.width, height: info.height, channels: info.channels },
    };
  } catch {
    if (format === 'jpeg') await checkHeader(buf, maxPixels);
    throw new PermanentTaskError(
      'INVALID_IMAGE',
      'the image cannot be decoded (truncated or corrupt)',
    );
  }
}

/** The clean copy: the pixels re-encoded as JPEG, with no metadata block at all. */
export function cleanJpeg(p: Pixels): Promise<Buffer> {
  return fromPixels(p).jpeg({ quality: 88, mozjpeg: false }).toBuffer();
}

/** The header: readable, with dimensions, and within the pixel cap (all pages). */
async function checkHeader(buf: Buffer, maxPixels: number): Promise<void> {
  let meta: sharp.Metadata;
  try {
    meta = await sharp(buf, { limitInputPixels: false }).metadata();
  } catch {
    throw new PermanentTaskError('INVALID_IMAGE', 'the image header cannot be read');
  }
  if (!meta.width || !meta.height || meta.format === undefined) {
    throw new PermanentTaskError('INVALID_IMAGE', 'the image has no dimensions');
  }
  const pages = meta.pages ?? 1;
  if (meta.width * meta.height * pages > maxPixels) {
    throw new PermanentTaskError(
      'IMAGE_TOO_LARGE',
      `the image is ${meta.width}×${meta.height}${pages > 1 ? `×${pages}` : ''} pixels, over the ${maxPixels} limit`,
    );
  }
}

const THUMB = 72; // divisible by 9 and 8 (dHash cells) and by 3 (colour cells)

/**
 * `fingerprint` from decoded pixels (no decode): one sharp reduction to 72×72, then the 9×8
 * greyscale and 3×3 colour cells are box averages of it, in JS (5,184 pixels). Each extra sharp
 * pipeline costs ~1.4 ms of CPU however small its image (bench/image-work.bench.mjs), and the
 * earlier greyscale + lanczos3 pass over the full picture ~5.5 ms.
 */
export async function pixelFingerprint(p: Pixels): Promise<string> {
  const { data, info } = await fromPixels(p)
    .resize(THUMB, THUMB, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const ch = info.channels;
  const colours = ch >= 3 ? 3 : 1; // alpha (if any) is not a colour
  const at = (x: number, y: number, c: number) => data[(y * THUMB + x) * ch + c];
  const luma = (x: number, y: number) =>
    colours === 3 ? 0.299 * at(x, y, 0) + 0.587 * at(x, y, 1) + 0.114 * at(x, y, 2) : at(x, y, 0);
  const cell = (
    x0: number,
    y0: number,
    w: number,
    h: number,
    f: (x: number, y: number) => number,
  ) => {
    let sum = 0;
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) sum += f(x, y);
    return sum / (w * h);
  };
  const grey: number[] = [];
  for (let gy = 0; gy < 8; gy++)
    for (let gx = 0; gx < 9; gx++) grey.push(cell(gx * 8, gy * 9, 8, 9, luma));
  const colour = Buffer.alloc(9 * colours);
  for (let cy = 0; cy < 3; cy++)
    for (let cx = 0; cx < 3; cx++)
      for (let c = 0; c < colours; c++)
        colour[(cy * 3 + cx) * colours + c] = Math.round(
          cell(cx * 24, cy * 24, 24, 24, (x, y) => at(x, y, c)),
        );
  return `${dhashOf(grey)}.${colour.toString('hex')}`;
}

/** `preprocessForVision` from the pixels (no decode). */
export async function visionCopy(
  p: Pixels,
  side = 640,
): Promise<{ image: Buffer; width: number; height: number }> {
  const { data, info } = await fromPixels(p)
    .resize(side, side, { fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality: 82 })
    .toBuffer({ resolveWithObject: true });
  return { image: data, width: info.width, height: info.height };
}

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/**
 * 64-bit difference hash (dHash) from a 9×8 greyscale thumbnail: one bit per horizontal gradient.
 * Re-encoding, resizing and small crops change only a few bits; different photos differ in ~half.
 */
function dhashOf(px: ArrayLike<number>): string {
  let bits = 0n;
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) {
      bits = (bits << 1n) | (px[y * 9 + x] > px[y * 9 + x + 1] ? 1n : 0n);
    }
  }
  return bits.toString(16).padStart(16, '0');
}

/**
 * What the near-duplicate cache compares: the dHash (shape, 16 hex) and a 3×3 colour thumbnail
 * (27 bytes, 54 hex), as `<dhash>.<colour>`. dHash is greyscale: alone it cannot tell a green
 * bottle from a clear one of the same shape, and colour is what decides the bin there.
 */
export async function fingerprint(image: Buffer): Promise<string> {
  const { data, info } = await sharp(image)
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return pixelFingerprint({
    data,
    width: info.width,
    height: info.height,
    channels: info.channels,
  });
}

/** Largest per-channel difference between two colour thumbnails (0–255). */
export function colourDistance(a: string, b: string): number {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  if (x.length !== y.length || !x.length) return 255;
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i] - y[i]));
  return max;
}

export function hammingHex(a: string, b: string): number {
  let x = BigInt(`0x${a}`) ^ BigInt(`0x${b}`);
  let n = 0;
  while (x) {
    n += Number(x & 1n);
    x >>= 1n;
  }
  return n;
}
