import { GetMessage } from 'amqplib';
import { DataSource } from 'typeorm';
import { RunningApp } from '../../src/app/bootstrap';
import { QueueName, RoutingKey } from '../../src/core/messaging/topology';
import { Metrics } from '../../src/core/observability/metrics';
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
    resendExpiring(stale, 100, { 'x-published-at': Date.now() - 60_000 });
    resendExpiring(fresh, 300);
    await waitFailed(marker);
    await waitFor('q.expired read', async () => (await probe.depth(QueueName.Expired)) === 0);
    expect((await getJob(app.url!, user.accessToken, moved)).status).toBe('queued');
  });
});
