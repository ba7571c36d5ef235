import { InjectQueue, Process, Processor } from '@nestjs/bull';
import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import type { Job, Queue } from 'bull';
import { APP_CONFIG, AppConfig } from '../../core/config/app-config';
import { TaskPublisher } from '../../core/messaging/task-publisher';
import { ScheduleRoutingKey } from '../../core/messaging/messages';
import { HealthService } from '../../core/observability/health.service';
import { Metrics } from '../../core/observability/metrics';
import { SCHEDULE, SCHEDULE_QUEUE, SCHEDULE_TZ, ScheduleEntry } from './schedule';

interface TickData {
  routingKey: ScheduleRoutingKey;
}

/**
 * The clock. The schedule lives in Bull repeatable jobs: Bull derives each tick's job id from
 * (name, cron, tz, time), so any number of beat replicas enqueue a tick once and one of them
 * processes it. The tick only publishes the `sched.*` message; bulk workers do the work.
 *
 * Redis keeps nothing across a restart (docs/operations.md), and the schedule lives there: beat
 * checks it after every Redis reconnect and every SCHEDULE_CHECK_SECONDS, re-registers what is
 * missing (an entry, or its pending tick), and reports a missing schedule in readiness
 * (`schedule: down`) and in `beat_schedule_missing_entries`.
 */
@Processor(SCHEDULE_QUEUE)
@Injectable()
export class BeatService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(BeatService.name);
  private timer?: NodeJS.Timeout;
  private checking?: Promise<number>;
  private readonly missingGauge;
  private readonly onReady = () => void this.ensure().catch(() => undefined);

  constructor(
    @InjectQueue(SCHEDULE_QUEUE) private readonly queue: Queue<TickData>,
    private readonly publisher: TaskPublisher,
    private readonly health: HealthService,
    metrics: Metrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.missingGauge = metrics.gauge(
      'beat_schedule_missing_entries',
      'Schedule entries (or their pending ticks) found missing from Redis at the last check; ' +
        'beat re-registers them at once, so anything above 0 for long means Redis refuses it',
      [],
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.sync(SCHEDULE);
    this.missingGauge.set(0);
    this.health.addCheck('schedule', async () => (await this.missing()).length === 0);
    // After a Redis restart (or failover) the schedule is gone: register it again.
    this.queue.client.on('ready', this.onReady);
    this.timer = setInterval(this.onReady, this.config.SCHEDULE_CHECK_SECONDS * 1000);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
    this.queue.client.off('ready', this.onReady);
  }

  /** Entries of SCHEDULE without their repeatable job or without a pending tick. */
  async missing(): Promise<string[]> {
    const [repeatable, pending] = await Promise.all([
      this.queue.getRepeatableJobs(),
      this.queue.getJobs(['delayed', 'waiting', 'active']),
    ]);
    return SCHEDULE.filter(
      (e) =>
        !repeatable.some((j) => j.name === e.routingKey && j.cron === e.cron) ||
        !pending.some((j) => j?.name === e.routingKey),
    ).map((e) => e.routingKey);
  }

  /** Re-registers the schedule if anything is missing; returns how many entries were. */
  async ensure(): Promise<number> {
    // One check at a time (a reconnect and the timer may coincide).
    this.checking ??= (async () => {
      try {
        const missing = await this.missing();
        this.missingGauge.set(missing.length);
        if (!missing.length) return 0;
        this.logger.warn(
          `schedule missing from Redis (${missing.join(', ')}): registering it again`,
        );
        await this.sync(SCHEDULE);
        return missing.length;
      } finally {
        this.checking = undefined;
      }
    })();
    return this.checking;
  }

  /** Registers `entries` and removes every repeatable that is not one of them (stale crons). */
  async sync(entries: readonly ScheduleEntry[]): Promise<void> {
    const existing = await this.queue.getRepeatableJobs();
    for (const job of existing) {
      const wanted = entries.some(
        (e) => e.routingKey === job.name && e.cron === job.cron && job.tz === SCHEDULE_TZ,
      );
      if (!wanted) {
        await this.queue.removeRepeatableByKey(job.key);
        this.logger.log(`removed stale schedule ${job.name} (${job.cron} ${job.tz ?? ''})`);
      }
    }
    for (const entry of entries) {
      await this.queue.add(
        entry.routingKey,
        { routingKey: entry.routingKey },
        {
          repeat: { cron: entry.cron, tz: SCHEDULE_TZ },
          removeOnComplete: 100,
          removeOnFail: 100,
          attempts: 3,
          backoff: { type: 'exponential', delay: 1000 },
        },
      );
    }
    this.logger.log(
      `schedule: ${entries.map((e) => `${e.routingKey}@${e.cron}`).join(', ')} (${SCHEDULE_TZ})`,
    );
  }

  @Process('*')
  async tick(job: Job<TickData>): Promise<void> {
    // prevMillis is the tick's cron time; job.timestamp is when the previous tick created it.
    const at = (job.opts as { prevMillis?: number }).prevMillis ?? job.timestamp;
    await this.publisher.publish(job.data.routingKey, {
      scheduledFor: new Date(at).toISOString(),
      tickId: String(job.id),
    });
  }
}
