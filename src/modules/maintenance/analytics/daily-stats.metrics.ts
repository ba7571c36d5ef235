import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { Metrics } from '../../../core/observability/metrics';
import { DailyStatsService } from './daily-stats.service';
import { StoredDailyStats } from './daily-stats.types';

const REFRESH_MS = 60_000;

/** The live source (the registry is per process; tests run several apps in one). */
let source: DailyStatsService | undefined;
let cached: { at: number; value: Promise<StoredDailyStats | undefined> } | undefined;

function latest(): Promise<StoredDailyStats | undefined> {
  if (!source) return Promise.resolve(undefined);
  if (!cached || Date.now() - cached.at > REFRESH_MS) {
    cached = { at: Date.now(), value: source.latest().catch(() => undefined) };
  }
  return cached.value;
}

/**
 * The newest saved day as gauges, read from analytics.daily_stats when Prometheus scrapes (at
 * most once a minute), so every bulk replica reports the same numbers. Use max() across pods.
 */
@Injectable()
export class DailyStatsMetrics implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(DailyStatsMetrics.name);

  constructor(
    private readonly stats: DailyStatsService,
    private readonly metrics: Metrics,
  ) {}

  onApplicationBootstrap(): void {
    source = this.stats;
    cached = undefined;
    const gauge = <L extends string>(
      name: string,
      help: string,
      labels: readonly L[],
      fill: (g: Gauge<L>, s: StoredDailyStats) => void,
    ) => {
      const g: Gauge<L> = this.metrics.gauge(name, help, labels, async () => {
        const s = await latest();
        g.reset();
        if (s) fill(g, s);
      });
    };
    gauge(
      'waste_daily_stats_day_timestamp_seconds',
      'Start (Asia/Seoul) of the newest saved day',
      [],
      (g, s) => g.set(Date.parse(`${s.day}T00:00:00+09:00`) / 1000),
    );
    gauge(
      'waste_daily_jobs',
      'Jobs created on the newest saved day, by outcome',
      ['status'],
      (g, s) => {
        for (const [status, n] of Object.entries(s.stats.jobs)) g.labels(status).set(n);
      },
    );
    gauge(
      'waste_daily_completion_ratio',
      'Completed / (completed + failed), newest day',
      [],
      (g, s) => {
        if (s.stats.completionRate !== null) g.set(s.stats.completionRate);
      },
    );
    gauge('waste_daily_failures', 'Failed jobs by error code, newest day', ['code'], (g, s) => {
      for (const [code, f] of Object.entries(s.stats.failuresByCode)) g.labels(code).set(f.count);
    });
    gauge(
      'waste_daily_cache_hit_ratio',
      'Image-cache hits / completed jobs, newest day (kind: exact, similar, any)',
      ['kind'],
      (g, s) => {
        const c = s.stats.cache;
        if (c.hitRate !== null) g.labels('any').set(c.hitRate);
        for (const k of ['exact', 'similar'] as const) {
          const rate = c.byKind[k].rate;
          if (rate !== null) g.labels(k).set(rate);
        }
      },
    );
    gauge(
      'waste_daily_stage_latency_ms',
      'Per-stage latency percentiles of completed jobs, newest day',
      ['stage', 'quantile'],
      (g, s) => {
        for (const [stage, l] of Object.entries(s.stats.latencyMs)) {
          g.labels(stage, '0.5').set(l.p50);
          g.labels(stage, '0.9').set(l.p90);
          g.labels(stage, '0.99').set(l.p99);
        }
      },
    );
    gauge(
      'waste_daily_items',
      'Detected items of completed jobs by category, newest day',
      ['category'],
      (g, s) => {
        for (const [category, n] of Object.entries(s.stats.items.byCategory))
          g.labels(category).set(n);
      },
    );
    this.logger.debug('daily stats gauges registered');
  }

  onApplicationShutdown(): void {
    if (source === this.stats) {
      source = undefined;
      cached = undefined;
    }
  }
}
