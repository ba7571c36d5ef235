import { existsSync } from 'node:fs';
import { request } from 'node:http';
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
    /**
     * A PUT whose body is held open after its first bytes until `release()` (or cut by
     * `abort()`): deterministic control over "a slow upload still in flight".
     */
    const held = () => {
      let req!: ReturnType<typeof request>;
      const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
        req = request(`${base}${u.pathname}${u.search}`, {
          method: 'PUT',
          headers: { ...body.upload.headers, 'content-length': String(bytes.length) },
        });
        req.on('response', (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        });
        req.on('error', reject);
      });
      req.write(bytes.subarray(0, 100));
      return {
        answer,
        release: () => req.end(bytes.subarray(100)),
        abort: () => {
          answer.catch(() => undefined); // the client side sees a reset: expected
          req.destroy();
        },
      };
    };
    return { jobId: body.jobId, put, complete, held };
  }

  const jobDir = (who: TestLogin, jobId: string) => join(root, 'uploads', who.user.id, jobId);
  /** The claim of an upload in flight (src/core/storage/local.driver.ts, `claimUpload`). */
  const claimed = (who: TestLogin, jobId: string) =>
    waitFor('the upload to be claimed', () =>
      existsSync(join(jobDir(who, jobId), 'original.upload')),
    );
  /** Neither the original nor any empty per-user or per-job directory is left. */
  const expectNoUpload = (who: TestLogin, jobId: string) => {
    expect(existsSync(original(who, jobId))).toBe(false);
    expect(existsSync(join(root, 'uploads', who.user.id))).toBe(false);
  };
  /** The link's lifetime passes and the watchdog (a minute after it) expires the job. */
  const expire = async (who: TestLogin, jobId: string) => {
    await app.app
      .get(DataSource)
      .query(
        `UPDATE waste.jobs SET upload_expires_at = now() - interval '2 minutes' WHERE id = $1`,
        [jobId],
      );
    await app.app.get(TaskPublisher).publish(RoutingKey.SchedJobsWatchdog, {});
    await waitFor('the job to expire', async () =>
      (await getJob(base, who.accessToken, jobId)).status === 'expired' ? true : undefined,
    );
  };
  const codeOf = async (res: Response) => ((await res.json()) as { code: string }).code;

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
    expectNoUpload(who, job.jobId);
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
    expectNoUpload(who, job.jobId);
    expect((await readdir(join(root, 'images', who.user.id, job.jobId))).sort()).toEqual(
      expect.arrayContaining(['clean.jpg']),
    );
  });

  it('an upload that was never confirmed is deleted when the job expires', async () => {
    const who = await guestLogin(base);
    const job = await analyze(who, await makePhoto(802));
    expect((await job.put()).status).toBe(200);
    await expire(who, job.jobId);
    expectNoUpload(who, job.jobId);
    expect((await job.put()).status).toBe(409);
  });

  it('concurrent PUTs to one link: exactly one stores the photo, the others are 409 UPLOAD_LINK_USED', async () => {
    const who = await guestLogin(base);
    const photo = await makePhoto(803);
    const job = await analyze(who, photo);
    // One in flight, held open: every other PUT meanwhile finds the link claimed.
    const slow = job.held();
    await claimed(who, job.jobId);
    const others = await Promise.all([job.put(), job.put()]);
    expect(others.map((r) => r.status)).toEqual([409, 409]);
    expect(await Promise.all(others.map(codeOf))).toEqual(['UPLOAD_LINK_USED', 'UPLOAD_LINK_USED']);
    // While the first has not finished there is no photo to confirm.
    expect((await job.complete()).status).toBe(409);
    slow.release();
    expect((await slow.answer).status).toBe(200);
    // And three at once, however they interleave: one 200, two 409.
    const next = await analyze(who, photo);
    const statuses = (await Promise.all([next.put(), next.put(), next.put()])).map((r) => r.status);
    expect(statuses.sort()).toEqual([200, 409, 409]);
    expect((await readdir(jobDir(who, next.jobId))).sort()).toEqual(['original', 'original.meta']);
  });

  it('a PUT that finishes after its job ended is refused and leaves no original, no directory', async () => {
    const who = await guestLogin(base);
    const job = await analyze(who, await makePhoto(804));
    const slow = job.held();
    await claimed(who, job.jobId);
    // The job ends while the body is still arriving.
    await expire(who, job.jobId);
    slow.release();
    const answer = await slow.answer;
    expect(answer.status).toBe(409);
    expect((JSON.parse(answer.body) as { code: string }).code).toBe('UPLOAD_LINK_USED');
    expectNoUpload(who, job.jobId);
  });

  it('an aborted PUT leaves no temp file or directory, and the link can then be used', async () => {
    const who = await guestLogin(base);
    const photo = await makePhoto(805);
    const job = await analyze(who, photo);
    const cut = job.held();
    await claimed(who, job.jobId);
    cut.abort();
    await waitFor('the aborted upload to be cleaned up', () =>
      existsSync(join(root, 'uploads', who.user.id)) ? undefined : true,
    );
    expect((await job.put()).status).toBe(200);
    expect((await job.complete()).status).toBe(202);
    expect((await waitForEnd(base, who.accessToken, job.jobId)).status).toBe('completed');
    expect(existsSync(join(root, 'uploads', who.user.id))).toBe(false);
  });
});
