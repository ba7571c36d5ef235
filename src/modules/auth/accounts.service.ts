import { Injectable, Logger } from '@nestjs/common';
import { randomBytes, randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { ProblemException } from '../../core/http/problem';
import { AccountEvents } from './account-events';
import { ProviderName, UserDto } from './dto/user.dto';
import { OAuthProvider } from './entities/identity.entity';

/** What a provider told us about the person (after verifying their token). */
export interface ProviderProfile {
  provider: OAuthProvider;
  providerUserId: string;
  nickname?: string;
  email?: string;
  profileImageUrl?: string;
}

interface UserRow {
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

export function toUserDto(row: UserRow): UserDto {
  const providers: ProviderName[] = row.providers?.length ? row.providers : ['guest'];
  return {
    id: row.id,
    nickname: row.nickname,
    ...(row.email ? { email: row.email } : {}),
    ...(row.profile_image_url ? { profileImageUrl: row.profile_image_url } : {}),
    providers: row.is_guest ? ['guest'] : providers,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

class IdentityRace extends Error {}

function guestNickname(): string {
  return `게스트-${randomBytes(2).toString('hex')}`;
}

export interface IdentityLogin {
  user: UserDto;
  isNewUser: boolean;
  /** A guest account folded into an existing account (its history moved; the guest deleted). */
  mergedGuestId?: string;
}

/** Accounts (auth.users + auth.identities): guests, social identities, profile, deletion. */
@Injectable()
export class AccountsService {
  private readonly logger = new Logger(AccountsService.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly events: AccountEvents,
  ) {}

  /** Which of these user ids have no account (deleted, or a guest merged into another). */
  async missing(ids: readonly string[]): Promise<string[]> {
    if (!ids.length) return [];
    const rows = (await this.dataSource.query(
      `SELECT id FROM unnest($1::uuid[]) AS x(id) WHERE NOT EXISTS (SELECT 1 FROM auth.users u WHERE u.id = x.id)`,
      [ids],
    )) as { id: string }[];
    return rows.map((r) => r.id);
  }

  async createGuest(manager?: EntityManager): Promise<UserDto> {
    // RETURNING the row USER_SELECT would read: a new guest has no identities yet.
    const rows = (await (manager ?? this.dataSource.manager).query(
      `INSERT INTO auth.users (id, nickname, is_guest) VALUES ($1, $2, true)
       RETURNING id, nickname, email, profile_image_url, is_guest, created_at, NULL AS providers`,
      [randomUUID(), guestNickname()],
    )) as UserRow[];
    return toUserDto(rows[0]);
  }

  async find(id: string, manager?: EntityManager): Promise<UserDto | undefined> {
    const rows = (await (manager ?? this.dataSource.manager).query(
      `${USER_SELECT} WHERE u.id = $1`,
      [id],
    )) as UserRow[];
    return rows[0] ? toUserDto(rows[0]) : undefined;
  }

  async get(id: string, manager?: EntityManager): Promise<UserDto> {
    const user = await this.find(id, manager);
    if (!user) throw ProblemException.notFound('User');
    return user;
  }

  /**
   * Finds or creates the account of a social identity. With `guestId` (a guest's bearer token
   * on the login request) the guest keeps its history: a new identity upgrades the guest in
   * place; an identity that already has an account takes the guest's history over and the
   * empty guest account is deleted.
   */
  async loginWithIdentity(profile: ProviderProfile, guestId?: string): Promise<IdentityLogin> {
    try {
      return await this.loginOnce(profile, guestId);
    } catch (err) {
      // Two first logins of one person raced and the other created the account: join it.
      if (err instanceof IdentityRace) return this.loginOnce(profile, guestId);
      throw err;
    }
  }

  private loginOnce(profile: ProviderProfile, guestId?: string): Promise<IdentityLogin> {
    return this.dataSource.transaction(async (m) => {
      const existing = (await m.query(
        `SELECT user_id FROM auth.identities WHERE provider = $1 AND provider_user_id = $2`,
        [profile.provider, profile.providerUserId],
      )) as { user_id: string }[];
      if (existing[0]) {
        const userId = existing[0].user_id;
        let mergedGuestId: string | undefined;
        if (guestId && guestId !== userId) {
          await this.events.merge(guestId, userId, m);
          await this.recordRevokedLogins(guestId, m);
          await m.query(`DELETE FROM auth.users WHERE id = $1 AND is_guest`, [guestId]);
          mergedGuestId = guestId;
        }
        return { user: await this.get(userId, m), isNewUser: false, mergedGuestId };
      }
      let userId: string;
      let isNewUser = false;
      if (guestId) {
        userId = guestId;
        await m.query(
          `UPDATE auth.users
              SET is_guest = false, updated_at = now(),
                  nickname = COALESCE($2, nickname), email = COALESCE($3, email),
                  profile_image_url = COALESCE(profile_image_url, $4)
            WHERE id = $1`,
          [
            userId,
            profile.nickname ?? null,
            profile.email ?? null,
            profile.profileImageUrl ?? null,
          ],
        );
      } else {
        userId = randomUUID();
        isNewUser = true;
        await m.query(
          `INSERT INTO auth.users (id, nickname, email, profile_image_url, is_guest)
           VALUES ($1, $2, $3, $4, false)`,
          [
            userId,
            profile.nickname?.trim() || guestNickname().replace('게스트', '사용자'),
            profile.email ?? null,
            profile.profileImageUrl ?? null,
          ],
        );
      }
      // ON CONFLICT: the loser of a race of two first logins rolls back and retries.
      const inserted = (await m.query(
        `INSERT INTO auth.identities (user_id, provider, provider_user_id, email)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (provider, provider_user_id) DO NOTHING RETURNING id`,
        [userId, profile.provider, profile.providerUserId, profile.email ?? null],
      )) as { id: string }[];
      if (!inserted.length) throw new IdentityRace();
      return { user: await this.get(userId, m), isNewUser };
    });
  }

  async updateProfile(
    id: string,
    patch: { nickname?: string; profileImageUrl?: string | null },
  ): Promise<UserDto> {
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
    return this.get(id);
  }

  /** Deletes the account; identities, refresh tokens and history go with it (ON DELETE CASCADE). */
  async delete(id: string, manager: EntityManager): Promise<boolean> {
    await this.recordRevokedLogins(id, manager);
    const [, count] = (await manager.query(`DELETE FROM auth.users WHERE id = $1`, [id])) as [
      unknown,
      number,
    ];
    if (count) this.logger.log(`account ${id} deleted`);
    return count > 0;
  }

  /**
   * Records the account's login families in auth.revoked_families, in the transaction that
   * deletes the account: its refresh-token rows (the usual revocation record) go with it, and a
   * deny-list rebuild must still deny its access tokens (docs/auth.md → Revocation). Families
   * whose refresh tokens expired over a day ago are left out, as in the pruning.
   */
  private async recordRevokedLogins(userId: string, manager: EntityManager): Promise<void> {
    await manager.query(
      `INSERT INTO auth.revoked_families (family_id, revoked_at)
       SELECT DISTINCT family_id, now() FROM auth.refresh_tokens
        WHERE user_id = $1 AND expires_at > now() - interval '1 day'
       ON CONFLICT (family_id) DO UPDATE SET revoked_at = excluded.revoked_at`,
      [userId],
    );
  }
}
