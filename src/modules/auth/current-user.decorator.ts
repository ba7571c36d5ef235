import { ExecutionContext, createParamDecorator } from '@nestjs/common';
import type { FastifyRequest as Request } from 'fastify';

/** The caller, as established by JwtAuthGuard. */
export interface AuthUser {
  id: string;
  isGuest: boolean;
}

/** The access token the request came with (logout and deletion deny it). */
export interface AuthSession {
  jti: string;
  familyId: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

export type AuthenticatedRequest = Request & { user?: AuthUser; authSession?: AuthSession };

/** `@CurrentUser() user: AuthUser` in a handler behind `@UseGuards(JwtAuthGuard)`. */
export const CurrentUser = createParamDecorator((_data: unknown, ctx: ExecutionContext) => {
  const req = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
  return req.user;
});

/** `@CurrentSession() session: AuthSession` (the access token's jti, family and expiry). */
export const CurrentSession = createParamDecorator((_data: unknown, ctx: ExecutionContext) => {
  const req = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
  return req.authSession;
});
