import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '../../core/config/app-config';
import { RedisService } from '../../core/redis/redis.service';

/** Pub/sub channel carrying the id of every revoked login family. */
export function revokedChannel(redis: RedisService): string {
  return redis.key('auth', 'revoked');
}

/**
 * Access tokens are stateless JWTs; to make one stop working before it expires we deny its
 * jti (logout) or its whole login family (logout, refresh-token reuse, account merge) in Redis,
 * for as long as such a token could still be valid. Every API replica sees the same list.
 *
 * Redis is a cache here, not the record: every revocation is also in PostgreSQL
 * (`auth.refresh_tokens.revoked_at` of the family; a deleted account has no row at all). A
 * generation key lives next to the deny keys and is read in the same MGET as them, so a flushed
 * or restarted Redis is noticed on the very next request, at no extra round trip: the list is
 * then rebuilt from PostgreSQL (families revoked within the access-token lifetime) before that
 * request is answered, and a new generation is written. Every process that sees the generation
 * change also drops its cached user rows (`onReset`), so a deleted account is looked up again.
 * See docs/auth.md → Revocation.
 */
@Injectable()
export class TokenDenyList {
  private readonly logger = new Logger(TokenDenyList.name);
  private generation?: string;
  private rebuilding?: Promise<void>;
  private readonly resetListeners: (() => void)[] = [];

  constructor(
    private readonly redis: RedisService,
    private readonly db: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  private jtiKey(jti: string): string {
    return this.redis.key('auth', 'deny', 'jti', jti);
  }

  private familyKey(familyId: string): string {
    return this.redis.key('auth', 'deny', 'fam', familyId);
  }

  private get generationKey(): string {
    return this.redis.key('auth', 'deny', 'generation');
  }

  /** Called whenever the deny list was rebuilt (by any process). */
  onReset(listener: () => void): void {
    this.resetListeners.push(listener);
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

  async isDenied(jti: string, familyId: string, rebuilt = false): Promise<boolean> {
    const [byJti, byFamily, generation] = await this.redis.client.mget(
      this.jtiKey(jti),
      this.familyKey(familyId),
      this.generationKey,
    );
    if (generation === null) {
      // Still missing right after a rebuild: Redis does not keep what we write; fail closed.
      if (rebuilt) throw new Error('the token deny list cannot be stored in Redis');
      // The deny list is gone (flush, restart without persistence): rebuild, then look again.
      await this.rebuild();
      return this.isDenied(jti, familyId, true);
    }
    if (generation !== this.generation) {
      if (this.generation !== undefined) this.resetListeners.forEach((l) => l());
      this.generation = generation;
    }
    return byJti !== null || byFamily !== null;
  }

  /** One rebuild at a time per process; concurrent callers wait for it. */
  private rebuild(): Promise<void> {
    this.rebuilding ??= this.reload().finally(() => (this.rebuilding = undefined));
    return this.rebuilding;
  }

  private async reload(): Promise<void> {
    const ttl = this.config.JWT_ACCESS_TTL + 5;
    const rows = (await this.db.query(
      `SELECT family_id, extract(epoch FROM max(revoked_at))::float8 AS at
         FROM auth.refresh_tokens
        WHERE revoked_at > now() - make_interval(secs => $1)
        GROUP BY family_id`,
      [ttl],
    )) as { family_id: string; at: number }[];
    const now = Date.now() / 1000;
    const m = this.redis.client.multi();
    for (const r of rows) {
      const left = Math.ceil(r.at + ttl - now);
      if (left > 0) m.set(this.familyKey(r.family_id), '1', 'EX', left);
    }
    m.set(this.generationKey, randomUUID(), 'NX');
    await m.exec();
    this.logger.warn(
      `token deny list was missing in Redis: rebuilt from PostgreSQL (${rows.length} revoked logins)`,
    );
  }
}
