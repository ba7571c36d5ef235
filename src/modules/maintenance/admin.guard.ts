import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest as Request } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { APP_CONFIG, AppConfig } from '../../core/config/app-config';
import { ProblemException } from '../../core/http/problem';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * The operators' endpoints (/api/v1/admin/…): `Authorization: Bearer <ADMIN_API_TOKEN>`, compared
 * in constant time. Without ADMIN_API_TOKEN they do not exist (404), so a deployment that never
 * set one exposes nothing.
 */
@Injectable()
export class AdminGuard implements CanActivate {
  private readonly expected?: Buffer;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.expected = config.ADMIN_API_TOKEN ? digest(config.ADMIN_API_TOKEN) : undefined;
  }

  canActivate(ctx: ExecutionContext): boolean {
    if (!this.expected) throw ProblemException.notFound();
    const header = ctx.switchToHttp().getRequest<Request>().headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw ProblemException.unauthorized('Expected "Authorization: Bearer <admin token>"');
    // Digests have equal length, so timingSafeEqual never leaks the token's length either.
    if (!timingSafeEqual(digest(m[1]), this.expected)) {
      throw ProblemException.unauthorized('The admin token is not valid');
    }
    return true;
  }
}
