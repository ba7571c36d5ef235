import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { RunningApp } from '../../src/app/bootstrap';
import { TaskPublisher } from '../../src/core/messaging/task-publisher';
import { RoutingKey } from '../../src/core/messaging/topology';
import { RedisService } from '../../src/core/redis/redis.service';
import { STORAGE_DRIVER, StorageDriver } from '../../src/core/storage/storage.driver';
import { DailyStatsService } from '../../src/modules/maintenance/analytics/daily-stats.service';
import { seoulDay } from '../../src/modules/maintenance/analytics/seoul-day.util';
import { ImageCacheService } from '../../src/modules/waste/pipeline/image-cache.service';
import { allKeys } from '../../src/modules/waste/pipeline/storage-keys';
import { waitFor } from '../support/amqp';
import { bootRole } from '../support/app';
import { Isolation, isolate } from '../support/isolation';

interface JobSpec {
  userId: string;
  status: string;
  /** SQL intervals relative to now. */
  createdAgo?: string;
  updatedAgo?: string;
  uploadExpiresIn?: string;
  withImages?: boolean;
}

describe('bulk housekeeping on real rows: watchdog, purge, image and cache cleanup', () => {
  let iso: Isolation;
  let app: RunningApp;
  let db: DataSource;
  let storage: StorageDriver;

  const publish = (key: RoutingKey, payload: object = {}) =>
    app.app.get(TaskPublisher).publish(key, payload);
  const status = async (id: string) =>
    (
      (await db.query(
        `SELECT status, error_code, finished_at, images_deleted_at FROM waste.jobs WHERE id = $1`,
        [id],
      )) as {
        status: string;
        error_code: string | null;
        finished_at: Date | null;
        images_deleted_at: Date | null;
      }[]
    )[0];
  const user = async () => {
    const id = randomUUID();
    await db.query(`INSERT INTO auth.users (id, nickname, is_guest) VALUES ($1, 'tester', true)`, [
      id,
    ]);
    return id;
  };
  const images = async (userId: string, jobId: string) =>
    (await Promise.all(allKeys(userId, jobId).map((k) => storage.head(k)))).filter(Boolean).length;

  async function job(s: JobSpec): Promise<string> {
    const id = randomUUID();
    await db.query(
      `INSERT INTO waste.jobs (id, user_id, status, content_type, content_length, storage_key,
                               upload_expires_at, created_at, updated_at, queued_at, finished_at)
       VALUES ($1, $2, $3::varchar, 'image/jpeg', 1000, $4, now() + $5::interval,
               now() - $6::interval, now() - $7::interval,
               CASE WHEN $3::varchar <> 'awaiting_upload' THEN now() - $6::interval END,
               CASE WHEN $3::varchar IN ('completed', 'failed') THEN now() - $7::interval END)`,
      [
        id,
        s.userId,
        s.status,
        allKeys(s.userId, id)[0],
        s.uploadExpiresIn ?? '10 minutes',
        s.createdAgo ?? '0 seconds',
        s.updatedAgo ?? s.createdAgo ?? '0 seconds',
      ],
    );
    if (s.withImages) {
      for (const key of allKeys(s.userId, id)) {
        await storage.put(key, Buffer.from(`image ${key}`), 'image/jpeg');
      }
    }
    return id;
  }

  beforeAll(async () => {
    iso = await isolate('cleanup');
    app = await bootRole(iso, {
      APP_ROLE: 'all',
      LOCATIONS_SAMPLE_DATA: 'false',
      JOB_TIMEOUT_SECONDS: '60',
      IMAGE_RETENTION_DAYS: '30',
    });
    db = app.app.get(DataSource);
    storage = app.app.get<StorageDriver>(STORAGE_DRIVER);
  });

  afterAll(async () => {
    await app?.close();
    await iso?.cleanup();
  });

  it('the watchdog expires uploads that never came and fails stuck jobs with TIMEOUT', async () => {
    const u = await user();
    const neverUploaded = await job({
      userId: u,
      status: 'awaiting_upload',
      createdAgo: '20 minutes',
      uploadExpiresIn: '-10 minutes',
    });
    const stillUploading = await job({ userId: u, status: 'awaiting_upload' });
    const stuckQueued = await job({ userId: u, status: 'queued', createdAgo: '5 minutes' });
    const stuckProcessing = await job({
      userId: u,
      status: 'processing',
      updatedAgo: '61 seconds',
    });
    const busy = await job({ userId: u, status: 'processing', updatedAgo: '10 seconds' });
    await publish(RoutingKey.SchedJobsWatchdog);
    await waitFor('the watchdog', async () => (await status(stuckProcessing)).status === 'failed');
    expect(await status(neverUploaded)).toMatchObject({ status: 'expired', error_code: null });
    expect((await status(neverUploaded)).finished_at).not.toBeNull();
    expect(await status(stuckQueued)).toMatchObject({ status: 'failed', error_code: 'TIMEOUT' });
    expect(await status(stuckProcessing)).toMatchObject({ error_code: 'TIMEOUT' });
    expect((await status(stillUploading)).status).toBe('awaiting_upload');
    expect((await status(busy)).status).toBe('processing');

    // They count in their days' numbers: one expired, two TIMEOUT failures, two still pending.
    // (The jobs were created up to 20 minutes ago: just after midnight in Seoul that is two days.)
    const days = [...new Set([seoulDay(new Date(Date.now() - 21 * 60_000)), seoulDay(new Date())])];
    const all = await Promise.all(days.map((d) => app.app.get(DailyStatsService).compute(d)));
    const sum = (f: (s: (typeof all)[number]) => number) => all.reduce((n, s) => n + f(s), 0);
    expect({
      expired: sum((s) => s.jobs.expired),
      failed: sum((s) => s.jobs.failed),
      pending: sum((s) => s.jobs.pending),
    }).toEqual({ expired: 1, failed: 2, pending: 2 });
    expect(sum((s) => s.failuresByCode.TIMEOUT?.count ?? 0)).toBe(2);
  });

  it('account.low.purge removes a deleted account’s jobs and images', async () => {
    const gone = randomUUID(); // never in auth.users: a deleted account
    const a = await job({ userId: gone, status: 'completed', withImages: true });
    const b = await job({ userId: gone, status: 'failed', withImages: true });
    const kept = await user();
    const c = await job({ userId: kept, status: 'completed', withImages: true });
    expect(await images(gone, a)).toBe(3);
    await publish(RoutingKey.AccountPurge, { userId: gone });
    await waitFor('the purge', async () => !(await status(a)) && !(await status(b)));
    expect(await images(gone, a)).toBe(0);
    expect(await images(gone, b)).toBe(0);
    expect(await images(kept, c)).toBe(3);
    expect((await status(c)).status).toBe('completed');
  });

  it('sched.cleanup.images deletes images past retention and of deleted accounts', async () => {
    const u = await user();
    const old = await job({
      userId: u,
      status: 'completed',
      createdAgo: '31 days',
      withImages: true,
    });
    const recent = await job({
      userId: u,
      status: 'completed',
      createdAgo: '29 days',
      withImages: true,
    });
    const gone = randomUUID();
    const orphan = await job({ userId: gone, status: 'completed', withImages: true });
    const orphanInFlight = await job({ userId: gone, status: 'processing', withImages: true });
    await publish(RoutingKey.SchedCleanupImages);
    await waitFor('the cleanup', async () => (await status(orphan)).images_deleted_at !== null);
    await waitFor('old images', async () => (await status(old)).images_deleted_at !== null);
    expect(await images(u, old)).toBe(0);
    expect(await images(gone, orphan)).toBe(0);
    expect(await images(u, recent)).toBe(3);
    expect((await status(recent)).images_deleted_at).toBeNull();
    // A job still running keeps its images until it ends (the next run takes them).
    expect(await images(gone, orphanInFlight)).toBe(3);
    // Rows stay: analytics and history keep working; only the pictures are gone.
    expect((await status(old)).status).toBe('completed');
  });

  it('sched.cleanup.cache prunes dead image-cache band members and stale refresh tokens', async () => {
    const redis = app.app.get(RedisService);
    const cache = app.app.get(ImageCacheService, { strict: false });
    const value = { items: [], model: 'test', visionMs: null };
    const [liveSha, deadSha] = [randomUUID().replace(/-/g, ''), randomUUID().replace(/-/g, '')];
    await cache.store(liveSha, 'aaaaaaaaaaaaaaab', value);
    await cache.store(deadSha, 'aaaaaaaaaaaaaaaa', value);
    await redis.client.del(redis.key('waste', 'img', deadSha)); // its entry expired
    const band0 = redis.key('waste', 'phash', 0, 'aa');
    expect((await redis.client.smembers(band0)).sort()).toHaveLength(2);

    const u = await user();
    const token = async (expires: string, revoked: string | null) => {
      const id = randomUUID();
      await db.query(
        `INSERT INTO auth.refresh_tokens (id, family_id, user_id, token_hash, expires_at, revoked_at)
         VALUES ($1, $1, $2, $3, now() + $4::interval, now() - $5::interval)`,
        [id, u, `hash-${id}`, expires, revoked],
      );
      return id;
    };
    const expiredLongAgo = await token('-2 days', null);
    const expiredJustNow = await token('-1 hour', null);
    const revokedLongAgo = await token('20 days', '2 days');
    const revokedJustNow = await token('20 days', '1 minute');
    const active = await token('20 days', null);

    await publish(RoutingKey.SchedCleanupCache);
    await waitFor('the band pruned', async () => (await redis.client.smembers(band0)).length === 1);
    expect(await redis.client.smembers(band0)).toEqual([`aaaaaaaaaaaaaaab:${liveSha}`]);
    expect(await redis.client.ttl(band0)).toBeGreaterThan(0);
    expect((await cache.lookup(liveSha, 'aaaaaaaaaaaaaaab'))?.kind).toBe('exact');
    const left = await waitFor('tokens deleted', async () => {
      const rows = (await db.query(`SELECT id FROM auth.refresh_tokens WHERE user_id = $1`, [
        u,
      ])) as { id: string }[];
      return rows.length === 3 ? rows.map((r) => r.id) : undefined;
    });
    expect(left.sort()).toEqual([expiredJustNow, revokedJustNow, active].sort());
    expect(left).not.toContain(expiredLongAgo);
    expect(left).not.toContain(revokedLongAgo);
  });
});
