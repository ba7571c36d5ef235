import {
  CanActivate,
  ExecutionContext,
  Inject,
  Injectable,
  SetMetadata,
  applyDecorators,
  UseGuards,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest as Request } from 'fastify';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { RateLimitHit, RateLimitService } from './rate-limit.service';

type LimitVariable = Extract<keyof AppConfig, `RATE_LIMIT_${string}`>;

export interface RateLimitRule {
  bucket: string;
  /** `ip`: RateLimitService.clientIp; `user`: the id JwtAuthGuard put on the request. */
  by: 'ip' | 'user';
  /** A RATE_LIMIT_* variable, or a fixed number. */
  limit: LimitVariable | number;
  /** Default RATE_LIMIT_WINDOW_SECONDS. */
  windowSeconds?: number;
}

const RULES = 'rate-limit:rules';

/**
 * Counts the request against each rule in a guard, so a limited client is refused before its
 * body is transformed and validated (pipes run after guards): an abusive body costs a counter
 * hit, not a validation pass. A `user` rule must come after JwtAuthGuard (class-level guards run
 * first, then method guards in order).
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly limits: RateLimitService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const rules = this.reflector.get<RateLimitRule[] | undefined>(RULES, ctx.getHandler()) ?? [];
    const req = ctx.switchToHttp().getRequest<Request & { user?: { id: string } }>();
    const hits: RateLimitHit[] = [];
    for (const rule of rules) {
      const key = rule.by === 'ip' ? this.limits.clientIp(req) : req.user?.id;
      if (!key) continue;
      hits.push({
        bucket: rule.bucket,
        key,
        limit: typeof rule.limit === 'number' ? rule.limit : this.config[rule.limit],
        windowSeconds: rule.windowSeconds ?? this.config.RATE_LIMIT_WINDOW_SECONDS,
      });
    }
    // Every rule in one Redis round trip, still in order: the first spent limit refuses, and
    // the rules after it are not counted (RateLimitService.consumeAll).
    await this.limits.consumeAll(hits);
    return true;
  }
}

/** `@RateLimited({ bucket: 'login:ip', by: 'ip', limit: 'RATE_LIMIT_LOGIN_PER_IP' })`. */
export function RateLimited(...rules: RateLimitRule[]) {
  return applyDecorators(SetMetadata(RULES, rules), UseGuards(RateLimitGuard));
}
