import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../core/config/app-config';
import { ProblemException } from '../../core/http/problem';
import { RateLimitService } from '../../core/http/rate-limit.service';
import { Metrics } from '../../core/observability/metrics';
import { AccountsService } from './accounts.service';
import { AuthSession, AuthUser } from './current-user.decorator';
import { OAuthLoginDto } from './dto/auth-requests.dto';
import { OAuthTokensDto, TokensDto } from './dto/user.dto';
import { OAuthProvider } from './entities/identity.entity';
import { OAuthVerifier } from './providers/oauth.verifier';
import { TokenService } from './token.service';

/** The login flows: guest, social (three forms), refresh, logout. */
@Injectable()
export class AuthService {
  private readonly attempts;

  constructor(
    private readonly accounts: AccountsService,
    private readonly tokens: TokenService,
    private readonly oauthVerifier: OAuthVerifier,
    private readonly limits: RateLimitService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    metrics: Metrics,
  ) {
    this.attempts = metrics.counter(
      'auth_attempts_total',
      'Logins and refreshes by method (guest, kakao, naver, google, refresh) and outcome',
      ['method', 'outcome'],
    );
  }

  /** Counts the outcome: ok, or the problem code (UNAUTHORIZED, RATE_LIMITED, …). */
  private async counted<T>(method: string, work: () => Promise<T>): Promise<T> {
    try {
      const result = await work();
      this.attempts.labels(method, 'ok').inc();
      return result;
    } catch (err) {
      this.attempts.labels(method, err instanceof ProblemException ? err.code : 'ERROR').inc();
      throw err;
    }
  }

  guest(): Promise<TokensDto> {
    return this.counted('guest', async () => {
      const user = await this.accounts.createGuest();
      return {
        ...(await this.tokens.issue(user.id, undefined, undefined, { newUser: true })),
        user,
      };
    });
  }

  oauth(
    provider: OAuthProvider,
    body: OAuthLoginDto,
    caller?: AuthUser,
    session?: AuthSession,
  ): Promise<OAuthTokensDto> {
    return this.counted(provider, () => this.oauthLogin(provider, body, caller, session));
  }

  private async oauthLogin(
    provider: OAuthProvider,
    body: OAuthLoginDto,
    caller?: AuthUser,
    session?: AuthSession,
  ): Promise<OAuthTokensDto> {
    const profile = await this.oauthVerifier.verify(provider, body);
    await this.limits.consume(
      'login:user',
      `${provider}:${profile.providerUserId}`,
      this.config.RATE_LIMIT_LOGIN_PER_USER,
      this.config.RATE_LIMIT_WINDOW_SECONDS,
    );
    const guestId = caller?.isGuest ? caller.id : undefined;
    const login = await this.accounts.loginWithIdentity(profile, guestId);
    if (login.mergedGuestId && session) {
      // The guest account is gone; the token that carried it must stop working too.
      await this.tokens.denySession(session);
    }
    const tokens = await this.tokens.issue(login.user.id);
    return { ...tokens, user: login.user, isNewUser: login.isNewUser };
  }

  refresh(refreshToken: string): Promise<TokensDto> {
    return this.counted('refresh', () => this.rotate(refreshToken));
  }

  private async rotate(refreshToken: string): Promise<TokensDto> {
    const claims = await this.tokens.verify(refreshToken, 'refresh');
    await this.limits.consume(
      'refresh:user',
      claims.sub,
      this.config.RATE_LIMIT_REFRESH_PER_USER,
      this.config.RATE_LIMIT_WINDOW_SECONDS,
    );
    const { userId, tokens } = await this.tokens.rotate(refreshToken);
    const user = await this.accounts.find(userId);
    if (!user) throw ProblemException.unauthorized('The account no longer exists');
    return { ...tokens, user };
  }

  /** Revokes the refresh token's login (when it is the caller's) and the current access token. */
  async logout(caller: AuthUser, session: AuthSession, refreshToken: string): Promise<void> {
    try {
      const claims = await this.tokens.verify(refreshToken, 'refresh');
      if (claims.sub === caller.id) await this.tokens.revokeFamily(claims.fam);
    } catch (err) {
      // An invalid or foreign refresh token still logs the caller's own login out.
      if (!(err instanceof ProblemException)) throw err;
    }
    await this.tokens.revokeFamily(session.familyId);
    await this.tokens.denySession(session);
  }
}
