import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A user's correction of an analysis, kept as a signal (docs/pipeline.md → Corrections): it
 * changes that user's own job, and the shared image cache only once enough distinct registered
 * accounts agree on the same answer for the same photo.
 */
export class WasteCorrectionSignals1764215000000 implements MigrationInterface {
  name = 'WasteCorrectionSignals1764215000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE waste.correction_signals (
        job_id uuid PRIMARY KEY REFERENCES waste.jobs (id) ON DELETE CASCADE,
        user_id uuid NOT NULL,
        image_sha256 varchar(64) NOT NULL,
        image_phash varchar(80) NOT NULL,
        answer varchar(1400) NOT NULL,
        items jsonb NOT NULL,
        counts boolean NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(
      `CREATE INDEX correction_signals_answer_idx ON waste.correction_signals (image_sha256, answer) WHERE counts`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE waste.correction_signals`);
  }
}
