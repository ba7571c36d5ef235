import sharp from 'sharp';
import { makePhoto, nearCopy } from '../../../../test/support/photos';
import {
  colourDistance,
  decodeAndClean,
  fingerprint,
  hammingHex,
  pixelFingerprint,
  sniffFormat,
  validateAndClean,
  visionCopy,
} from './image-processing';

const parts = (fp: string) => {
  const [dhash, colour] = fp.split('.');
  return { dhash, colour };
};

describe('near-duplicate fingerprint', () => {
  it('a re-encoded, resized, slightly cropped copy stays within the cache thresholds', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const photo = await makePhoto(seed);
      const a = parts(await fingerprint((await validateAndClean(photo, 4e7)).clean));
      const b = parts(
        await fingerprint(
          (
            await validateAndClean(
              await nearCopy(photo, { cropPct: 0.03, scale: 0.6, quality: 65 }),
              4e7,
            )
          ).clean,
        ),
      );
      expect(hammingHex(a.dhash, b.dhash)).toBeLessThanOrEqual(10);
      expect(colourDistance(a.colour, b.colour)).toBeLessThanOrEqual(32);
    }
  });

  it('the same shape in another colour is not a near duplicate (green vs clear bottle)', async () => {
    const bottle = (fill: string) =>
      sharp(
        Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="600" height="800">
        <rect width="100%" height="100%" fill="#d8d4cc"/>
        <rect x="220" y="120" width="160" height="560" rx="60" fill="${fill}"/>
        <rect x="265" y="60" width="70" height="80" fill="${fill}"/></svg>`),
      )
        .jpeg()
        .toBuffer();
    const clear = parts(await fingerprint(await bottle('#eef3f5')));
    const green = parts(await fingerprint(await bottle('#2e7d32')));
    expect(colourDistance(clear.colour, green.colour)).toBeGreaterThan(32);
  });

  it('different photos are far apart in dHash', async () => {
    const a = parts(await fingerprint(await makePhoto(11)));
    const b = parts(await fingerprint(await makePhoto(12)));
    expect(hammingHex(a.dhash, b.dhash)).toBeGreaterThan(10);
  });

  it('format is sniffed from the bytes, not the declared type', async () => {
    expect(sniffFormat(await makePhoto(1, { format: 'png', width: 20, height: 20 }))).toBe('png');
    expect(sniffFormat(await makePhoto(1, { format: 'webp', width: 20, height: 20 }))).toBe('webp');
    expect(sniffFormat(Buffer.from('GIF89a...'))).toBeUndefined();
  });

  it('the one-decode path (pixels) fingerprints like the clean copy, and makes the 640 px vision copy', async () => {
    for (const seed of [21, 22, 23]) {
      const decoded = await decodeAndClean(await makePhoto(seed), 4e7);
      const fromPixels = parts(await pixelFingerprint(decoded.pixels));
      const fromClean = parts(await fingerprint(decoded.clean));
      expect(hammingHex(fromPixels.dhash, fromClean.dhash)).toBeLessThanOrEqual(2);
      expect(colourDistance(fromPixels.colour, fromClean.colour)).toBeLessThanOrEqual(4);
      const vision = await visionCopy(decoded.pixels);
      const meta = await sharp(vision.image).metadata();
      expect(meta.format).toBe('jpeg');
      expect(Math.max(meta.width!, meta.height!)).toBe(Math.min(640, decoded.width));
      // The clean copy carries no metadata: only the pixels were encoded.
      const clean = await sharp(decoded.clean).metadata();
      expect(clean.exif).toBeUndefined();
      expect([clean.width, clean.height]).toEqual([decoded.width, decoded.height]);
    }
  });
});

describe('decodeAndClean: what a bad upload fails with', () => {
  const codeOf = (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (e: { code?: string; message: string }) => `${e.code}: ${e.message}`,
    );
  const solid = (width: number, height: number) =>
    sharp({ create: { width, height, channels: 3, background: '#336699' } });

  it('a JPEG over the pixel cap is IMAGE_TOO_LARGE with its size, refused before decoding', async () => {
    const bomb = await solid(3000, 2000).jpeg().toBuffer();
    expect(await codeOf(decodeAndClean(bomb, 1_000_000))).toBe(
      'IMAGE_TOO_LARGE: the image is 3000×2000 pixels, over the 1000000 limit',
    );
  });

  it('a truncated JPEG cannot be decoded; JPEG magic with garbage has no readable header', async () => {
    const photo = await makePhoto(7);
    expect(await codeOf(decodeAndClean(photo.subarray(0, photo.length / 2), 4e7))).toBe(
      'INVALID_IMAGE: the image cannot be decoded (truncated or corrupt)',
    );
    const garbage = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(200, 0x41)]);
    expect(await codeOf(decodeAndClean(garbage, 4e7))).toBe(
      'INVALID_IMAGE: the image header cannot be read',
    );
  });
});
