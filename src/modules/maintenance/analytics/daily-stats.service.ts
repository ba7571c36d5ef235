import { Injectable } from '@nestjs/common';
import { SCHEDULE_TZ } from '../schedule';
import { AnalyticsRepository } from './analytics.repository';
import { DailyStats, Share, StageLatency, StoredDailyStats } from './daily-stats.types';

export { recordJobEvents } from './analytics.repository';

const ratio = (n: number, d: number): number | null =>
  d > 0 ? Math.round((n / d) * 10_000) / 10_000 : null;
const share = (n: number, d: number): Share => ({ count: n, rate: ratio(n, d) });
const ms = (v: unknown): number => Math.round(Number(v) * 10) / 10;

/**
 * Per-job analytics events and the daily aggregate. analytics.job_events is written by
 * analytics.low.save for each completed job and back-filled from waste.job_facts for every other
 * finished job (failed, expired, or a lost event) before a day is aggregated, so the numbers are
 * exactly those of the jobs, and stay so after accounts (and their jobs) are deleted.
 */
@Injectable()
export class DailyStatsService {
  constructor(private readonly repo: AnalyticsRepository) {}

  /** Records the events of these jobs if they have finished; returns how many were written. */
  async record(jobIds: string[]): Promise<number> {
    return this.repo.record(jobIds);
  }

  /** Events for every finished job created on `day` that has none yet. */
  async backfill(day: string): Promise<number> {
    return this.repo.backfill(day);
  }

  /** Back-fills, aggregates and saves `day` (idempotent: a recompute replaces it). */
  async computeAndStore(day: string): Promise<DailyStats> {
    const stats = await this.compute(day);
    await this.repo.storeDay(day, stats);
    return stats;
  }

  /** The saved aggregate of `day`, or computed now (not saved) when there is none yet. */
  async read(day: string): Promise<StoredDailyStats> {
    const stored = await this.repo.storedDay(day);
    if (stored) {
      return {
        day,
        stats: stored.stats,
        computedAt: new Date(stored.computedAt).toISOString(),
        stored: true,
      };
    }
    return { day, stats: await this.compute(day), computedAt: null, stored: false };
  }

  /** The newest saved aggregate (for the gauges). */
  async latest(): Promise<StoredDailyStats | undefined> {
    const latest = await this.repo.latestDay();
    if (!latest) return undefined;
    return {
      day: latest.day,
      stats: latest.stats,
      computedAt: new Date(latest.computedAt).toISOString(),
      stored: true,
    };
  }

  async compute(day: string): Promise<DailyStats> {
    await this.backfill(day);
    const { statuses, pending, failures, cache, latency, categories } =
      await this.repo.aggregate(day);
    const count = (s: string) => statuses.find((r) => r.status === s)?.n ?? 0;
    const jobs = {
      completed: count('completed'),
      failed: count('failed'),
      expired: count('expired'),
      pending: pending[0]?.n ?? 0,
      total: 0,
    };
    jobs.total = jobs.completed + jobs.failed + jobs.expired + jobs.pending;
    const processed = jobs.completed + jobs.failed;
    const kind = (k: string) => cache.find((r) => r.kind === k)?.n ?? 0;
    const hits = kind('exact') + kind('similar');
    const latencyMs: Record<string, StageLatency> = {};
    for (const r of latency) {
      latencyMs[r.stage] = { count: r.n, p50: ms(r.p[0]), p90: ms(r.p[1]), p99: ms(r.p[2]) };
    }
    return {
      day,
      timeZone: SCHEDULE_TZ,
      jobs: {
        total: jobs.total,
        completed: jobs.completed,
        failed: jobs.failed,
        expired: jobs.expired,
        pending: jobs.pending,
      },
      completionRate: ratio(jobs.completed, processed),
      failureRate: ratio(jobs.failed, processed),
      failuresByCode: Object.fromEntries(failures.map((r) => [r.code, share(r.n, processed)])),
      cache: {
        lookups: jobs.completed,
        hitRate: ratio(hits, jobs.completed),
        byKind: {
          exact: share(kind('exact'), jobs.completed),
          similar: share(kind('similar'), jobs.completed),
          miss: share(kind('miss'), jobs.completed),
        },
      },
      latencyMs,
      items: {
        total: categories.reduce((sum, r) => sum + r.n, 0),
        byCategory: Object.fromEntries(categories.map((r) => [r.category, r.n])),
      },
    };
  }
}
