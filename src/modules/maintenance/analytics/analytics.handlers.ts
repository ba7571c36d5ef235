import { Injectable, Logger } from '@nestjs/common';
import { TaskHandler } from '../../../core/messaging/task-handler.decorator';
import { PermanentTaskError } from '../../../core/messaging/task.errors';
import { RoutingKey } from '../../../core/messaging/topology';
import { DailyStats } from './daily-stats.types';
import { DailyStatsService } from './daily-stats.service';
import { isDay, previousSeoulDay } from './seoul-day.util';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The bulk role's analytics: per-job events and the daily aggregate. */
@Injectable()
export class AnalyticsHandlers {
  private readonly logger = new Logger(AnalyticsHandlers.name);

  constructor(private readonly stats: DailyStatsService) {}

  /** One finished job → one analytics.job_events row (a redelivery rewrites the same row). */
  @TaskHandler(RoutingKey.AnalyticsSave)
  async save(payload: { jobId?: unknown }): Promise<void> {
    const jobId = payload?.jobId;
    if (typeof jobId !== 'string' || !UUID.test(jobId)) {
      throw new PermanentTaskError('INVALID_PAYLOAD', 'analytics.low.save needs { jobId: uuid }');
    }
    // 0 rows: the job is gone (account deleted) or not finished; the daily back-fill covers it.
    await this.stats.record([jobId]);
  }

  /** Recomputes one day on request (admin endpoint, or by hand). */
  @TaskHandler(RoutingKey.ReportDaily)
  async report(payload: { day?: unknown }): Promise<DailyStats> {
    const day = payload?.day ?? previousSeoulDay(new Date());
    if (!isDay(day)) {
      throw new PermanentTaskError('INVALID_PAYLOAD', 'report.low.daily needs { day: YYYY-MM-DD }');
    }
    return this.run(day);
  }

  /** 02:00 Asia/Seoul: yesterday, relative to the tick's scheduled time (late delivery safe). */
  @TaskHandler(RoutingKey.SchedDailyStats)
  async daily(payload: { scheduledFor?: unknown }): Promise<DailyStats> {
    const at = new Date(typeof payload?.scheduledFor === 'string' ? payload.scheduledFor : NaN);
    return this.run(previousSeoulDay(Number.isNaN(at.getTime()) ? new Date() : at));
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
