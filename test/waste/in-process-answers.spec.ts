import Redis from 'ioredis';
import { DataSource } from 'typeorm';
import { RunningApp } from '../../src/app/bootstrap';
import { RedisSubscriber } from '../../src/core/redis/redis-subscriber';
import { jobEventsChannel } from '../../src/modules/waste/jobs/job-events';
import { JobsService } from '../../src/modules/waste/jobs/jobs.service';
import { StatusSnapshots } from '../../src/modules/waste/jobs/status-snapshots';
import { Tokens, call } from '../auth/http';
import { waitFor } from '../support/amqp';
import { bootRole } from '../support/app';
import { familyOf } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { TcpProxy, viaProxy } from '../support/tcp-proxy';

/**
 * What an API process answers from memory (docs/architecture.md → In-process answers): status
 * snapshots and deny-list answers are kept while the process hears the job and revocation
 * channels without a gap, replaced by what it hears, and dropped when the subscriber connection
 * drops. Two replicas on the real Redis: replica 0 (`all`) makes the changes, replica 1 (`api`)
 * is polled.
 */
describe('in-process answers', () => {
  let iso: Isolation;
  let apps: RunningApp[];
  let redis: Redis;

  beforeAll(async () => {
    iso = await isolate('inprocess');
    const env = { RATE_LIMIT_LOGIN_PER_IP: '0', VISION_PROVIDER: 'none' };
    const first = await bootRole(iso, { ...env, APP_ROLE: 'all', ALL_ROLE_THREADS: 'off' });
    apps = [first, await bootRole(iso, { ...env, APP_ROLE: 'api' })];
    redis = new Redis(iso.env.REDIS_URL);
  });
  afterAll(async () => {
    redis?.disconnect();
    await Promise.all((apps ?? []).map((a) => a.close()));
    await iso?.cleanup();
  });

  const api = (replica: number) => `${apps[replica].url}/api/v1`;
  const guest = async () => (await call<Tokens>('POST', `${api(0)}/auth/guest`, { body: {} })).body;
  const status = (replica: number, token: string, jobId: string) =>
    call<{ status: string; progress: number }>('GET', `${api(replica)}/waste/status/${jobId}`, {
      token,
    });
  const snapshotKey = (jobId: string) => `${iso.redisPrefix}:waste:job:${jobId}`;

  async function analyze(token: string): Promise<string> {
    const res = await call<{ jobId: string }>('POST', `${api(0)}/waste/analyze`, {
      token,
      body: { contentType: 'image/jpeg', contentLength: 1234 },
    });
    expect(res.status).toBe(201);
    return res.body.jobId;
  }

  /** Cuts replica 1's subscriber socket (as a network drop would) and waits until it is back. */
  async function dropSubscriber(): Promise<void> {
    const subscriber = apps[1].app.get(RedisSubscriber);
    const channel = jobEventsChannel(apps[1].config);
    const before = subscriber.epoch(channel);
    expect(before).toBeDefined();
    (subscriber['conn'] as Redis).stream.destroy();
    await waitFor(
      'the subscription confirmed again',
      () => {
        const now = subscriber.epoch(channel);
        return now !== undefined && now !== before;
      },
      3000,
      10,
    );
  }

  it("keeps a polled snapshot, replaced by its job's newer events only", async () => {
    const { accessToken } = await guest();
    const jobId = await analyze(accessToken);
    const first = await status(1, accessToken, jobId);
    expect(first.status).toBe(200);
    expect(first.body.status).toBe('awaiting_upload');
    expect(apps[1].app.get(StatusSnapshots).size).toBeGreaterThan(0);

    // Kept: with the Redis snapshot gone, the poll still answers the same job.
    const stored = await redis.get(snapshotKey(jobId));
    expect(stored).not.toBeNull();
    await redis.del(snapshotKey(jobId));
    expect((await status(1, accessToken, jobId)).body).toEqual(first.body);

    // A state change made by another process reaches the kept snapshot through its event.
    const jobs = apps[0].app.get(JobsService);
    const before = await jobs.get(jobId);
    const expired = await jobs.expireUpload(jobId);
    expect(expired?.status).toBe('expired');
    await waitFor(
      'the expiry seen by replica 1',
      async () => (await status(1, accessToken, jobId)).body.status === 'expired',
      3000,
      10,
    );

    // An older version's event (concurrent stages finish out of order) does not replace it.
    await jobs.publish(before!);
    await new Promise((r) => setTimeout(r, 100));
    expect((await status(1, accessToken, jobId)).body.status).toBe('expired');
    // Nor the snapshot in Redis (SET_IF_NEWER): both say the same.
    expect(JSON.parse((await redis.get(snapshotKey(jobId)))!)).toMatchObject({
      job: { status: 'expired' },
    });

    // A deleted snapshot (an account's purge) is dropped everywhere: polls read PostgreSQL.
    await apps[0].app
      .get(DataSource)
      .query('UPDATE waste.jobs SET progress = 33 WHERE id = $1', [jobId]);
    await jobs.forgetSnapshot(jobId);
    await waitFor(
      'replica 1 reading PostgreSQL',
      async () => (await status(1, accessToken, jobId)).body.progress === 33,
      3000,
      10,
    );
  });

  it('drops kept snapshots and deny-list answers when the subscriber connection drops', async () => {
    const { accessToken } = await guest();
    const jobId = await analyze(accessToken);
    const first = await status(1, accessToken, jobId);
    expect(first.body.progress).toBe(0);

    // A snapshot changed in Redis without an event, and a family denied without its message:
    // neither is seen while the kept answers stand (only published changes reach them).
    const snap = JSON.parse((await redis.get(snapshotKey(jobId)))!) as {
      job: { progress: number };
    };
    snap.job.progress = 7;
    await redis.set(snapshotKey(jobId), JSON.stringify(snap));
    const deny = `${iso.redisPrefix}:auth:deny`;
    await redis.zadd(deny, Math.floor(Date.now() / 1000) + 600, `fam:${familyOf(accessToken)}`);
    const kept = await status(1, accessToken, jobId);
    expect(kept.status).toBe(200);
    expect(kept.body.progress).toBe(0);

    // After a drop nothing kept is trusted: the deny list is asked again (and denies).
    await dropSubscriber();
    expect((await status(1, accessToken, jobId)).status).toBe(401);

    // Everyone else keeps polling.
    const other = await guest();
    const otherJob = await analyze(other.accessToken);
    expect((await status(1, other.accessToken, otherJob)).status).toBe(200);
    await redis.del(deny); // rebuilt from PostgreSQL on the next check, without the test's entry
  });

  it('reads the snapshot from Redis again after a drop', async () => {
    const { accessToken } = await guest();
    const jobId = await analyze(accessToken);
    expect((await status(1, accessToken, jobId)).body.progress).toBe(0);
    const snap = JSON.parse((await redis.get(snapshotKey(jobId)))!) as {
      job: { progress: number };
    };
    snap.job.progress = 9;
    await redis.set(snapshotKey(jobId), JSON.stringify(snap));
    expect((await status(1, accessToken, jobId)).body.progress).toBe(0);
    await dropSubscriber();
    expect((await status(1, accessToken, jobId)).body.progress).toBe(9);
  });

  it('a subscriber connection that stops answering without a reset counts as dropped', async () => {
    // A replica whose Redis traffic crosses a proxy that goes silent (a partition, a NAT that
    // forgot the connection): TCP would notice after hours, the subscriber's PING within ~7 s.
    const url = new URL(iso.env.REDIS_URL);
    const proxy = await new TcpProxy(url.hostname, Number(url.port || 6379)).start();
    const replica = await bootRole(iso, {
      RATE_LIMIT_LOGIN_PER_IP: '0',
      VISION_PROVIDER: 'none',
      APP_ROLE: 'api',
      REDIS_URL: viaProxy(iso.env.REDIS_URL, proxy),
    });
    try {
      const { accessToken } = await guest();
      const jobId = await analyze(accessToken);
      const res = await call('GET', `${replica.url}/api/v1/waste/status/${jobId}`, {
        token: accessToken,
      });
      expect(res.status).toBe(200);
      const subscriber = replica.app.get(RedisSubscriber);
      const channel = jobEventsChannel(replica.config);
      expect(subscriber.epoch(channel)).toBeDefined();
      proxy.freeze();
      await waitFor(
        'the silent connection dropped',
        () => subscriber.epoch(channel) === undefined,
        10_000,
      );
      proxy.thaw();
      await waitFor('the subscription back', () => subscriber.epoch(channel) !== undefined, 10_000);
    } finally {
      proxy.thaw();
      await replica.close();
      await proxy.stop();
    }
  }, 30_000);

  it("another replica's logout ends a token this replica has already let through", async () => {
    const login = await guest();
    const jobId = await analyze(login.accessToken);
    expect((await status(1, login.accessToken, jobId)).status).toBe(200);
    expect((await status(1, login.accessToken, jobId)).status).toBe(200);
    const out = await call('POST', `${api(0)}/auth/logout`, {
      token: login.accessToken,
      body: { refreshToken: login.refreshToken },
    });
    expect(out.status).toBe(204);
    // The message crosses Redis once: within a few milliseconds, well inside a second.
    await waitFor(
      'the logout heard by replica 1',
      async () => (await status(1, login.accessToken, jobId)).status === 401,
      1000,
      10,
    );
    // And the replica that logged out denies at once.
    expect((await status(0, login.accessToken, jobId)).status).toBe(401);
  });
});
