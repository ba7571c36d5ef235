import { MigrationInterface, QueryRunner } from 'typeorm';

/** image_phash holds the near-duplicate fingerprint: dHash plus a colour thumbnail. */
export class WasteImageFingerprint1764190000000 implements MigrationInterface {
  name = 'WasteImageFingerprint1764190000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE waste.jobs ALTER COLUMN image_phash TYPE varchar(80)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE waste.jobs ALTER COLUMN image_phash TYPE varchar(16) USING left(image_phash, 16)`,
    );
  }
}
