import { Injectable } from '@nestjs/common';
import { RedisService } from '../../core/redis/redis.service';

/**
 * Access tokens are stateless JWTs; to make one stop working before it expires we deny its
 * jti (logout) or its whole login family (logout, refresh-token reuse, account merge) in Redis,
 * for as long as such a token could still be valid. Every API replica sees the same list.
 */
/** Pub/sub channel carrying the id of every revoked login family. */
export function revokedChannel(redis: RedisService): string {
  return redis.key('auth', 'revoked');
}

@Injectable()
export class TokenDenyList {
  constructor(private readonly redis: RedisService) {}

  private jtiKey(jti: string): string {
    return this.redis.key('auth', 'deny', 'jti', jti);
  }

  private familyKey(familyId: string): string {
    return this.redis.key('auth', 'deny', 'fam', familyId);
  }

  async denyToken(jti: string, expiresAtSeconds: number): Promise<void> {
    const ttl = Math.ceil(expiresAtSeconds - Date.now() / 1000) + 1;
    if (ttl > 0) await this.redis.client.set(this.jtiKey(jti), '1', 'EX', ttl);
  }

  /**
   * Any access token of the family was issued at most `accessTtlSeconds` ago. The family id is
   * also published on {@link revokedChannel}, so every API replica closes the event streams that
   * login holds (docs/auth.md → Held connections).
   */
  async denyFamily(familyId: string, accessTtlSeconds: number): Promise<void> {
    await this.redis.client
      .multi()
      .set(this.familyKey(familyId), '1', 'EX', accessTtlSeconds + 5)
      .publish(revokedChannel(this.redis), familyId)
      .exec();
  }

  async isDenied(jti: string, familyId: string): Promise<boolean> {
    const n = await this.redis.client.exists(this.jtiKey(jti), this.familyKey(familyId));
    return n > 0;
  }
}
