import { Injectable, Logger } from '@nestjs/common';
import { randomBytes, randomUUID } from 'node:crypto';
import { EntityManager } from 'typeorm';
import { ProblemException } from '../../core/http/problem';
import { AccountEvents } from './account-events';
import { AccountsRepository, UserRow } from './accounts.repository';
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
    private readonly repo: AccountsRepository,
    private readonly events: AccountEvents,
  ) {}

  /**
   * Runs `fn` in one PostgreSQL transaction over the accounts (account deletion commits with
   * what must go with it, e.g. the purge message's publish).
   */
  transaction<T>(fn: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.repo.transaction(fn);
  }

  /** Which of these user ids have no account (deleted, or a guest merged into another). */
  async missing(ids: readonly string[]): Promise<string[]> {
    if (!ids.length) return [];
    return this.repo.missing(ids);
  }

  async createGuest(manager?: EntityManager): Promise<UserDto> {
    return toUserDto(await this.repo.insertGuest(randomUUID(), guestNickname(), manager));
  }

  async find(id: string, manager?: EntityManager): Promise<UserDto | undefined> {
    const row = await this.repo.find(id, manager);
    return row ? toUserDto(row) : undefined;
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
    return this.repo.transaction(async (m) => {
      const owner = await this.repo.identityOwner(profile.provider, profile.providerUserId, m);
      if (owner) {
        const userId = owner;
        let mergedGuestId: string | undefined;
        if (guestId && guestId !== userId) {
          await this.events.merge(guestId, userId, m);
          await this.recordRevokedLogins(guestId, m);
          await this.repo.deleteGuest(guestId, m);
          mergedGuestId = guestId;
        }
        return { user: await this.get(userId, m), isNewUser: false, mergedGuestId };
      }
      let userId: string;
      let isNewUser = false;
      if (guestId) {
        userId = guestId;
        await this.repo.upgradeGuest(
          userId,
          {
            nickname: profile.nickname ?? null,
            email: profile.email ?? null,
            profileImageUrl: profile.profileImageUrl ?? null,
          },
          m,
        );
      } else {
        userId = randomUUID();
        isNewUser = true;
        await this.repo.insertRegistered(
          userId,
          {
            nickname: profile.nickname?.trim() || guestNickname().replace('게스트', '사용자'),
            email: profile.email ?? null,
            profileImageUrl: profile.profileImageUrl ?? null,
          },
          m,
        );
      }
      // The loser of a race of two first logins rolls back and retries.
      const linked = await this.repo.insertIdentity(
        userId,
        {
          provider: profile.provider,
          providerUserId: profile.providerUserId,
          email: profile.email ?? null,
        },
        m,
      );
      if (!linked) throw new IdentityRace();
      return { user: await this.get(userId, m), isNewUser };
    });
  }

  async updateProfile(
    id: string,
    patch: { nickname?: string; profileImageUrl?: string | null },
  ): Promise<UserDto> {
    await this.repo.updateProfile(id, patch);
    return this.get(id);
  }

  /** Deletes the account; identities, refresh tokens and history go with it (ON DELETE CASCADE). */
  async delete(id: string, manager: EntityManager): Promise<boolean> {
    await this.recordRevokedLogins(id, manager);
    const count = await this.repo.delete(id, manager);
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
    await this.repo.recordRevokedFamilies(userId, manager);
  }
}
