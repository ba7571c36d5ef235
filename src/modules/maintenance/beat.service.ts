import { InjectQueue, Process, Processor } from '@nestjs/bull';
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { Job, Queue } from 'bull';
import { TaskPublisher } from '../../core/messaging/task-publisher';
import { ScheduleRoutingKey } from '../../core/messaging/messages';
import { SCHEDULE, SCHEDULE_QUEUE, SCHEDULE_TZ, ScheduleEntry } from './schedule';

interface TickData {
  routingKey: ScheduleRoutingKey;
}

/**
 * The clock. The schedule lives in Bull repeatable jobs: Bull derives each tick's job id from
 * (name, cron, tz, time), so any number of beat replicas enqueue a tick once and one of them
 * processes it. The tick only publishes the `sched.*` message; bulk workers do the work.
 */
@Processor(SCHEDULE_QUEUE)
@Injectable()
export class BeatService implements OnApplicationBootstrap {
  private readonly logger = new Logger(BeatService.name);

  constructor(
    @InjectQueue(SCHEDULE_QUEUE) private readonly queue: Queue<TickData>,
    private readonly publisher: TaskPublisher,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.sync(SCHEDULE);
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
