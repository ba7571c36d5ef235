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
  const format = sniffFormat(buf);
  if (!format)
    throw new PermanentTaskError('INVALID_IMAGE', 'the file is not a JPEG, PNG or WebP image');
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
  try {
    const clean = await sharp(buf, { limitInputPixels: maxPixels, failOn: 'error' })
      .rotate() // apply EXIF orientation, then the orientation tag is gone with the rest
      .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: 88, mozjpeg: false })
      .toBuffer();
    const size = await sharp(clean).metadata();
    return { format, width: size.width!, height: size.height!, clean };
  } catch {
    throw new PermanentTaskError(
      'INVALID_IMAGE',
      'the image cannot be decoded (truncated or corrupt)',
    );
  }
}

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/**
 * 64-bit difference hash (dHash) of the picture: 9×8 greyscale, one bit per horizontal gradient.
 * Re-encoding, resizing and small crops change only a few bits; different photos differ in ~half.
 */
export async function differenceHash(buf: Buffer): Promise<string> {
  const px = await sharp(buf)
    .greyscale()
    .resize(9, 8, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
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
export async function fingerprint(clean: Buffer): Promise<string> {
  const [dhash, colour] = await Promise.all([
    differenceHash(clean),
    sharp(clean).removeAlpha().resize(3, 3, { fit: 'fill' }).raw().toBuffer(),
  ]);
  return `${dhash}.${colour.toString('hex')}`;
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

/** The copy sent to vision: upright, at most `side` px, JPEG. */
export async function preprocessForVision(
  clean: Buffer,
  side = 640,
): Promise<{ image: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(clean)
    .resize(side, side, { fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality: 82 })
    .toBuffer({ resolveWithObject: true });
  return { image: data, width: info.width, height: info.height };
}
