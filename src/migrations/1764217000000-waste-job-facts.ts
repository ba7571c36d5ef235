import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * waste.job_facts: the waste module's public read model for analytics (docs/architecture.md →
 * Data). Other modules read jobs through this view, never waste.jobs, so the shape of a job's
 * `result` stays the waste module's own business; the planner inlines it (same plans as before).
 */
export class WasteJobFacts1764217000000 implements MigrationInterface {
  name = 'WasteJobFacts1764217000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE VIEW waste.job_facts AS
      SELECT j.id AS job_id, j.status, j.error_code,
             COALESCE((j.result->'cache'->>'hit')::boolean, false) AS cache_hit,
             j.result->'cache'->>'kind' AS cache_kind,
             ARRAY(SELECT i.item->'category'->>'id'
                     FROM jsonb_array_elements(CASE WHEN jsonb_typeof(j.result->'items') = 'array'
                                                    THEN j.result->'items' ELSE '[]'::jsonb END)
                          WITH ORDINALITY AS i(item, n)
                    WHERE i.item->'category'->>'id' IS NOT NULL
                    ORDER BY i.n) AS categories,
             j.timings, j.created_at, j.finished_at
        FROM waste.jobs j`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP VIEW waste.job_facts`);
  }
}
