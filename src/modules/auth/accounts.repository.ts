import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { OAuthProvider } from './entities/identity.entity';
import { prepared } from '../../core/database/prepared';

/** Where a query runs: the data source, or a transaction's EntityManager. */
export type Queryable = Pick<EntityManager, 'query'>;

/** auth.users with its identities' providers (USER_SELECT). */
export interface UserRow {
  id: string;
  nickname: string;
  email: string | null;
  profile_image_url: string | null;
  is_guest: boolean;
  created_at: Date;
  providers: OAuthProvider[] | null;
}

const USER_SELECT = `
  SELECT u.id, u.nickname, u.email, u.profile_image_url, u.is_guest, u.created_at,
         (SELECT array_agg(i.provider ORDER BY i.created_at) FROM auth.identities i WHERE i.user_id = u.id) AS providers
    FROM auth.users u`;

/**
 * The auth module's SQL over auth.users, auth.identities and auth.revoked_families (the account
 * side; refresh tokens are RefreshTokensRepository's). Methods that take `db` run inside the
 * caller's transaction (login, account deletion).
 */
@Injectable()
export class AccountsRepository {
  constructor(private readonly dataSource: DataSource) {}

  transaction<T>(fn: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(fn);
  }

  /** Which of these user ids have no account (deleted, or a guest merged into another). */
  async missing(ids: readonly string[]): Promise<string[]> {
    const rows = (await this.dataSource.query(
      `SELECT id FROM unnest($1::uuid[]) AS x(id) WHERE NOT EXISTS (SELECT 1 FROM auth.users u WHERE u.id = x.id)`,
      [ids],
    )) as { id: string }[];
    return rows.map((r) => r.id);
  }

  /** A new guest, returned as the row USER_SELECT would read: a new guest has no identities yet. */
  async insertGuest(
    id: string,
    nickname: string,
    db: Queryable = this.dataSource,
  ): Promise<UserRow> {
    const rows = (await db.query(
      prepared(`INSERT INTO auth.users (id, nickname, is_guest) VALUES ($1, $2, true)
       RETURNING id, nickname, email, profile_image_url, is_guest, created_at, NULL AS providers`),
      [id, nickname],
    )) as UserRow[];
    return rows[0];
  }

  async find(id: string, db: Queryable = this.dataSource): Promise<UserRow | undefined> {
    const rows = (await db.query(`${USER_SELECT} WHERE u.id = $1`, [id])) as UserRow[];
    return rows[0];
  }

  /** The account's id and whether it is a guest (the auth guard's user row). */
  async authRow(id: string): Promise<{ id: string; isGuest: boolean } | undefined> {
    const rows = (await this.dataSource.query(
      prepared(`SELECT id, is_guest FROM auth.users WHERE id = $1`),
      [id],
    )) as { id: string; is_guest: boolean }[];
    return rows[0] ? { id: rows[0].id, isGuest: rows[0].is_guest } : undefined;
  }

  /** The account a social identity belongs to, if any. */
  async identityOwner(
    provider: OAuthProvider,
    providerUserId: string,
    db: Queryable,
  ): Promise<string | undefined> {
    const rows = (await db.query(
      `SELECT user_id FROM auth.identities WHERE provider = $1 AND provider_user_id = $2`,
      [provider, providerUserId],
    )) as { user_id: string }[];
    return rows[0]?.user_id;
  }

  async deleteGuest(id: string, db: Queryable): Promise<void> {
    await db.query(`DELETE FROM auth.users WHERE id = $1 AND is_guest`, [id]);
  }

  /** A guest becomes a registered account; the profile fills what the guest did not set. */
  async upgradeGuest(
    id: string,
    profile: { nickname: string | null; email: string | null; profileImageUrl: string | null },
    db: Queryable,
  ): Promise<void> {
    await db.query(
      `UPDATE auth.users
          SET is_guest = false, updated_at = now(),
              nickname = COALESCE($2, nickname), email = COALESCE($3, email),
              profile_image_url = COALESCE(profile_image_url, $4)
        WHERE id = $1`,
      [id, profile.nickname, profile.email, profile.profileImageUrl],
    );
  }

  async insertRegistered(
    id: string,
    profile: { nickname: string; email: string | null; profileImageUrl: string | null },
    db: Queryable,
  ): Promise<void> {
    await db.query(
      `INSERT INTO auth.users (id, nickname, email, profile_image_url, is_guest)
       VALUES ($1, $2, $3, $4, false)`,
      [id, profile.nickname, profile.email, profile.profileImageUrl],
    );
  }

  /** Links an identity to an account; false when another login linked it first (a race). */
  async insertIdentity(
    userId: string,
    identity: { provider: OAuthProvider; providerUserId: string; email: string | null },
    db: Queryable,
  ): Promise<boolean> {
    // ON CONFLICT: the loser of a race of two first logins rolls back and retries.
    const inserted = (await db.query(
      `INSERT INTO auth.identities (user_id, provider, provider_user_id, email)
       VALUES ($1, $2, $3, $4)
       ON CONFLICT (provider, provider_user_id) DO NOTHING RETURNING id`,
      [userId, identity.provider, identity.providerUserId, identity.email],
    )) as { id: string }[];
    return inserted.length > 0;
  }

  async updateProfile(
    id: string,
    patch: { nickname?: string; profileImageUrl?: string | null },
  ): Promise<void> {
    await this.dataSource.query(
      `UPDATE auth.users
          SET nickname = COALESCE($2, nickname),
              profile_image_url = CASE WHEN $3::boolean THEN $4 ELSE profile_image_url END,
              updated_at = now()
        WHERE id = $1`,
      [
        id,
        patch.nickname ?? null,
        patch.profileImageUrl !== undefined,
        patch.profileImageUrl ?? null,
      ],
    );
  }

  /** Deletes the account (identities, refresh tokens, history: ON DELETE CASCADE); rows gone. */
  async delete(id: string, db: Queryable): Promise<number> {
    const [, count] = (await db.query(`DELETE FROM auth.users WHERE id = $1`, [id])) as [
      unknown,
      number,
    ];
    return count;
  }

  /**
   * Records the account's login families in auth.revoked_families (see
   * AccountsService.recordRevokedLogins). Families whose refresh tokens expired over a day ago
   * are left out, as in the pruning.
   */
  async recordRevokedFamilies(userId: string, db: Queryable): Promise<void> {
    await db.query(
      `INSERT INTO auth.revoked_families (family_id, revoked_at)
       SELECT DISTINCT family_id, now() FROM auth.refresh_tokens
        WHERE user_id = $1 AND expires_at > now() - interval '1 day'
       ON CONFLICT (family_id) DO UPDATE SET revoked_at = excluded.revoked_at`,
      [userId],
    );
  }
}
