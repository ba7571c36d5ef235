import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import type { Queryable } from './accounts.repository';
import { prepared } from '../../core/database/prepared';

/**
 * The auth module's SQL over auth.refresh_tokens (and the revoked families the deny list and the
 * pruning read). Methods that take `db` run inside the caller's transaction (rotation, login).
 */
@Injectable()
export class RefreshTokensRepository {
  constructor(private readonly dataSource: DataSource) {}

  transaction<T>(fn: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(fn);
  }

  /** The user's refresh tokens that expired (no longer needed, not even for reuse detection). */
  async deleteExpiredOf(userId: string, db: Queryable = this.dataSource): Promise<void> {
    await db.query(`DELETE FROM auth.refresh_tokens WHERE user_id = $1 AND expires_at < now()`, [
      userId,
    ]);
  }

  async insert(
    token: { id: string; familyId: string; userId: string; tokenHash: string; ttlSeconds: number },
    db: Queryable = this.dataSource,
  ): Promise<void> {
    await db.query(
      prepared(`INSERT INTO auth.refresh_tokens (id, family_id, user_id, token_hash, expires_at)
       VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`),
      [token.id, token.familyId, token.userId, token.tokenHash, token.ttlSeconds],
    );
  }

  /** Spends a live token (once: concurrent presentations race, one wins); its family and user. */
  async spend(
    tokenHash: string,
    db: Queryable,
  ): Promise<{ familyId: string; userId: string } | undefined> {
    const [spent] = (await db.query(
      `UPDATE auth.refresh_tokens SET used_at = now()
        WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
        RETURNING family_id, user_id`,
      [tokenHash],
    )) as [{ family_id: string; user_id: string }[], number];
    return spent[0] ? { familyId: spent[0].family_id, userId: spent[0].user_id } : undefined;
  }

  async findByHash(
    tokenHash: string,
  ): Promise<{ familyId: string; usedAt: Date | null; revokedAt: Date | null } | undefined> {
    const known = (await this.dataSource.query(
      `SELECT family_id, used_at, revoked_at FROM auth.refresh_tokens WHERE token_hash = $1`,
      [tokenHash],
    )) as { family_id: string; used_at: Date | null; revoked_at: Date | null }[];
    return known[0]
      ? { familyId: known[0].family_id, usedAt: known[0].used_at, revokedAt: known[0].revoked_at }
      : undefined;
  }

  async revokeFamily(familyId: string, db: Queryable = this.dataSource): Promise<void> {
    await db.query(
      `UPDATE auth.refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL`,
      [familyId],
    );
  }

  /** Family ids of the user's tokens, expired at most a day ago. */
  async familiesOf(userId: string, db: Queryable = this.dataSource): Promise<string[]> {
    const rows = (await db.query(
      `SELECT DISTINCT family_id FROM auth.refresh_tokens WHERE user_id = $1 AND expires_at > now() - interval '1 day'`,
      [userId],
    )) as { family_id: string }[];
    return rows.map((r) => r.family_id);
  }

  /**
   * Families revoked within `seconds` (refresh tokens and deleted accounts' families), with the
   * latest revocation as epoch seconds: what a deny-list rebuild denies again.
   */
  async revokedWithin(seconds: number): Promise<{ familyId: string; at: number }[]> {
    const rows = (await this.dataSource.query(
      `SELECT family_id, extract(epoch FROM max(revoked_at))::float8 AS at
         FROM (SELECT family_id, revoked_at FROM auth.refresh_tokens
               UNION ALL
               SELECT family_id, revoked_at FROM auth.revoked_families) r
        WHERE revoked_at > now() - make_interval(secs => $1)
        GROUP BY family_id`,
      [seconds],
    )) as { family_id: string; at: number }[];
    return rows.map((r) => ({ familyId: r.family_id, at: r.at }));
  }

  /**
   * Expired tokens a day after expiry, revoked ones and deleted accounts' revoked families once
   * `revokedForSeconds` (at least a day) passed. Returns how many rows went.
   */
  async prune(revokedForSeconds: number): Promise<number> {
    const [, deleted] = (await this.dataSource.query(
      `DELETE FROM auth.refresh_tokens
        WHERE expires_at < now() - interval '1 day'
           OR revoked_at < now() - make_interval(secs => greatest(86400, $1))`,
      [revokedForSeconds],
    )) as [unknown, number];
    // Families of deleted accounts matter as long as their access tokens could (the rebuild).
    const [, families] = (await this.dataSource.query(
      `DELETE FROM auth.revoked_families
        WHERE revoked_at < now() - make_interval(secs => greatest(86400, $1))`,
      [revokedForSeconds],
    )) as [unknown, number];
    return deleted + families;
  }
}
