import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { DataSource } from 'typeorm';
import { RunningApp } from '../../src/app/bootstrap';
import { S3StorageDriver } from '../../src/core/storage/s3.driver';
import { STORAGE_DRIVER, StorageDriver } from '../../src/core/storage/storage.driver';
import { WasteBulkHandlers } from '../../src/modules/waste/pipeline/bulk.handler';
import { cleanKey, originalKey } from '../../src/modules/waste/pipeline/storage-keys';
import { bootRole } from '../support/app';
import { bearer, guestLogin, TestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { makePhoto } from '../support/photos';
import { waitForEnd } from '../support/waste-client';

// s3rver: an S3-compatible server (path-style, SigV4, presigned URLs) on 127.0.0.1.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver') as new (opts: Record<string, unknown>) => {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
};

describe('the s3 storage driver against an S3-compatible server', () => {
  let iso: Isolation;
  let app: RunningApp;
  let s3: InstanceType<typeof S3rver>;
  let endpoint: string;
  let dir: string;
  let user: TestLogin;
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

  beforeAll(async () => {
    iso = await isolate('s3');
    dir = mkdtempSync(join(tmpdir(), 's3rver-'));
    s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir });
    const { port } = await s3.run();
    endpoint = `http://127.0.0.1:${port}`;
    // s3rver's fixed development credentials; the SDK reads them from the standard variables.
    process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
    app = await bootRole(iso, {
      APP_ROLE: 'all',
      STORAGE_DRIVER: 's3',
      S3_BUCKET: 'waste-test',
      S3_REGION: 'us-east-1',
      S3_ENDPOINT: endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      VISION_PROVIDER: 'none',
      RATE_LIMIT_LOGIN_PER_IP: '0',
      LOCATIONS_SAMPLE_DATA: 'false',
    });
    const driver = app.app.get<StorageDriver>(STORAGE_DRIVER) as S3StorageDriver;
    await driver.client.send(new CreateBucketCommand({ Bucket: 'waste-test' }));
    user = await guestLogin(app.url!);
  });

  afterAll(async () => {
    await app?.close();
    await s3?.close();
    rmSync(dir, { recursive: true, force: true });
    process.env.AWS_ACCESS_KEY_ID = saved.id;
    process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    await iso?.cleanup();
  });

  const analyze = async (photo: Buffer, hint = '캔') => {
    const res = await fetch(`${app.url}/api/v1/waste/analyze`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(user) },
      body: JSON.stringify({ contentType: 'image/jpeg', contentLength: photo.length, hint }),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as {
      jobId: string;
      upload: { url: string; method: string; headers: Record<string, string> };
    };
  };

  it('presigned PUT straight to the store, then the whole pipeline reads and cleans it there', async () => {
    const photo = await makePhoto(300, { gps: true });
    const { jobId, upload } = await analyze(photo);
    expect(upload.url.startsWith(`${endpoint}/waste-test/`)).toBe(true);
    expect(upload.url).toContain('X-Amz-Signature=');
    const put = await fetch(upload.url, {
      method: upload.method,
      headers: upload.headers,
      body: photo,
    });
    expect(put.status).toBe(200);
    const complete = await fetch(`${app.url}/api/v1/waste/upload-complete/${jobId}`, {
      method: 'POST',
      headers: bearer(user),
    });
    expect(complete.status).toBe(202);
    const job = await waitForEnd(app.url!, user.accessToken, jobId);
    expect(job.status).toBe('completed');
    const driver = app.app.get<StorageDriver>(STORAGE_DRIVER);
    expect(await driver.head(originalKey(user.user.id, jobId))).toBeUndefined();
    const clean = await driver.get(cleanKey(user.user.id, jobId), 10e6);
    expect((await sharp(clean!).metadata()).exif).toBeUndefined();
  });

  it('the link signs type and size; the upload is verified again at upload-complete', async () => {
    const photo = await makePhoto(301);
    const { jobId, upload } = await analyze(photo);
    const signed = new URL(upload.url).searchParams.get('X-Amz-SignedHeaders')!.split(';');
    expect(signed).toEqual(expect.arrayContaining(['content-type', 'content-length', 'host']));
    const complete = () =>
      fetch(`${app.url}/api/v1/waste/upload-complete/${jobId}`, {
        method: 'POST',
        headers: bearer(user),
      });
    const early = await complete();
    expect(early.status).toBe(409);
    expect(((await early.json()) as { code: string }).code).toBe('UPLOAD_MISSING');
    // Real S3 refuses this PUT (signature mismatch); s3rver does not check signed headers, so
    // the object lands: upload-complete still catches the wrong type.
    await fetch(upload.url, {
      method: 'PUT',
      headers: { 'Content-Type': 'image/png' },
      body: photo,
    });
    const mismatch = await complete();
    expect(mismatch.status).toBe(409);
    expect(((await mismatch.json()) as { code: string }).code).toBe('UPLOAD_MISMATCH');
  });

  it('an original a late PUT wrote after its job ended is deleted once the link expires', async () => {
    const photo = await makePhoto(302, { gps: true });
    const { jobId, upload } = await analyze(photo);
    const put = () =>
      fetch(upload.url, { method: upload.method, headers: upload.headers, body: photo });
    expect((await put()).status).toBe(200);
    const complete = await fetch(`${app.url}/api/v1/waste/upload-complete/${jobId}`, {
      method: 'POST',
      headers: bearer(user),
    });
    expect(complete.status).toBe(202);
    expect((await waitForEnd(app.url!, user.accessToken, jobId)).status).toBe('completed');
    const driver = app.app.get<StorageDriver>(STORAGE_DRIVER);
    const key = originalKey(user.user.id, jobId);
    expect(await driver.head(key)).toBeUndefined();
    // The store takes the repeated presigned PUT: the original (GPS included) is back.
    expect((await put()).status).toBe(200);
    expect(await driver.head(key)).toBeDefined();
    // The link expires (the job had ended before); the next watchdog tick deletes it again.
    await app.app.get(DataSource).query(
      `UPDATE waste.jobs SET finished_at = now() - interval '3 minutes',
            upload_expires_at = now() - interval '2 minutes' WHERE id = $1`,
      [jobId],
    );
    const report = await app.app.get(WasteBulkHandlers).watchdog();
    expect(report.lateOriginals).toBeGreaterThanOrEqual(1);
    expect(await driver.head(key)).toBeUndefined();
    expect(await driver.head(cleanKey(user.user.id, jobId))).toBeDefined();
  });

  it('driver basics: head, bounded get, delete, ping', async () => {
    const driver = app.app.get<StorageDriver>(STORAGE_DRIVER);
    await driver.put('probe/a.bin', Buffer.alloc(1000, 1), 'application/octet-stream');
    expect(await driver.head('probe/a.bin')).toEqual({
      size: 1000,
      contentType: 'application/octet-stream',
    });
    await expect(driver.get('probe/a.bin', 10)).rejects.toThrow(/over the limit/);
    expect((await driver.get('probe/a.bin', 1000))!.length).toBe(1000);
    await driver.delete(['probe/a.bin', 'probe/missing.bin']);
    expect(await driver.head('probe/a.bin')).toBeUndefined();
    expect(await driver.get('probe/a.bin', 1000)).toBeUndefined();
    expect(await driver.ping()).toBe(true);
  });
});
