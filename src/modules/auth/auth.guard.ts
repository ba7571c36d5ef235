import { CanActivate, ExecutionContext, Injectable, SetMetadata, Type } from '@nestjs/common';
import { ModuleRef, Reflector } from '@nestjs/core';
import { ProblemException } from '../../core/http/problem';
import { AuthenticatedRequest } from './current-user.decorator';
import { TokenService } from './token.service';

/**
 * A Redis read a route needs anyway, started by JwtAuthGuard in the same tick as its deny-list
 * check, so that ioredis's auto-pipelining sends both in one write and reads both replies
 * together (one round trip instead of two for a status poll). `read` must only start the read
 * (and keep a rejection from going unhandled); the handler reads its result as the request's
 * `prefetched`, after the guard has let the request through: nothing read here reaches a
 * caller the guard refused.
 */
export interface AuthPrefetch<T = unknown> {
  /** The provider that reads (any module's; resolved once). */
  provider: Type<T>;
  read(provider: T, req: AuthenticatedRequest): unknown;
}

const PREFETCH = 'auth:prefetch';

/** `@PrefetchWithAuth({ provider: JobsService, read: (jobs, req) => … })` on a handler. */
export const PrefetchWithAuth = <T>(prefetch: AuthPrefetch<T>) => SetMetadata(PREFETCH, prefetch);

/** The Bearer token from an Authorization header, or undefined when there is none. */
export function bearerToken(req: AuthenticatedRequest): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw ProblemException.unauthorized('Expected "Authorization: Bearer <token>"');
  return m[1];
}

/**
 * Requires a valid access token: HS256 signature, `typ: access`, not expired, not denied
 * (logout, revoked login), and a user that still exists. Sets `req.user` (see CurrentUser).
 * Usable from any module's controller: AuthModule is global and exports it with TokenService.
 */
@Injectable()
export class JwtAuthGuard implements CanActivate {
  private readonly providers = new Map<Type, unknown>();

  constructor(
    private readonly tokens: TokenService,
    private readonly reflector: Reflector,
    private readonly moduleRef: ModuleRef,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<AuthenticatedRequest & { prefetched?: unknown }>();
    const token = bearerToken(req);
    if (!token) throw ProblemException.unauthorized();
    const prefetch = this.reflector.get<AuthPrefetch | undefined>(PREFETCH, ctx.getHandler());
    const { user, session } = await this.tokens.authenticate(
      token,
      {},
      prefetch && (() => (req.prefetched = prefetch.read(this.provider(prefetch.provider), req))),
    );
    req.user = user;
    req.authSession = session;
    return true;
  }

  private provider(type: Type): unknown {
    let instance = this.providers.get(type);
    if (instance === undefined) {
      instance = this.moduleRef.get(type, { strict: false });
      this.providers.set(type, instance);
    }
    return instance;
  }
}

/**
 * Like JwtAuthGuard, but a request without an Authorization header passes as anonymous (used
 * by OAuth login, where a guest's token upgrades the guest). A header that is present must
 * still be valid.
 */
@Injectable()
export class OptionalJwtAuthGuard implements CanActivate {
  constructor(private readonly tokens: TokenService) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = bearerToken(req);
    if (!token) return true;
    const { user, session } = await this.tokens.authenticate(token, { fresh: true });
    req.user = user;
    req.authSession = session;
    return true;
  }
}
