import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { RunningApp } from '../../src/app/bootstrap';
import { TaskPublisher } from '../../src/core/messaging/task-publisher';
import { RoutingKey } from '../../src/core/messaging/topology';
import { waitFor } from '../support/amqp';
import { bootRole } from '../support/app';
import { bearer, guestLogin, TestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { makePhoto } from '../support/photos';
import { getJob, waitForEnd } from '../support/waste-client';

/** Raw uploads (EXIF/GPS) never outlive their job; a link takes one photo (docs/pipeline.md). */
describe('raw uploads: deleted when the job ends either way, one PUT per link, no empty directories', () => {
  let iso: Isolation;
  let app: RunningApp;
  let base: string;
  let root: string;

  beforeAll(async () => {
    iso = await isolate('rawuploads');
    app = await bootRole(iso, {
      APP_ROLE: 'all',
      VISION_PROVIDER: 'none',
      RATE_LIMIT_LOGIN_PER_IP: '0',
      RATE_LIMIT_ANALYZE_PER_USER: '0',
    });
    base = app.url!;
    root = iso.env.STORAGE_LOCAL_DIR;
  });
  afterAll(async () => {
    await app?.close();
    await iso?.cleanup();
  });

  async function analyze(who: TestLogin, bytes: Buffer) {
    const res = await fetch(`${base}/api/v1/waste/analyze`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(who) },
      body: JSON.stringify({
        contentType: 'image/jpeg',
        contentLength: bytes.length,
        hint: '페트병',
      }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as {
      jobId: string;
      upload: { url: string; headers: Record<string, string> };
    };
    const u = new URL(body.upload.url);
    const put = () =>
      fetch(`${base}${u.pathname}${u.search}`, {
        method: 'PUT',
        headers: body.upload.headers,
        body: bytes,
      });
    const complete = () =>
      fetch(`${base}/api/v1/waste/upload-complete/${body.jobId}`, {
        method: 'POST',
        headers: bearer(who),
      });
    return { jobId: body.jobId, put, complete };
  }

  const original = (who: TestLogin, jobId: string) =>
    join(root, 'uploads', who.user.id, jobId, 'original');

  it('a failed job (bytes that are not a photo) loses its original at once, directory included', async () => {
    const who = await guestLogin(base);
    const bad = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(2000, 7)]);
    const job = await analyze(who, bad);
    expect((await job.put()).status).toBe(200);
    expect(existsSync(original(who, job.jobId))).toBe(true);
    expect((await job.complete()).status).toBe(202);
    const ended = await waitForEnd(base, who.accessToken, job.jobId);
    expect(ended.status).toBe('failed');
    expect(ended.error!.code).toBe('INVALID_IMAGE');
    // Gone by the time the failure is visible, and no empty directories stay behind.
    expect(existsSync(original(who, job.jobId))).toBe(false);
    expect(existsSync(join(root, 'uploads', who.user.id))).toBe(false);
  });

  it('a completed job keeps only its clean copies; a second PUT to the link is a 409, before and after', async () => {
    const who = await guestLogin(base);
    const photo = await makePhoto(801);
    const job = await analyze(who, photo);
    expect((await job.put()).status).toBe(200);
    const again = await job.put();
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await again.json()) as { code: string }).code).toBe('UPLOAD_LINK_USED');
    expect((await job.complete()).status).toBe(202);
    expect((await waitForEnd(base, who.accessToken, job.jobId)).status).toBe('completed');
    const late = await job.put();
    expect(late.status).toBe(409);
    expect(existsSync(original(who, job.jobId))).toBe(false);
    expect(existsSync(join(root, 'uploads', who.user.id))).toBe(false);
    expect((await readdir(join(root, 'images', who.user.id, job.jobId))).sort()).toEqual(
      expect.arrayContaining(['clean.jpg']),
    );
  });

  it('an upload that was never confirmed is deleted when the job expires', async () => {
    const who = await guestLogin(base);
    const job = await analyze(who, await makePhoto(802));
    expect((await job.put()).status).toBe(200);
    // The link's lifetime passes (the watchdog expires jobs a minute after it).
    const db = app.app.get(DataSource);
    await db.query(
      `UPDATE waste.jobs SET upload_expires_at = now() - interval '2 minutes' WHERE id = $1`,
      [job.jobId],
    );
    await app.app.get(TaskPublisher).publish(RoutingKey.SchedJobsWatchdog, {});
    await waitFor('the job to expire', async () =>
      (await getJob(base, who.accessToken, job.jobId)).status === 'expired' ? true : undefined,
    );
    expect(existsSync(original(who, job.jobId))).toBe(false);
    expect(existsSync(join(root, 'uploads', who.user.id))).toBe(false);
    expect((await job.put()).status).toBe(409);
  });
});
