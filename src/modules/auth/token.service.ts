import { Inject, Injectable, Logger } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { LRUCache } from 'lru-cache';
import { createHash, randomUUID } from 'node:crypto';
import { EntityManager } from 'typeorm';
import { APP_CONFIG, AppConfig } from '../../core/config/app-config';
import { ProblemException } from '../../core/http/problem';
import { isTransient } from '../../core/messaging/task.errors';
import { Metrics } from '../../core/observability/metrics';
import { AccountsRepository } from './accounts.repository';
import { AuthSession, AuthUser } from './current-user.decorator';
import { RefreshTokensRepository } from './refresh-tokens.repository';
import { TokenDenyList } from './token-deny-list';

export type TokenType = 'access' | 'refresh';

interface Claims {
  sub: string;
  typ: TokenType;
  jti: string;
  fam: string;
  iat: number;
  exp: number;
}

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

/** How long a looked-up user row is reused by authenticate(). */
const USER_CACHE_MS = 10_000;
/** Access tokens whose signature this process has checked (see authenticate). */
const VERIFIED_TOKENS = 10_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/**
 * Access and refresh tokens. Both are HS256 JWTs (algorithm pinned on verify, so `alg: none`
 * and any other algorithm are refused) with `typ` telling them apart. Access tokens are
 * stateless and short-lived; refresh tokens are single-use, stored only as SHA-256 hashes, and
 * grouped in a family per login so that a replayed one can revoke the whole login.
 */
@Injectable()
export class TokenService {
  private readonly logger = new Logger(TokenService.name);
  private readonly reuse;

  /** Users seen in the last few seconds (see authenticate). */
  private readonly users = new LRUCache<string, AuthUser>({
    max: 50_000,
    ttl: USER_CACHE_MS,
    // A stale row stays (until evicted) as the fallback while PostgreSQL is unreachable.
    noDeleteOnStaleGet: true,
  });

  /**
   * Claims of access tokens already verified here, keyed by the whole token string: the same
   * bytes carry the same signature, so only the expiry needs checking again. A phone polls with
   * one token for its whole lifetime; jsonwebtoken's decode and HMAC were most of the guard's
   * own CPU (docs/benchmarks.md → Issue 12).
   */
  private readonly verified = new LRUCache<string, Claims>({ max: VERIFIED_TOKENS });

  constructor(
    private readonly jwt: JwtService,
    private readonly tokens: RefreshTokensRepository,
    private readonly accounts: AccountsRepository,
    private readonly denyList: TokenDenyList,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    metrics: Metrics,
  ) {
    // After a deny-list rebuild, cached rows may belong to accounts deleted meanwhile.
    denyList.onReset(() => this.users.clear());
    this.reuse = metrics.counter(
      'auth_refresh_reuse_total',
      'Spent refresh tokens presented again (the login family was revoked)',
      [],
    );
  }

  /**
   * Issues a new pair; a new family (login) unless `familyId` continues one. `newUser`: the
   * account was created just now, so it has no expired tokens to clear.
   */
  async issue(
    userId: string,
    familyId: string = randomUUID(),
    manager?: EntityManager,
    opts: { newUser?: boolean } = {},
  ): Promise<IssuedTokens> {
    const accessToken = await this.sign(userId, 'access', familyId, this.config.JWT_ACCESS_TTL);
    const refreshJti = randomUUID();
    const refreshToken = await this.sign(
      userId,
      'refresh',
      familyId,
      this.config.JWT_REFRESH_TTL,
      refreshJti,
    );
    // Housekeeping: a user's expired tokens are no longer needed, not even for reuse detection.
    if (!opts.newUser) await this.tokens.deleteExpiredOf(userId, manager);
    await this.tokens.insert(
      {
        id: refreshJti,
        familyId,
        userId,
        tokenHash: sha256(refreshToken),
        ttlSeconds: this.config.JWT_REFRESH_TTL,
      },
      manager,
    );
    return {
      accessToken,
      refreshToken,
      tokenType: 'Bearer',
      expiresIn: this.config.JWT_ACCESS_TTL,
    };
  }

  private sign(
    userId: string,
    typ: TokenType,
    familyId: string,
    ttlSeconds: number,
    jti: string = randomUUID(),
  ): Promise<string> {
    return this.jwt.signAsync(
      { typ, fam: familyId },
      {
        algorithm: 'HS256',
        expiresIn: ttlSeconds,
        subject: userId,
        jwtid: jti,
      },
    );
  }

  /** Signature (HS256 only), expiry and type; throws 401 on anything else. */
  async verify(token: string, typ: TokenType): Promise<Claims> {
    let claims: Partial<Claims>;
    try {
      claims = await this.jwt.verifyAsync<Partial<Claims>>(token, {
        algorithms: ['HS256'],
      });
    } catch {
      throw ProblemException.unauthorized('The token is invalid or expired');
    }
    if (
      claims.typ !== typ ||
      typeof claims.sub !== 'string' ||
      !UUID.test(claims.sub) ||
      typeof claims.jti !== 'string' ||
      typeof claims.fam !== 'string' ||
      typeof claims.exp !== 'number'
    ) {
      throw ProblemException.unauthorized(`Not a valid ${typ} token`);
    }
    return claims as Claims;
  }

