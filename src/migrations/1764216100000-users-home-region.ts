import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The home region a user may save on the profile (PATCH /users/me → homeRegion), used for
 * disposal days when a request carries no coordinates (docs/schedules.md → Home region). One row
 * per user; deleted with the account.
 */
export class UsersHomeRegion1764216100000 implements MigrationInterface {
  name = 'UsersHomeRegion1764216100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE users.home_regions (
        user_id uuid PRIMARY KEY REFERENCES auth.users(id) ON DELETE CASCADE,
        region_code text NOT NULL CHECK (region_code ~ '^[0-9]{5}$'),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS users.home_regions`);
  }
}
