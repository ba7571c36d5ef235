import { getQueueToken } from '@nestjs/bull';
import type { Queue } from 'bull';
import { RunningApp } from '../../src/app/bootstrap';
import { QueueName, RoutingKey } from '../../src/core/messaging/topology';
import { BeatService } from '../../src/modules/maintenance/beat.service';
import { SCHEDULE, SCHEDULE_QUEUE, SCHEDULE_TZ } from '../../src/modules/maintenance/schedule';
import { QueueProbe, waitFor } from '../support/amqp';
import { bootRole } from '../support/app';
import { Isolation, isolate } from '../support/isolation';

interface Tick {
  key: string;
  scheduledFor: string;
  tickId: string;
}

describe('beat: the schedule in Bull, two replicas, one message per tick', () => {
  let iso: Isolation;
  let beats: RunningApp[] = [];
  let probe: QueueProbe;

  const queue = (i = 0) => beats[i].app.get<Queue>(getQueueToken(SCHEDULE_QUEUE));
  const beat = (i = 0) => beats[i].app.get(BeatService);
  const ticks = async (): Promise<Tick[]> =>
    (await probe.drain(QueueName.Sched)).map((m) => ({
      key: m.fields.routingKey,
      ...(JSON.parse(m.content.toString()) as { scheduledFor: string; tickId: string }),
    }));

  beforeAll(async () => {
    iso = await isolate('beat');
    // Two beat replicas booting at the same time; no bulk worker, so sched.* messages stay queued.
    // The tests below register other schedules on purpose: no periodic check restoring SCHEDULE
    // meanwhile (beat-recovery.spec.ts tests that check).
    const env = { APP_ROLE: 'beat', SCHEDULE_CHECK_SECONDS: '3600' };
    beats = await Promise.all([bootRole(iso, env), bootRole(iso, env)]);
    probe = await QueueProbe.connect(iso.rabbitUrl);
  });

  afterAll(async () => {
    await probe?.close();
    await Promise.all(beats.map((b) => b.close()));
    await iso?.cleanup();
  });

  it('registers each schedule entry once, with its cron and Asia/Seoul', async () => {
    const jobs = await queue().getRepeatableJobs();
    expect(jobs).toHaveLength(SCHEDULE.length);
    for (const entry of SCHEDULE) {
      const mine = jobs.filter((j) => j.name === entry.routingKey);
      expect(mine).toHaveLength(1);
      expect(mine[0].cron).toBe(entry.cron);
      expect(mine[0].tz).toBe(SCHEDULE_TZ);
    }
    const next = (key: string) => new Date(jobs.find((j) => j.name === key)!.next);
    // 02:00 and 03:00 in Seoul (UTC+9, no DST) are 17:00 and 18:00 UTC.
    expect([
      next(RoutingKey.SchedDailyStats).getUTCHours(),
      next(RoutingKey.SchedDailyStats).getUTCMinutes(),
    ]).toEqual([17, 0]);
    expect(next(RoutingKey.SchedCleanupImages).getUTCHours()).toBe(18);
    expect(next(RoutingKey.SchedCleanupCache).getUTCMinutes()).toBe(0);
    // One pending tick per entry, not one per replica.
    const delayed = await queue().getDelayed();
    for (const entry of SCHEDULE) {
      expect(delayed.filter((j) => j.name === entry.routingKey)).toHaveLength(1);
    }
  });

  it('a changed cron replaces the old one, pending tick included; a resync is a no-op', async () => {
    const changed = SCHEDULE.map((e) =>
      e.routingKey === RoutingKey.SchedDailyStats ? { ...e, cron: '30 4 * * *' } : e,
    );
    await beat(1).sync(changed);
    const jobs = await queue(0).getRepeatableJobs();
    const daily = jobs.filter((j) => j.name === RoutingKey.SchedDailyStats);
    expect(daily).toHaveLength(1);
    expect(daily[0].cron).toBe('30 4 * * *');
    expect(new Date(daily[0].next).getUTCHours()).toBe(19); // 04:30 KST
    expect(jobs).toHaveLength(SCHEDULE.length);
    const delayed = (await queue().getDelayed()).filter(
      (j) => j.name === RoutingKey.SchedDailyStats,
    );
    expect(delayed).toHaveLength(1);
    expect(new Date(delayed[0].timestamp + delayed[0].opts.delay!).getUTCMinutes()).toBe(30);

    // Back to the real schedule, from the other replica, twice.
    await beat(0).sync(SCHEDULE);
    await beat(1).sync(SCHEDULE);
    const again = await queue().getRepeatableJobs();
    expect(again).toHaveLength(SCHEDULE.length);
    expect(again.find((j) => j.name === RoutingKey.SchedDailyStats)!.cron).toBe('0 2 * * *');
    expect((await queue().getDelayed()).length).toBe(SCHEDULE.length);
  });

  it('a due tick publishes its sched.* message exactly once, with its scheduled time', async () => {
    await ticks(); // whatever the minute watchdog left
    const pending = (await queue().getDelayed()).find(
      (j) => j.name === RoutingKey.SchedDailyStats,
    )!;
    const due = new Date(pending.timestamp + pending.opts.delay!).toISOString();
    await pending.promote(); // as if 02:00 KST had come: both replicas are listening
    const got = await waitFor('the daily tick', async () => {
      const t = (await ticks()).filter((x) => x.key === RoutingKey.SchedDailyStats);
      return t.length ? t : undefined;
    });
    await new Promise((r) => setTimeout(r, 500));
    got.push(...(await ticks()).filter((x) => x.key === RoutingKey.SchedDailyStats));
    expect(got).toHaveLength(1);
    expect(got[0].scheduledFor).toBe(due);
    expect(got[0].scheduledFor).toMatch(/T17:00:00\.000Z$/);
    // The schedule continues: the next 02:00 is pending, still once.
    const delayed = (await queue().getDelayed()).filter(
      (j) => j.name === RoutingKey.SchedDailyStats,
    );
    expect(delayed).toHaveLength(1);
  });

  it('every tick of a fast schedule fires once across both replicas', async () => {
    await ticks();
    const everySecond = [{ routingKey: RoutingKey.SchedCleanupCache, cron: '* * * * * *' }];
    await beat(0).sync(everySecond);
    await new Promise((r) => setTimeout(r, 3500));
    await beat(1).sync(SCHEDULE);
    await new Promise((r) => setTimeout(r, 1200)); // let a tick in hand finish publishing
    const fired = (await ticks()).filter((t) => t.key === RoutingKey.SchedCleanupCache);
    expect(fired.length).toBeGreaterThanOrEqual(2);
    const times = fired.map((t) => t.scheduledFor);
    expect(new Set(times).size).toBe(fired.length); // no tick twice
    expect(new Set(fired.map((t) => t.tickId)).size).toBe(fired.length);
    for (const t of times) expect(t).toMatch(/:\d\d\.000Z$/); // whole seconds: cron times
    expect(await queue().getRepeatableJobs()).toHaveLength(SCHEDULE.length);
  });
});
