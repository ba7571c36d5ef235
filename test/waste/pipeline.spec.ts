import sharp from 'sharp';
import { RunningApp } from '../../src/app/bootstrap';
import { STORAGE_DRIVER, StorageDriver } from '../../src/core/storage/storage.driver';
import { cleanKey, originalKey } from '../../src/modules/waste/pipeline/storage-keys';
import { DataSource } from 'typeorm';
import { QueueProbe } from '../support/amqp';
import { bootRole } from '../support/app';
import { bearer, guestLogin, TestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { makePhoto, nearCopy } from '../support/photos';
import { RoboflowStandin } from '../support/standins/roboflow.standin';
import { getJob, submitPhoto, waitForEnd } from '../support/waste-client';

describe('analysis pipeline end to end (all roles, real broker, stand-in Roboflow)', () => {
  let iso: Isolation;
  let app: RunningApp;
  let rf: RoboflowStandin;
  let user: TestLogin;
  let base: string;

  beforeAll(async () => {
    iso = await isolate('pipeline');
    rf = await new RoboflowStandin().start();
    app = await bootRole(iso, {
      APP_ROLE: 'all',
      ...rf.env,
      RATE_LIMIT_LOGIN_PER_IP: '0',
      LOCATIONS_SAMPLE_DATA: 'false',
    });
    base = app.url!;
    user = await guestLogin(base);
  });

  afterAll(async () => {
    await app?.close();
    await rf?.close();
    await iso?.cleanup();
  });

  const storage = () => app.app.get<StorageDriver>(STORAGE_DRIVER);

  it('photo in, guidance and coaching out; EXIF GPS never leaves or stays', async () => {
    const photo = await makePhoto(1, { gps: true });
    expect((await sharp(photo).metadata()).exif).toBeDefined();
    const before = rf.calls.length;
    const { jobId, complete } = await submitPhoto(base, user.accessToken, photo, { hint: '물병' });
    expect(complete.status).toBe(202);
    expect(((await complete.json()) as { status: string }).status).toBe('queued');
    const job = await waitForEnd(base, user.accessToken, jobId);
    expect(job.status).toBe('completed');
    expect(job.progress).toBe(100);
    expect(job.error).toBeNull();
    const item = job.result!.items[0];
    expect(item.label).toBe('Clear plastic bottle');
    expect(item.category.id).toBe('clear-pet');
    expect(item.steps.length).toBeGreaterThan(0);
    expect(item.box).toEqual({
      x: expect.any(Number),
      y: expect.any(Number),
      width: expect.any(Number),
      height: expect.any(Number),
    });
    expect(job.result!.coaching).toEqual({ message: expect.any(String), source: 'rules' });
    expect(job.result!.cache).toEqual({ hit: false, kind: null, source: null });
    expect(job.result!.timings.totalMs).toBeGreaterThan(0);

    // What reached the vision provider: a JPEG of at most 640 px with no metadata at all.
    expect(rf.calls.length).toBe(before + 1);
    const sent = await sharp(rf.calls[before].image).metadata();
    expect(sent.format).toBe('jpeg');
    expect(Math.max(sent.width!, sent.height!)).toBeLessThanOrEqual(640);
    expect(sent.exif).toBeUndefined();
    expect(rf.calls[before].contentType).toBe('application/x-www-form-urlencoded');
    // What we keep: the clean copy only; the original with its GPS tags is gone.
    const clean = await storage().get(cleanKey(user.user.id, jobId), 10e6);
    expect((await sharp(clean!).metadata()).exif).toBeUndefined();
    expect(await storage().head(originalKey(user.user.id, jobId))).toBeUndefined();

    // One history row, with the categories.
    const db = app.app.get(DataSource);
    const rows = (await db.query('SELECT items FROM users.history WHERE job_id = $1', [jobId])) as {
      items: { categoryId: string }[];
    }[];
    expect(rows).toHaveLength(1);
    expect(rows[0].items[0].categoryId).toBe('clear-pet');
  });

  it('the same photo again is answered from cache (exact), without vision', async () => {
    const photo = await makePhoto(2);
    const first = await submitPhoto(base, user.accessToken, photo);
    expect((await waitForEnd(base, user.accessToken, first.jobId)).result!.cache.hit).toBe(false);
    const calls = rf.calls.length;
    const again = await submitPhoto(base, user.accessToken, photo);
    const job = await waitForEnd(base, user.accessToken, again.jobId);
    expect(job.status).toBe('completed');
    expect(job.result!.cache).toEqual({ hit: true, kind: 'exact', source: 'vision' });
    expect(job.result!.items[0].category.id).toBe('clear-pet');
    expect(rf.calls.length).toBe(calls);
  });

  it('a re-encoded, resized, slightly cropped copy is a similar hit; a different photo is not', async () => {
    const photo = await makePhoto(3);
    await waitForEnd(
      base,
      user.accessToken,
      (await submitPhoto(base, user.accessToken, photo)).jobId,
    );
    const calls = rf.calls.length;
    const near = await nearCopy(photo, { cropPct: 0.03, scale: 0.6, quality: 65 });
    const job = await waitForEnd(
      base,
      user.accessToken,
      (await submitPhoto(base, user.accessToken, near)).jobId,
    );
    expect(job.result!.cache).toEqual({ hit: true, kind: 'similar', source: 'vision' });
    expect(rf.calls.length).toBe(calls);
    // The near copy's own bytes are now an exact entry.
    const again = await waitForEnd(
      base,
      user.accessToken,
      (await submitPhoto(base, user.accessToken, near)).jobId,
    );
    expect(again.result!.cache).toEqual({ hit: true, kind: 'exact', source: 'vision' });
    const other = await waitForEnd(
      base,
      user.accessToken,
      (await submitPhoto(base, user.accessToken, await makePhoto(4))).jobId,
    );
    expect(other.result!.cache.hit).toBe(false);
    expect(rf.calls.length).toBe(calls + 1);
  });

  it('bytes that are not an image fail INVALID_IMAGE at once, not via the dead-letter queue', async () => {
    const fake = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2000, 7)]);
    const calls = rf.calls.length;
    const { jobId } = await submitPhoto(base, user.accessToken, fake);
    const job = await waitForEnd(base, user.accessToken, jobId);
    expect(job.status).toBe('failed');
    expect(job.error!.code).toBe('INVALID_IMAGE');
    const text = Buffer.from('hello, not a picture at all');
    const txt = await waitForEnd(
      base,
      user.accessToken,
      (await submitPhoto(base, user.accessToken, text)).jobId,
    );
    expect(txt.error!.code).toBe('INVALID_IMAGE');
    expect(rf.calls.length).toBe(calls);
    const probe = await QueueProbe.connect(iso.rabbitUrl);
    const dead = await probe.drain('q.dlq');
    await probe.close();
    const pipelineDead = dead.filter((m) => String(m.fields.routingKey).startsWith('waste.'));
    expect(pipelineDead).toHaveLength(0);
  });

  it('a decompression bomb (huge pixel count in a small file) fails IMAGE_TOO_LARGE', async () => {
    const bomb = await sharp({
      create: { width: 9000, height: 9000, channels: 3, background: '#fff' },
    })
      .png()
      .toBuffer();
    expect(bomb.length).toBeLessThan(2_000_000);
    const { jobId } = await submitPhoto(base, user.accessToken, bomb, { contentType: 'image/png' });
    const job = await waitForEnd(base, user.accessToken, jobId);
    expect(job.error!.code).toBe('IMAGE_TOO_LARGE');
  });

  it('PNG and WebP are accepted by content', async () => {
    for (const format of ['png', 'webp'] as const) {
      const photo = await makePhoto(10 + format.length, { format, width: 400, height: 300 });
      const { jobId } = await submitPhoto(base, user.accessToken, photo, {
        contentType: `image/${format}`,
      });
      expect((await waitForEnd(base, user.accessToken, jobId)).status).toBe('completed');
    }
  });

  it('status reads the Redis snapshot and falls back to PostgreSQL', async () => {
    const { jobId } = await submitPhoto(base, user.accessToken, await makePhoto(20));
    const done = await waitForEnd(base, user.accessToken, jobId);
    const redis = new (await import('ioredis')).default(iso.env.REDIS_URL);
    await redis.del(`${iso.redisPrefix}:waste:job:${jobId}`);
    await redis.quit();
    const fromDb = await getJob(base, user.accessToken, jobId);
    expect(fromDb).toEqual(done);
  });

  it('history detail returns the job', async () => {
    const { jobId } = await submitPhoto(base, user.accessToken, await makePhoto(21));
    await waitForEnd(base, user.accessToken, jobId);
    const res = await fetch(`${base}/api/v1/users/me/history/${jobId}`, { headers: bearer(user) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { jobId: string }).jobId).toBe(jobId);
  });
});
