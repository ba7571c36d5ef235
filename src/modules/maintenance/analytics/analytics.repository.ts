import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { SCHEDULE_TZ } from '../schedule';
import { DailyStats } from './daily-stats.types';
import { prepared } from '../../../core/database/prepared';

const TERMINAL = `('completed', 'failed', 'expired')`;

/**
 * job_events rows from the waste module's read model `j` (waste.job_facts, its public view of
 * jobs: this module never reads waste.jobs); ON CONFLICT makes every write idempotent.
 */
const RECORD = `
  INSERT INTO analytics.job_events
    (job_id, status, error_code, cache_hit, cache_kind, categories, timings, created_at, finished_at)
  SELECT j.job_id, j.status, j.error_code, j.cache_hit, j.cache_kind, j.categories,
         j.timings, j.created_at, j.finished_at
    FROM waste.job_facts j
   WHERE j.status IN ${TERMINAL} AND %WHERE%
  ON CONFLICT (job_id) %CONFLICT%
  RETURNING job_id`;
const REWRITE = `DO UPDATE SET
    status = EXCLUDED.status, error_code = EXCLUDED.error_code, cache_hit = EXCLUDED.cache_hit,
    cache_kind = EXCLUDED.cache_kind, categories = EXCLUDED.categories, timings = EXCLUDED.timings,
    finished_at = EXCLUDED.finished_at, recorded_at = now()`;

const recordSql = (where: string, conflict: string) =>
  RECORD.replace('%WHERE%', where).replace('%CONFLICT%', conflict);

/** The completing transaction's statement, built once (named per call: prepared() may be off). */
const RECORD_BY_IDS = recordSql('j.job_id = ANY($1::uuid[])', REWRITE);

/**
 * Records the analytics events of these jobs if they have finished; returns how many were
 * written. `db` may be a transaction's EntityManager: the pipeline's save writes a completed
 * job's event in the transaction that completes the job (docs/operations.md → Analytics).
 */
export async function recordJobEvents(
  db: Pick<EntityManager, 'query'>,
  jobIds: string[],
): Promise<number> {
  return ((await db.query(prepared(RECORD_BY_IDS), [jobIds])) as unknown[]).length;
}

/** Rows created on Asia/Seoul day $1 (index-friendly range on created_at). */
const ON_DAY = (col: string) =>
  `${col} >= ($1::date)::timestamp AT TIME ZONE '${SCHEDULE_TZ}'
   AND ${col} < ($1::date + 1)::timestamp AT TIME ZONE '${SCHEDULE_TZ}'`;

/** The day's raw numbers, as aggregate() reads them (DailyStatsService shapes them). */
export interface DayAggregate {
  statuses: { status: string; n: number }[];
  pending: { n: number }[];
  failures: { code: string; n: number }[];
  cache: { kind: string; n: number }[];
  latency: { stage: string; n: number; p: number[] }[];
  categories: { category: string; n: number }[];
}

/**
 * The maintenance module's SQL over analytics.job_events and analytics.daily_stats. It reads
 * jobs only through waste.job_facts, the waste module's read model.
 */
@Injectable()
export class AnalyticsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /** Events of these jobs if they have finished (see recordJobEvents). */
  record(jobIds: string[], db: Pick<EntityManager, 'query'> = this.db): Promise<number> {
    return recordJobEvents(db, jobIds);
  }

  /** Events for every finished job created on `day` that has none yet. */
  async backfill(day: string): Promise<number> {
    // DO NOTHING rather than an anti-join: right after a bulk load the planner's statistics can
    // make NOT EXISTS a nested loop that rescans the growing table (measured: 59 s for 100 000).
    const sql = recordSql(ON_DAY('j.created_at'), 'DO NOTHING');
    return ((await this.db.query(sql, [day])) as unknown[]).length;
  }

  async storeDay(day: string, stats: DailyStats): Promise<void> {
    await this.db.query(
      `INSERT INTO analytics.daily_stats (day, stats, computed_at) VALUES ($1, $2::jsonb, now())
       ON CONFLICT (day) DO UPDATE SET stats = EXCLUDED.stats, computed_at = now()`,
      [day, JSON.stringify(stats)],
    );
  }

  async storedDay(day: string): Promise<{ stats: DailyStats; computedAt: Date } | undefined> {
    const rows = (await this.db.query(
      `SELECT stats, computed_at FROM analytics.daily_stats WHERE day = $1`,
      [day],
    )) as { stats: DailyStats; computed_at: Date }[];
    return rows[0] ? { stats: rows[0].stats, computedAt: rows[0].computed_at } : undefined;
  }

  /** The newest saved aggregate. */
  async latestDay(): Promise<{ day: string; stats: DailyStats; computedAt: Date } | undefined> {
    const rows = (await this.db.query(
      `SELECT to_char(day, 'YYYY-MM-DD') AS day, stats, computed_at
         FROM analytics.daily_stats ORDER BY day DESC LIMIT 1`,
    )) as { day: string; stats: DailyStats; computed_at: Date }[];
    return rows[0]
      ? { day: rows[0].day, stats: rows[0].stats, computedAt: rows[0].computed_at }
      : undefined;
  }

  /** The events of jobs created on `day` (Asia/Seoul), counted every way the report needs. */
  async aggregate(day: string): Promise<DayAggregate> {
    const ev = 'analytics.job_events e';
    const inDay = ON_DAY('e.created_at');
    const q = <T>(sql: string) => this.db.query(sql, [day]) as Promise<T[]>;
    const [statuses, pending, failures, cache, latency, categories] = await Promise.all([
      q<{ status: string; n: number }>(
        `SELECT e.status, count(*)::int AS n FROM ${ev} WHERE ${inDay} GROUP BY e.status`,
      ),
      q<{ n: number }>(
        `SELECT count(*)::int AS n FROM waste.job_facts j
          WHERE ${ON_DAY('j.created_at')} AND j.status NOT IN ${TERMINAL}`,
      ),
      q<{ code: string; n: number }>(
        `SELECT COALESCE(e.error_code, 'UNKNOWN') AS code, count(*)::int AS n
           FROM ${ev} WHERE ${inDay} AND e.status = 'failed' GROUP BY 1 ORDER BY 2 DESC, 1`,
      ),
      q<{ kind: string; n: number }>(
        `SELECT CASE WHEN e.cache_hit THEN COALESCE(e.cache_kind, 'exact') ELSE 'miss' END AS kind,
                count(*)::int AS n
           FROM ${ev} WHERE ${inDay} AND e.status = 'completed' GROUP BY 1`,
      ),
      q<{ stage: string; n: number; p: number[] }>(
        `SELECT t.key AS stage, count(*)::int AS n,
                percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY (t.value::text)::float8) AS p
           FROM ${ev}, jsonb_each(e.timings) t
          WHERE ${inDay} AND e.status = 'completed' AND jsonb_typeof(t.value) = 'number'
          GROUP BY t.key ORDER BY t.key`,
      ),
      q<{ category: string; n: number }>(
        `SELECT c AS category, count(*)::int AS n
           FROM ${ev}, unnest(e.categories) c
          WHERE ${inDay} AND e.status = 'completed'
          GROUP BY c ORDER BY 2 DESC, 1`,
      ),
    ]);
    return { statuses, pending, failures, cache, latency, categories };
  }
}
