import { MigrationInterface, QueryRunner } from 'typeorm';

/** auth.users, auth.identities (provider, provider_user_id unique), auth.refresh_tokens (hashes only). */
export class AuthAccounts1764152000000 implements MigrationInterface {
  name = 'AuthAccounts1764152000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE auth.users (
        id uuid PRIMARY KEY,
        nickname text NOT NULL,
        email text,
        profile_image_url text,
        is_guest boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE auth.identities (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
        provider text NOT NULL CHECK (provider IN ('kakao', 'naver', 'google')),
        provider_user_id text NOT NULL,
        email text,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT uq_identities_provider_user UNIQUE (provider, provider_user_id)
      )`);
    await q.query(`CREATE INDEX ix_identities_user ON auth.identities (user_id)`);
    await q.query(`
      CREATE TABLE auth.refresh_tokens (
        id uuid PRIMARY KEY,
        family_id uuid NOT NULL,
        user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
        token_hash text NOT NULL UNIQUE,
        expires_at timestamptz NOT NULL,
        used_at timestamptz,
        revoked_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX ix_refresh_tokens_family ON auth.refresh_tokens (family_id)`);
    await q.query(`CREATE INDEX ix_refresh_tokens_user ON auth.refresh_tokens (user_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS auth.refresh_tokens`);
    await q.query(`DROP TABLE IF EXISTS auth.identities`);
    await q.query(`DROP TABLE IF EXISTS auth.users`);
  }
}
