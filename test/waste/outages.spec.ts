import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { execFileSync } from 'node:child_process';
import { DataSource } from 'typeorm';
import { RunningApp } from '../../src/app/bootstrap';
import { RedisService } from '../../src/core/redis/redis.service';
import { JobsService } from '../../src/modules/waste/jobs/jobs.service';
import { JobsRepository } from '../../src/modules/waste/jobs/jobs.repository';
import { FastPipelineHandlers } from '../../src/modules/waste/pipeline/fast.handler';
import { waitFor } from '../support/amqp';
import { bootRole } from '../support/app';
import { TestLogin, bearer, guestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { makePhoto } from '../support/photos';
import { TcpProxy, viaProxy } from '../support/tcp-proxy';
import { getJob, submitPhoto, waitForEnd } from '../support/waste-client';

function rabbitmqctl(...args: string[]): string {
  return execFileSync('rabbitmqctl', ['-q', ...args], { encoding: 'utf8', timeout: 30_000 });
}

/**
 * Our own dependencies down (docs/messaging.md → What a client sees): the API answers
 * 503 SERVICE_UNAVAILABLE with Retry-After instead of 500 or a long wait, status keeps answering
 * from Redis, and the save path never leaves a job that says two things. PostgreSQL is taken
 * away through a TCP proxy in front of it (this file's connections only); RabbitMQ by revoking
 * this file's vhost permissions and closing its connections.
 */
describe('outages of our own dependencies', () => {
  let iso: Isolation;
  let pg: TcpProxy;
  let redisProxy: TcpProxy;
  let app: RunningApp;
  let api: RunningApp;
  let user: TestLogin;
  let db: DataSource;

  const env = {
    VISION_PROVIDER: 'none',
    RATE_LIMIT_LOGIN_PER_IP: '0',
    LOCATIONS_SAMPLE_DATA: 'false',
    TASK_MAX_ATTEMPTS: '2',
    // Low, so the stale-snapshot test below waits ~1 s, not the default 15 s.
    JOB_SNAPSHOT_RECHECK_MS: '1000',
  };

  beforeAll(async () => {
    iso = await isolate('outages');
    const target = new URL(iso.databaseUrl);
    pg = await new TcpProxy(target.hostname, Number(target.port || 5432)).start();
    const DATABASE_URL = viaProxy(iso.databaseUrl, pg);
    const redisTarget = new URL(iso.env.REDIS_URL);
    redisProxy = await new TcpProxy(redisTarget.hostname, Number(redisTarget.port || 6379)).start();
    const REDIS_URL = viaProxy(iso.env.REDIS_URL, redisProxy);
    app = await bootRole(iso, { ...env, APP_ROLE: 'all', DATABASE_URL, REDIS_URL });
    // A second API replica that has never seen the user (its guard has no cached row).
    api = await bootRole(iso, { ...env, APP_ROLE: 'api', DATABASE_URL, REDIS_URL });
    user = await guestLogin(app.url!);
    db = app.app.get(DataSource);
  });
  afterAll(async () => {
    await pg?.restore();
    await redisProxy?.restore();
    await api?.close();
    await app?.close();
    await pg?.stop();
    await redisProxy?.stop();
    await iso?.cleanup();
  });

  const post = (base: string, path: string, body?: unknown) =>
    fetch(`${base}/api/v1${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(user) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  async function expect503(res: Response): Promise<void> {
    const text = await res.text();
    expect({ status: res.status, body: text }).toMatchObject({ status: 503 });
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(JSON.parse(text)).toMatchObject({ status: 503, code: 'SERVICE_UNAVAILABLE' });
  }

  it('PostgreSQL down: status answers from Redis (also on a replica that never saw the user), the rest is 503 with Retry-After', async () => {
    const { jobId } = await submitPhoto(app.url!, user.accessToken, await makePhoto(1), {
      hint: '캔',
    });
    expect((await waitForEnd(app.url!, user.accessToken, jobId)).status).toBe('completed');
    await pg.cut();
    try {
      expect((await getJob(app.url!, user.accessToken, jobId)).status).toBe('completed');
      expect((await getJob(api.url!, user.accessToken, jobId)).status).toBe('completed');
      await expect503(
        await post(api.url!, '/waste/analyze', { contentType: 'image/jpeg', contentLength: 1000 }),
      );
      await expect503(await fetch(`${api.url}/api/v1/users/me/history`, { headers: bearer(user) }));
      // A job the snapshot does not know needs PostgreSQL: 503, not 404 or 500.
      await expect503(
        await fetch(`${api.url}/api/v1/waste/status/00000000-0000-4000-8000-000000000000`, {
          headers: bearer(user),
        }),
      );
    } finally {
      await pg.restore();
    }
    const again = await submitPhoto(app.url!, user.accessToken, await makePhoto(2), {
      hint: '캔',
    });
    expect((await waitForEnd(app.url!, user.accessToken, again.jobId)).status).toBe('completed');
  });

  it("a dead-lettered message's failure handler does not throw while PostgreSQL is down", async () => {
    // A job that has not ended, so failing it would be a real write the outage refuses.
    const analyze = await post(app.url!, '/waste/analyze', {
      contentType: 'image/jpeg',
      contentLength: 1000,
    });
    const { jobId } = (await analyze.json()) as { jobId: string };
    await pg.cut();
    try {
      await expect(
        app.app
          .get(FastPipelineHandlers)
          .onTaskDeadLettered('waste.high.save', { jobId }, new Error('Connection terminated')),
      ).resolves.toBeUndefined();
    } finally {
      await pg.restore();
    }
    // Nothing half-written: the job is still what it was.
    const rows = (await db.query('SELECT status FROM waste.jobs WHERE id = $1', [jobId])) as {
      status: string;
    }[];
    expect(rows).toEqual([{ status: 'awaiting_upload' }]);
  });

  it('a save that cannot complete the job writes neither its history row nor its analytics event', async () => {
    // The UPDATE to completed fails after everything else of the save was attempted: before the
    // fix the history row (and the user's stats) said completed while the job ended failed.
    await db.query(`
      CREATE FUNCTION waste.refuse_completion() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'completion refused by the test'; END $$;
      CREATE TRIGGER refuse_completion BEFORE UPDATE ON waste.jobs FOR EACH ROW
        WHEN (NEW.status = 'completed') EXECUTE FUNCTION waste.refuse_completion();`);
    let jobId: string;
    try {
      ({ jobId } = await submitPhoto(app.url!, user.accessToken, await makePhoto(4), {
        hint: '캔',
      }));
      const job = await waitForEnd(app.url!, user.accessToken, jobId);
      expect(job.status).toBe('failed');
      expect(job.error!.code).toBe('PROCESSING_FAILED');
    } finally {
      await db.query(`DROP TRIGGER refuse_completion ON waste.jobs;
                      DROP FUNCTION waste.refuse_completion();`);
    }
    const rows = (await db.query(
      `SELECT (SELECT count(*)::int FROM users.history WHERE job_id = $1) AS history,
              (SELECT count(*)::int FROM analytics.job_events
                WHERE job_id = $1 AND status = 'completed') AS completed_events`,
      [jobId],
    )) as { history: number; completed_events: number }[];
    expect(rows[0]).toEqual({ history: 0, completed_events: 0 });
  });

  it('RabbitMQ down: upload-complete answers 503 with Retry-After and leaves the job retryable; back up, the retry completes it', async () => {
    const amqp = app.app.get(AmqpConnection);
    const analyze = await post(app.url!, '/waste/analyze', {
      contentType: 'image/jpeg',
      contentLength: (await makePhoto(5)).length,
      hint: '캔',
    });
    const created = (await analyze.json()) as {
      jobId: string;
      upload: { url: string; method: string; headers: Record<string, string> };
    };
    const u = new URL(created.upload.url);
    const put = await fetch(`${app.url}${u.pathname}${u.search}`, {
      method: created.upload.method,
      headers: created.upload.headers,
      body: await makePhoto(5),
    });
    expect(put.ok).toBe(true);
    // No reconnect can succeed while the vhost refuses this user; then drop the app's connections.
    rabbitmqctl('clear_permissions', '-p', iso.vhost, 'guest');
    try {
      for (const line of rabbitmqctl('list_connections', 'vhost', 'pid').split('\n')) {
        const [vhost, pid] = line.split('\t');
        if (vhost === iso.vhost) rabbitmqctl('close_connection', pid, 'test outage');
      }
      await waitFor('the app noticed', () => !amqp.managedConnection.isConnected(), 20_000);
      await expect503(await post(app.url!, `/waste/upload-complete/${created.jobId}`));
      expect((await getJob(app.url!, user.accessToken, created.jobId)).status).toBe(
        'awaiting_upload',
      );
    } finally {
      rabbitmqctl('set_permissions', '-p', iso.vhost, 'guest', '.*', '.*', '.*');
    }
    await waitFor('reconnected', () => amqp.managedConnection.isConnected(), 30_000);
    const retried = await waitFor(
      'upload-complete accepted',
      async () => {
        const r = await post(app.url!, `/waste/upload-complete/${created.jobId}`);
        return r.status === 202 ? r : undefined;
      },
      30_000,
      500,
    );
    expect(retried.status).toBe(202);
    expect((await waitForEnd(app.url!, user.accessToken, created.jobId)).status).toBe('completed');
  });

  it('Redis down: analyze and status answer 503 with Retry-After (the deny list fails closed, nothing waits for a reconnect); back up, a job completes', async () => {
    const { jobId } = await submitPhoto(app.url!, user.accessToken, await makePhoto(6), {
      hint: '캔',
    });
    await waitForEnd(app.url!, user.accessToken, jobId);
    await redisProxy.cut();
    try {
      await expect503(
        await post(api.url!, '/waste/analyze', { contentType: 'image/jpeg', contentLength: 1000 }),
      );
      await expect503(
        await fetch(`${api.url}/api/v1/waste/status/${jobId}`, { headers: bearer(user) }),
      );
    } finally {
      await redisProxy.restore();
    }
    const again = await waitFor(
      'Redis back for the API',
      async () => {
        try {
          return await submitPhoto(app.url!, user.accessToken, await makePhoto(7), { hint: '캔' });
        } catch {
          return undefined;
        }
      },
      30_000,
      500,
    );
    expect(again.complete.status).toBe(202);
    expect((await waitForEnd(app.url!, user.accessToken, again.jobId, 60_000)).status).toBe(
      'completed',
    );
  });

  it('a job whose end never reached its snapshot does not keep its old state in status: PostgreSQL wins over a stale snapshot', async () => {
    const created = await post(app.url!, '/waste/analyze', {
      contentType: 'image/jpeg',
      contentLength: 1000,
    });
    expect(created.status).toBe(201);
    const { jobId } = (await created.json()) as { jobId: string };
    expect((await getJob(api.url!, user.accessToken, jobId)).status).toBe('awaiting_upload');
    // Ended in PostgreSQL by a process whose snapshot write failed during a Redis cut and that
    // then restarted, so nothing re-publishes it: the UPDATE alone, with no announce().
    const ended = await app.app
      .get(JobsRepository)
      .fail(jobId, { code: 'TEST_ENDED', message: 'ended' }, new Date());
    expect(ended?.status).toBe('failed');
    const seen = await waitFor(
      'status to show the end PostgreSQL has',
      async () => {
        try {
          const job = await getJob(api.url!, user.accessToken, jobId);
          return job.status === 'failed' ? job : undefined;
        } catch {
          return undefined;
        }
      },
      30_000,
      200,
    );
    expect(seen).toMatchObject({ status: 'failed', error: { code: 'TEST_ENDED' } });
    // The snapshot itself was rewritten, so every replica's next read is the cheap one again.
    const redis = api.app.get(RedisService);
    const snap = JSON.parse((await redis.client.get(redis.key('waste', 'job', jobId)))!) as {
      job: { status: string };
    };
    expect(snap.job.status).toBe('failed');
  });

  it('Redis back: the snapshot of a job that ended while it was unreachable is written again without any read', async () => {
    const created = await post(app.url!, '/waste/analyze', {
      contentType: 'image/jpeg',
      contentLength: 1000,
    });
    expect(created.status).toBe(201);
    const { jobId } = (await created.json()) as { jobId: string };
    const redis = api.app.get(RedisService);
    const snapshotStatus = async () => {
      const raw = await redis.client.get(redis.key('waste', 'job', jobId));
      return raw ? (JSON.parse(raw) as { job: { status: string } }).job.status : undefined;
    };
    expect(await snapshotStatus()).toBe('awaiting_upload');
    await redisProxy.cut();
    try {
      await app.app.get(JobsService).fail(jobId, 'TEST_ENDED', 'ended');
    } finally {
      await redisProxy.restore();
    }
    // No status poll here (that path has its own test above): the 'ready' event re-publishes.
    await waitFor(
      'the ended job re-published after the reconnect',
      async () => {
        try {
          return (await snapshotStatus()) === 'failed';
        } catch {
          return undefined; // this replica's connection still coming back
        }
      },
      30_000,
      200,
    );
  });
});
