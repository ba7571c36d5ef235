import { getQueueToken } from '@nestjs/bull';
import type { Queue } from 'bull';
import Redis from 'ioredis';
import { RunningApp } from '../../src/app/bootstrap';
import { HealthService } from '../../src/core/observability/health.service';
import { Metrics } from '../../src/core/observability/metrics';
import { SCHEDULE, SCHEDULE_QUEUE } from '../../src/modules/maintenance/schedule';
import { waitFor } from '../support/amqp';
import { bootRole } from '../support/app';
import { Isolation, isolate } from '../support/isolation';

/**
 * Redis keeps nothing across a restart (docs/operations.md), and the schedule lives there. The
 * loss is simulated by deleting this file's own keys (its prefix only: the shared Redis server
 * is never restarted or flushed).
 */
describe('beat: a schedule lost from Redis comes back by itself', () => {
  const started: { iso: Isolation; beat: RunningApp }[] = [];
  let redis: Redis;

  async function beat(checkSeconds: string) {
    const iso = await isolate('beatrecovery');
    const app = await bootRole(iso, { APP_ROLE: 'beat', SCHEDULE_CHECK_SECONDS: checkSeconds });
    started.push({ iso, beat: app });
    return { iso, app, queue: app.app.get<Queue>(getQueueToken(SCHEDULE_QUEUE)) };
  }

  /** Deletes every key of this beat's Bull queue, as a Redis restart without persistence does. */
  async function loseSchedule(iso: Isolation): Promise<void> {
    const keys = await redis.keys(`${iso.redisPrefix}:bull:*`);
    if (keys.length) await redis.del(...keys);
    expect(await redis.keys(`${iso.redisPrefix}:bull:*`)).toEqual([]);
  }

  const complete = async (queue: Queue) =>
    (await queue.getRepeatableJobs()).length === SCHEDULE.length &&
    (await queue.getDelayed()).length === SCHEDULE.length;

  beforeAll(() => {
    redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
  });
  afterAll(async () => {
    for (const { iso, beat: app } of started) {
      await app.close();
      await iso.cleanup();
    }
    await redis.quit();
  });

  it('readiness shows the missing schedule; a Redis reconnect registers it again', async () => {
    const { iso, app, queue } = await beat('3600');
    expect((await app.app.get(HealthService).readiness()).checks.schedule).toBe('up');
    await loseSchedule(iso);
    const report = await app.app.get(HealthService).readiness();
    expect(report.checks.schedule).toBe('down');
    expect(report.status).toBe('error');

    // The server drops beat's command connection (as a restart does); it reconnects.
    const id = String(await queue.client.client('ID'));
    await redis.client('KILL', 'ID', id);
    await waitFor('the schedule registered again', () => complete(queue), 30_000, 100);
    expect((await app.app.get(HealthService).readiness()).checks.schedule).toBe('up');
    const metrics = await app.app
      .get(Metrics)
      .registry.getSingleMetricAsString('beat_schedule_missing_entries');
    expect(metrics).toMatch(new RegExp(`beat_schedule_missing_entries ${SCHEDULE.length}`));
  });

  it('without any reconnect, the periodic check registers it again', async () => {
    const { iso, queue } = await beat('1');
    await loseSchedule(iso);
    await waitFor('the schedule registered again', () => complete(queue), 30_000, 100);
    const names = (await queue.getRepeatableJobs()).map((j) => j.name).sort();
    expect(names).toEqual(SCHEDULE.map((e) => e.routingKey).sort());
  });
});
