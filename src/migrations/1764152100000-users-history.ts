import { MigrationInterface, QueryRunner } from 'typeorm';

/** users.history: one row per analysis job (job_id is the idempotency key). */
export class UsersHistory1764152100000 implements MigrationInterface {
  name = 'UsersHistory1764152100000';

  async up(q: QueryRunner): Promise<void> {
    // The foreign key makes account deletion remove history in the same transaction.
    await q.query(`
      CREATE TABLE users.history (
        job_id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL,
        status text NOT NULL CHECK (status IN ('completed', 'failed')),
        items jsonb NOT NULL DEFAULT '[]'::jsonb,
        job jsonb NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(
      `CREATE INDEX ix_history_user_created ON users.history (user_id, created_at DESC, job_id DESC)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS users.history`);
  }
}
