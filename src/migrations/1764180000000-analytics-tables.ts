import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * analytics.job_events: one anonymous row per finished job (no user id, so it outlives account
 * deletion without keeping personal data); analytics.daily_stats: one aggregate per Asia/Seoul day.
 */
export class AnalyticsTables1764180000000 implements MigrationInterface {
  name = 'AnalyticsTables1764180000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE analytics.job_events (
        job_id uuid PRIMARY KEY,
        status varchar(20) NOT NULL,
        error_code varchar(40),
        cache_hit boolean NOT NULL DEFAULT false,
        cache_kind varchar(10),
        categories text[] NOT NULL DEFAULT '{}',
        timings jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL,
        finished_at timestamptz,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT job_events_status_chk CHECK (status IN ('completed', 'failed', 'expired'))
      )`);
    await q.query(`CREATE INDEX ix_job_events_created ON analytics.job_events (created_at)`);
    await q.query(`
      CREATE TABLE analytics.daily_stats (
        day date PRIMARY KEY,
        stats jsonb NOT NULL,
        computed_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS analytics.daily_stats`);
    await q.query(`DROP TABLE IF EXISTS analytics.job_events`);
  }
}
