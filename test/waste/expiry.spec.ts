import { GetMessage } from 'amqplib';
import { DataSource } from 'typeorm';
import { RunningApp } from '../../src/app/bootstrap';
import { QueueName, RoutingKey } from '../../src/core/messaging/topology';
import { Metrics } from '../../src/core/observability/metrics';
import { PipelineExpiryHandler } from '../../src/modules/waste/pipeline/expiry.handler';
import { QueueProbe, waitFor } from '../support/amqp';
import { bootRole } from '../support/app';
import { TestLogin, guestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { makePhoto } from '../support/photos';
import { getJob, submitPhoto } from '../support/waste-client';

/**
 * A job whose message expires unread (no fast or external worker, or one far behind) ends at once
 * with BACKLOG_EXPIRED, failed by whichever role is up — here only the API runs: no fast, no
 * external, no bulk worker. The queues' real TTLs (60 s, 300 s) are too long for a test, so the
 * app's message is taken out of its queue and sent again with a per-message TTL: the broker
 * dead-letters it exactly as the queue's TTL would (x-death reason `expired`).
 */
describe('expired pipeline messages fail their jobs with BACKLOG_EXPIRED', () => {
  let iso: Isolation;
  let app: RunningApp;
  let user: TestLogin;
  let probe: QueueProbe;
  let db: DataSource;

  beforeAll(async () => {
    iso = await isolate('expiry');
    // Migrations come with the all role; then only the API stays.
    const all = await bootRole(iso, { APP_ROLE: 'all', LOCATIONS_SAMPLE_DATA: 'false' });
    await all.close();
    app = await bootRole(iso, { APP_ROLE: 'api', RATE_LIMIT_LOGIN_PER_IP: '0' });
    user = await guestLogin(app.url!);
    probe = await QueueProbe.connect(iso.rabbitUrl);
    db = app.app.get(DataSource);
  });
  afterAll(async () => {
    await probe?.close();
    await app?.close();
    await iso?.cleanup();
  });

  /** The app's own message for the job, taken out of `queue`. */
  async function take(queue: string, jobId: string): Promise<GetMessage> {
    return waitFor(`the message for ${jobId} in ${queue}`, async () =>
      (await probe.drain(queue)).find((m) => m.content.toString().includes(jobId)),
    );
  }

  /** Sends `msg` again as it was, but with a TTL of its own of `ms`. */
  function resendExpiring(msg: GetMessage, ms: number, headers: Record<string, unknown> = {}) {
    probe.channel.publish('tasks', msg.fields.routingKey, msg.content, {
      ...msg.properties,
      headers: { ...msg.properties.headers, ...headers },
      expiration: String(ms),
    });
  }

  /** How many q.expired copies the handler has finished, per outcome (its own metric). */
  async function handled(): Promise<number> {
    const metric = await app.app
      .get(Metrics)
      .registry.getSingleMetric('pipeline_expired_messages_total')!
      .get();
    return metric.values.reduce((n, v) => n + v.value, 0);
  }

  const waitFailed = (jobId: string) =>
    waitFor(
      `job ${jobId} failed`,
      async () => {
        const job = await getJob(app.url!, user.accessToken, jobId);
        return job.status === 'failed' ? job : undefined;
      },
      30_000,
      100,
    );

  it('q.fast: a queued job nobody picks up fails BACKLOG_EXPIRED; the dead letter stays in q.dlq', async () => {
    const { jobId, complete } = await submitPhoto(app.url!, user.accessToken, await makePhoto(1));
    expect(complete.status).toBe(202);
    const readiness = (await (await fetch(`${app.url}/health/ready`)).json()) as {
      consumers: Record<string, number>;
    };
    // Nobody serves q.fast; the API itself serves q.expired.
    expect(readiness.consumers).toMatchObject({ [QueueName.Fast]: 0, [QueueName.Expired]: 1 });
    const metrics = await app.app.get(Metrics).registry.metrics();
    expect(metrics).toMatch(/rabbitmq_queue_consumers\{queue="q.fast"\} 0/);

    resendExpiring(await take(QueueName.Fast, jobId), 200);
    const job = await waitFailed(jobId);
    expect(job.error).toMatchObject({ code: 'BACKLOG_EXPIRED' });
    expect(job.error!.message).toContain('q.fast');
    const dead = await waitFor('the dead letter', async () =>
      (await probe.drain(QueueName.Dlq)).find((m) => m.content.toString().includes(jobId)),
    );
    expect((dead.properties.headers!['x-death'] as { reason: string }[])[0].reason).toBe('expired');
  });

  it('q.external: a job waiting for vision fails BACKLOG_EXPIRED', async () => {
    const { jobId } = await submitPhoto(app.url!, user.accessToken, await makePhoto(2));
    await take(QueueName.Fast, jobId);
    // As the fast worker leaves it: preprocessed, waiting in q.external for vision.
    await db.query(
      `UPDATE waste.jobs SET status = 'processing', stage = 'classifying', progress = 40,
              updated_at = now() WHERE id = $1`,
      [jobId],
    );
    probe.channel.publish('tasks', RoutingKey.Vision, Buffer.from(JSON.stringify({ jobId })), {
      persistent: true,
      contentType: 'application/json',
      headers: { 'x-attempt': 1, 'x-published-at': Date.now() },
      expiration: '200',
    });
    const job = await waitFailed(jobId);
    expect(job.error).toMatchObject({ code: 'BACKLOG_EXPIRED' });
    expect(job.error!.message).toContain('q.external');
  });

  it('an expired copy sent before the job last changed leaves the job alone', async () => {
    const { jobId: moved } = await submitPhoto(app.url!, user.accessToken, await makePhoto(3));
    const stale = await take(QueueName.Fast, moved);
    const { jobId: marker } = await submitPhoto(app.url!, user.accessToken, await makePhoto(4));
    const fresh = await take(QueueName.Fast, marker);
    // Sent a minute before the job's last change: another copy has moved it on since.
    const before = await handled();
    resendExpiring(stale, 100, { 'x-sent-at': Date.now() - 60_000 });
    resendExpiring(fresh, 300);
    await waitFailed(marker);
    // Both copies handled (not merely taken out of q.expired: a copy may still be unacked).
    await waitFor(
      'both expired copies handled',
      async () => (await handled()) >= before + 2,
      30_000,
    );
    expect((await getJob(app.url!, user.accessToken, moved)).status).toBe('queued');
  });

  it('a retried download copy that expires fails the job, though the first attempt moved it', async () => {
    const { jobId } = await submitPhoto(app.url!, user.accessToken, await makePhoto(5));
    const first = await take(QueueName.Fast, jobId);
    // The first attempt started downloading (moving updated_at) and failed transiently; its
    // retry copy keeps the first publish's x-published-at and carries its own x-sent-at.
    await db.query(
      `UPDATE waste.jobs SET status = 'processing', stage = 'downloading', progress = 10,
              updated_at = now() WHERE id = $1`,
      [jobId],
    );
    const [{ now }] = (await db.query(
      `SELECT (extract(epoch FROM now()) * 1000)::float8 AS now`,
    )) as {
      now: number;
    }[];
    resendExpiring(first, 200, {
      'x-attempt': 2,
      'x-published-at': now - 5_000,
      'x-sent-at': Math.max(now, Date.now()),
    });
    const job = await waitFailed(jobId);
    expect(job.error).toMatchObject({ code: 'BACKLOG_EXPIRED' });
  });

  it('an expired re-sent save of a job at saving (every part stored) fails it', async () => {
    const { jobId } = await submitPhoto(app.url!, user.accessToken, await makePhoto(6));
    await take(QueueName.Fast, jobId);
    const coaching = { summary: 'rinse and sort', tips: [] };
    // As the watchdog finds it: coaching stored, no location, the save never completed.
    await db.query(
      `UPDATE waste.jobs SET status = 'processing', stage = 'saving', progress = 90,
              result = $2::jsonb, updated_at = now() - interval '10 minutes' WHERE id = $1`,
      [
        jobId,
        JSON.stringify({
          items: [],
          coaching,
          cache: { hit: false, kind: null },
          nearby: null,
          timings: { totalMs: null, visionMs: 1, coachingMs: 1 },
        }),
      ],
    );
    probe.channel.publish(
      'tasks',
      RoutingKey.WasteSave,
      Buffer.from(JSON.stringify({ jobId, part: 'coaching', coaching, coachingMs: 1 })),
      {
        persistent: true,
        contentType: 'application/json',
        headers: { 'x-attempt': 1, 'x-published-at': Date.now(), 'x-sent-at': Date.now() },
        expiration: '200',
      },
    );
    const job = await waitFailed(jobId);
    expect(job.error).toMatchObject({ code: 'BACKLOG_EXPIRED' });
    expect(job.error!.message).toContain('q.fast');
  });

  // Last: it stops this API's q.expired consumer.
  it('the drain at SIGTERM cancels the q.expired consumer', async () => {
    expect((await probe.channel.checkQueue(QueueName.Expired)).consumerCount).toBe(1);
    await app.app.get(PipelineExpiryHandler).beforeApplicationShutdown();
    await waitFor(
      'q.expired without consumers',
      async () => (await probe.channel.checkQueue(QueueName.Expired)).consumerCount === 0,
      30_000,
    );
  });
});
