import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { ProblemException } from '../../core/http/problem';
import { AuthenticatedRequest } from './current-user.decorator';
import { TokenService } from './token.service';

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
  constructor(private readonly tokens: TokenService) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = bearerToken(req);
    if (!token) throw ProblemException.unauthorized();
    const { user, session } = await this.tokens.authenticate(token);
    req.user = user;
    req.authSession = session;
    return true;
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
