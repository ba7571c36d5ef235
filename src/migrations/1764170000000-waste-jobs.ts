import { MigrationInterface, QueryRunner } from 'typeorm';

export class WasteJobs1764170000000 implements MigrationInterface {
  name = 'WasteJobs1764170000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE waste.jobs (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL,
        status varchar(20) NOT NULL,
        stage varchar(20),
        progress smallint NOT NULL DEFAULT 0,
        version integer NOT NULL DEFAULT 1,
        content_type varchar(40) NOT NULL,
        content_length integer NOT NULL,
        hint varchar(200),
        locale varchar(2) NOT NULL DEFAULT 'ko',
        lat double precision,
        lng double precision,
        storage_key varchar(300) NOT NULL,
        upload_expires_at timestamptz NOT NULL,
        image_sha256 varchar(64),
        image_phash varchar(16),
        result jsonb,
        error_code varchar(40),
        error_message varchar(500),
        timings jsonb NOT NULL DEFAULT '{}',
        correction jsonb,
        queued_at timestamptz,
        finished_at timestamptz,
        finalized_at timestamptz,
        images_deleted_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT jobs_status_chk CHECK (status IN ('awaiting_upload','queued','processing','completed','failed','expired')),
        CONSTRAINT jobs_progress_chk CHECK (progress BETWEEN 0 AND 100)
      )`);
    await q.query(`CREATE INDEX jobs_user_created_idx ON waste.jobs (user_id, created_at DESC)`);
    await q.query(`CREATE INDEX jobs_status_updated_idx ON waste.jobs (status, updated_at)`);
    await q.query(
      `CREATE INDEX jobs_images_idx ON waste.jobs (created_at) WHERE images_deleted_at IS NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE waste.jobs`);
  }
}
