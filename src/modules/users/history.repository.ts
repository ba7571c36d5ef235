import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { HistoryItemSummary } from './history.entity';
import { prepared } from '../../core/database/prepared';

/** Where a query runs: the data source, or a transaction's EntityManager. */
export type Queryable = Pick<EntityManager, 'query'>;

export interface HistoryRow {
  job_id: string;
  created_at: Date;
  /** created_at as an exact UTC text (microseconds), for the page cursor. */
  created_key: string;
  status: 'completed' | 'failed';
  items: HistoryItemSummary[];
}

/**
 * The users module's SQL over users.history. Methods that take `db` run inside the caller's
 * transaction (the pipeline's save, the login that merges a guest).
 */
@Injectable()
export class HistoryRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Inserts, or for the same user's job refreshes, one row — only while the user exists (a
   * deleted user's row would have nobody to belong to; a concurrent delete raises 23503).
   */
  async upsert(
    entry: {
      jobId: string;
      userId: string;
      createdAt: Date;
      status: 'completed' | 'failed';
      items: HistoryItemSummary[];
      job: Record<string, unknown>;
    },
    db: Queryable = this.dataSource,
  ): Promise<void> {
    await db.query(
      prepared(`INSERT INTO users.history (job_id, user_id, created_at, status, items, job)
       SELECT $1, $2, $3, $4, $5::jsonb, $6::jsonb
        WHERE EXISTS (SELECT 1 FROM auth.users WHERE id = $2)
       ON CONFLICT (job_id) DO UPDATE
         SET status = EXCLUDED.status, items = EXCLUDED.items, job = EXCLUDED.job
       WHERE users.history.user_id = EXCLUDED.user_id`),
      [
        entry.jobId,
        entry.userId,
        entry.createdAt,
        entry.status,
        JSON.stringify(entry.items ?? []),
        JSON.stringify(entry.job ?? {}),
      ],
    );
  }

  /** Newest first, strictly after the cursor's (created_at, job_id); `limit` rows at most. */
  async page(
    userId: string,
    after: { createdKey: string; jobId: string } | undefined,
    limit: number,
  ): Promise<HistoryRow[]> {
    return (await this.dataSource.query(
      `SELECT job_id, created_at, status, items,
              to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key
         FROM users.history
        WHERE user_id = $1
          AND ($2::timestamptz IS NULL OR (created_at, job_id) < ($2::timestamptz, $3::uuid))
        ORDER BY created_at DESC, job_id DESC
        LIMIT $4`,
      [userId, after?.createdKey ?? null, after?.jobId ?? null, limit],
    )) as HistoryRow[];
  }

  /** The stored Job snapshot of the user's job. */
  async job(userId: string, jobId: string): Promise<Record<string, unknown> | undefined> {
    const rows = (await this.dataSource.query(
      `SELECT job FROM users.history WHERE user_id = $1 AND job_id = $2`,
      [userId, jobId],
    )) as { job: Record<string, unknown> }[];
    return rows[0]?.job;
  }

  /** Rows deleted (0 or 1). */
  async delete(userId: string, jobId: string): Promise<number> {
    const [, count] = (await this.dataSource.query(
      `DELETE FROM users.history WHERE user_id = $1 AND job_id = $2`,
      [userId, jobId],
    )) as [unknown, number];
    return count;
  }

  async count(userId: string): Promise<number> {
    const rows = (await this.dataSource.query(
      `SELECT count(*)::int AS n FROM users.history WHERE user_id = $1`,
      [userId],
    )) as { n: number }[];
    return rows[0]?.n ?? 0;
  }

  /**
   * Completed analyses: how many, items per category, and the distinct days in `timeZone`. With
   * `homeRegion`, the user's saved 시군구 code (users.home_regions, HomeRegionRepository's row)
   * comes in the same statement: GET /users/me then costs one round trip less.
   */
  async completedStats(
    userId: string,
    timeZone: string,
    opts: { homeRegion?: boolean } = {},
  ): Promise<{
    analyses: number;
    categories: Record<string, number>;
    daysDesc: string[];
    homeRegion?: string | null;
  }> {
    // One statement (it was three queries on three pooled connections per GET /users/me).
    const rows = (await this.dataSource.query(
      `SELECT
         (SELECT count(*)::int FROM users.history
           WHERE user_id = $1 AND status = 'completed') AS analyses,
         (SELECT coalesce(jsonb_object_agg(c.category_id, c.n), '{}'::jsonb)
            FROM (SELECT item->>'categoryId' AS category_id, count(*)::int AS n
                    FROM users.history h, jsonb_array_elements(h.items) AS item
                   WHERE h.user_id = $1 AND h.status = 'completed' AND item ? 'categoryId'
                   GROUP BY 1) c) AS categories,
         (SELECT coalesce(array_agg(d.day ORDER BY d.day DESC), '{}'::text[])
            FROM (SELECT DISTINCT to_char(created_at AT TIME ZONE '${timeZone}', 'YYYY-MM-DD') AS day
                    FROM users.history
                   WHERE user_id = $1 AND status = 'completed'
                   ORDER BY day DESC
                   LIMIT 3660) d) AS days${
                     opts.homeRegion
                       ? `,
         (SELECT region_code FROM users.home_regions WHERE user_id = $1) AS home_region`
                       : ''
                   }`,
      [userId],
    )) as {
      analyses: number;
      categories: Record<string, number>;
      days: string[];
      home_region?: string | null;
    }[];
    const r = rows[0];
    return {
      analyses: r?.analyses ?? 0,
      categories: r?.categories ?? {},
      daysDesc: r?.days ?? [],
      ...(opts.homeRegion ? { homeRegion: r?.home_region ?? null } : {}),
    };
  }

  /** Every row of one user moves to another (a guest folded into an existing account). */
  async moveAll(fromUserId: string, toUserId: string, db: Queryable): Promise<void> {
    await db.query(`UPDATE users.history SET user_id = $2 WHERE user_id = $1`, [
      fromUserId,
      toUserId,
    ]);
  }
}