  /**
   * The guard's check: a valid access token, not denied, of a user that still exists.
   * Verifies an access token and loads its user. Deleted accounts and revoked logins are caught by
   * the Redis deny list (deletion and merges revoke every family), so the user row may come from a
   * short in-process cache: the hottest endpoint (status polling, twice a second per app) then
   * costs no database round trip. `fresh` skips the cache where `isGuest` must be current (OAuth
   * login upgrading a guest).
   */
  async authenticate(
    token: string,
    opts: { fresh?: boolean } = {},
    alongside?: () => void,
  ): Promise<{ user: AuthUser; session: AuthSession }> {
    let claims = this.verified.get(token);
    // jsonwebtoken's rule: expired once floor(now in s) >= exp.
    if (!claims || Date.now() >= claims.exp * 1000) {
      if (claims) this.verified.delete(token);
      claims = await this.verify(token, 'access');
      this.verified.set(token, claims);
    }
    let denied: boolean;
    try {
      const check = this.denyList.isDenied(claims.jti, claims.fam);
      // Issued in the same tick as the ZMSCORE, when the deny list is asked: one write to Redis
      // for both (see JwtAuthGuard); a kept answer asks nothing (TokenDenyList).
      try {
        alongside?.();
      } catch {
        // The route then reads on its own.
      }
      denied = await check;
    } catch {
      // Fail closed: without the deny list a logged-out token could still be used.
      throw ProblemException.unavailable('Authentication is temporarily unavailable');
    }
    if (denied) throw ProblemException.unauthorized('The token has been revoked');
    const user =
      (!opts.fresh && this.users.get(claims.sub)) || (await this.loadUser(claims.sub, opts));
    if (!user) throw ProblemException.unauthorized('The account no longer exists');
    return { user, session: { jti: claims.jti, familyId: claims.fam, exp: claims.exp } };
  }

  /**
   * The user row. With PostgreSQL unreachable, a token that passed the deny list is trusted
   * without it (docs/auth.md → Outages): deleting an account or merging a guest revokes its
   * logins in Redis, and a rebuilt deny list has them too (auth.revoked_families), so the
   * account exists; the last row seen in this process gives `isGuest`, else the more restricted
   * guest. So status polling keeps answering from Redis. `fresh` callers get the 503.
   */
  private async loadUser(
    id: string,
    opts: { fresh?: boolean } = {},
  ): Promise<AuthUser | undefined> {
    let user: AuthUser | undefined;
    try {
      user = await this.accounts.authRow(id);
    } catch (err) {
      if (opts.fresh || !isTransient(err)) throw err;
      return this.users.get(id, { allowStale: true }) ?? { id, isGuest: true };
    }
    if (!user) {
      this.users.delete(id);
      return undefined;
    }
    this.users.set(id, user);
    return user;
  }

  /**
   * Spends a refresh token and issues the next pair of the same family. The conditional UPDATE
   * makes concurrent presentations race-safe: exactly one wins; every other presentation of a
   * spent token is reuse and revokes the family.
   */
  async rotate(refreshToken: string): Promise<{ userId: string; tokens: IssuedTokens }> {
    await this.verify(refreshToken, 'refresh');
    const hash = sha256(refreshToken);
    const rotated = await this.tokens.transaction(async (m) => {
      const spent = await this.tokens.spend(hash, m);
      if (!spent) return undefined;
      const tokens = await this.issue(spent.userId, spent.familyId, m);
      return { userId: spent.userId, tokens };
    });
    if (rotated) return rotated;
    const known = await this.tokens.findByHash(hash);
    if (known?.usedAt && !known.revokedAt) {
      // A spent token came back: whoever holds it, the login is compromised.
      this.reuse.inc();
      this.logger.warn(`refresh token reuse: family ${known.familyId} revoked`);
      await this.revokeFamily(known.familyId);
    }
    throw ProblemException.unauthorized('The refresh token is no longer valid');
  }

  /** Revokes every refresh token of a login and denies its access tokens at once. */
  async revokeFamily(familyId: string, manager?: EntityManager): Promise<void> {
    await this.tokens.revokeFamily(familyId, manager);
    await this.denyList.denyFamily(familyId, this.config.JWT_ACCESS_TTL);
  }

  /** The user's refresh-token family ids (for account deletion and merges). */
  async familiesOf(userId: string, manager?: EntityManager): Promise<string[]> {
    return this.tokens.familiesOf(userId, manager);
  }

  /** Denies one access token (and its family) until it expires. */
  async denySession(session: AuthSession): Promise<void> {
    await this.denyList.denyToken(session.jti, session.exp);
    await this.denyList.denyFamily(session.familyId, this.config.JWT_ACCESS_TTL);
  }

  /**
   * Housekeeping (sched.cleanup.cache): expired tokens stop mattering a day later (account
   * deletion looks back one day); revoked ones once the access tokens of their family have
   * expired too, and so do the revoked families of deleted accounts (auth.revoked_families).
   * Returns how many rows went.
   */
  async pruneRefreshTokens(): Promise<number> {
    return this.tokens.prune(this.config.JWT_ACCESS_TTL);
  }
}
