import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * auth.revoked_families: the login families of deleted accounts and merged guests. Their
 * refresh-token rows go with the user (ON DELETE CASCADE), so without this table a deny-list
 * rebuild would not know them (docs/auth.md → Revocation). No foreign key on purpose: the row
 * must outlive the user.
 */
export class AuthRevokedFamilies1764218000000 implements MigrationInterface {
  name = 'AuthRevokedFamilies1764218000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE auth.revoked_families (
        family_id uuid PRIMARY KEY,
        revoked_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX ix_revoked_families_at ON auth.revoked_families (revoked_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE auth.revoked_families`);
  }
}
