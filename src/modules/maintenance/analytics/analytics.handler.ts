import { Injectable, Logger } from '@nestjs/common';
import { TaskHandler } from '../../../core/messaging/task-handler.decorator';
import { Message } from '../../../core/messaging/messages';
import { RoutingKey } from '../../../core/messaging/topology';
import { DailyStats } from './daily-stats.types';
import { DailyStatsService } from './daily-stats.service';
import { previousSeoulDay } from './seoul-day.util';

/** The bulk role's analytics: per-job events and the daily aggregate. */
@Injectable()
export class AnalyticsHandlers {
  private readonly logger = new Logger(AnalyticsHandlers.name);

  constructor(private readonly stats: DailyStatsService) {}

  /** One finished job → one analytics.job_events row (a redelivery rewrites the same row). */
  @TaskHandler(RoutingKey.AnalyticsSave)
  async save({ jobId }: Message<'analytics.low.save'>): Promise<void> {
    // 0 rows: the job is gone (account deleted) or not finished; the daily back-fill covers it.
    await this.stats.record([jobId]);
  }

  /** Recomputes one day on request (admin endpoint, or by hand). */
  @TaskHandler(RoutingKey.ReportDaily)
  async report({ day }: Message<'report.low.daily'>): Promise<DailyStats> {
    return this.run(day ?? previousSeoulDay(new Date()));
  }

  /** 02:00 Asia/Seoul: yesterday, relative to the tick's scheduled time (late delivery safe). */
  @TaskHandler(RoutingKey.SchedDailyStats)
  async daily({ scheduledFor }: Message<'sched.daily.stats'>): Promise<DailyStats> {
    return this.run(previousSeoulDay(scheduledFor ? new Date(scheduledFor) : new Date()));
  }

  private async run(day: string): Promise<DailyStats> {
    const s = await this.stats.computeAndStore(day);
    const codes = Object.entries(s.failuresByCode)
      .map(([code, f]) => `${code}=${f.count}`)
      .join(' ');
    this.logger.log(
      `daily stats ${day}: ${s.jobs.total} jobs (${s.jobs.completed} completed, ${s.jobs.failed} failed${codes ? ` [${codes}]` : ''}, ${s.jobs.expired} expired, ${s.jobs.pending} pending); ` +
        `completion ${s.completionRate ?? '-'}; cache hit ${s.cache.hitRate ?? '-'}; ` +
        `total p50/p90 ${s.latencyMs.total?.p50 ?? '-'}/${s.latencyMs.total?.p90 ?? '-'} ms; ${s.items.total} items`,
    );
    return s;
  }
}
