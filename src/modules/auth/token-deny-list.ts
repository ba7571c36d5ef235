import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { ChainableCommander } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { randomInt } from 'node:crypto';
import { RefreshTokensRepository } from './refresh-tokens.repository';
import { APP_CONFIG, AppConfig } from '../../core/config/app-config';
import { RedisSubscriber } from '../../core/redis/redis-subscriber';
import { RedisService } from '../../core/redis/redis.service';

/** Pub/sub channel carrying the id of every revoked login family. */
export function revokedChannel(redis: RedisService): string {
  return redis.key('auth', 'revoked');
}

/** Access tokens whose last check found them not denied (see TokenDenyList.isDenied). */
const CLEARED_TOKENS = 50_000;
/** How long a "not denied" answer is used at most, even while no revocation is heard. */
const CLEARED_MS = 60_000;
/**
 * Said on the revocation channel after a rebuild from PostgreSQL (never a family id): every
 * process asks Redis again for each token, as the rebuilt list may hold revocations that were
 * never published (their post-commit write failed).
 */
const REBUILT = '*rebuilt';

/**
 * Score of the generation member: a random integer in [2^52, 2^53), so it is exact as a double
 * and always above any expiry in epoch seconds (trimming by score never removes it).
 */
function newGenerationScore(): number {
  return 2 ** 52 + randomInt(2 ** 47) * 32 + randomInt(32);
}

/**
 * Access tokens are stateless JWTs; to make one stop working before it expires we deny its
 * jti (logout) or its whole login family (logout, refresh-token reuse, account merge) in Redis,
 * for as long as such a token could still be valid. Every API replica sees the same list.
 *
 * Redis is a cache here, not the record: every revocation is also in PostgreSQL
 * (`auth.refresh_tokens.revoked_at` of the family; the families of a deleted account or a merged
 * guest, whose refresh tokens go with it, in `auth.revoked_families`). The
 * whole list is ONE sorted set, `auth:deny`: member `jti:<id>` or `fam:<id>`, score = the epoch
 * second the entry stops mattering, plus a `gen` member (the generation marker). Redis evicts
 * or expires whole keys, so the entries can only be lost together with the marker: a flush,
 * a restart without persistence or an eviction of the key is noticed on the very next request,
 * in the same ZMSCORE that reads the entries (one round trip). The list is then rebuilt from
 * PostgreSQL (families revoked within the access-token lifetime) before that request is
 * answered, with a new generation. Every process that sees the generation change also drops its
 * cached user rows (`onReset`), so a deleted account is looked up again. The key has no TTL
 * (`volatile-*` policies never evict it); expired members are trimmed on every write.
 *
 * A token found not denied is not asked about again while this process hears the revocation
 * channel without a gap (RedisSubscriber's epoch): every revocation denies the token's family
 * and publishes the family's id in the same MULTI, so a revocation made after that answer
 * reaches this process as a message, and the family is then denied here in memory until its
 * access tokens have expired. A status poll thus costs no Redis round trip for the guard. If the
 * subscriber connection drops, the answers are dropped with it and every check goes to Redis
 * until the subscription is confirmed again. Another replica's revocation takes effect here
 * when its message arrives (a Redis round trip later); this process's own at once.
 * See docs/auth.md → Revocation.
 */
@Injectable()
export class TokenDenyList implements OnApplicationBootstrap {
  private readonly logger = new Logger(TokenDenyList.name);
  private generation?: string;
  private rebuilding?: Promise<void>;
  private readonly resetListeners: (() => void)[] = [];

  /** Built once: it is read on every authenticated request. */
  private readonly key: string;
  private readonly channel: string;
  /** jti → the subscriber epoch in which Redis last answered "not denied" for the token. */
  private readonly cleared = new LRUCache<string, number>({ max: CLEARED_TOKENS, ttl: CLEARED_MS });
  /**
   * Families revoked while this process listened → epoch second their tokens stop mattering.
   * Every entry lives as long, and each is (re)inserted at the end: the map is in expiry order.
   */
  private readonly revokedFamilies = new Map<string, number>();
  private listening = false;

  constructor(
    private readonly redis: RedisService,
    private readonly subscriber: RedisSubscriber,
    private readonly tokens: RefreshTokensRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.key = redis.key('auth', 'deny');
    this.channel = revokedChannel(redis);
    subscriber.onLoss(() => this.cleared.clear());
  }

  /** Started by the first check: only the processes that authenticate hear revocations. */
  private listen(): void {
    this.listening = true;
    this.subscriber
      .listen(this.channel, (message) => {
        const text = message.toString();
        if (text === REBUILT) this.cleared.clear();
        else this.revokedHere(text);
      })
      .catch((err: Error) =>
        this.logger.warn(`revocations not heard, every check asks Redis: ${err.message}`),
      );
  }

  private revokedHere(familyId: string): void {
    const now = Date.now() / 1000;
    this.revokedFamilies.delete(familyId);
    this.revokedFamilies.set(familyId, Math.ceil(now) + this.config.JWT_ACCESS_TTL + 5);
    // The expired ones are at the head.
    for (const [id, until] of this.revokedFamilies) {
      if (until > now) break;
      this.revokedFamilies.delete(id);
    }
  }

  /**
   * Every eviction policy keeps revocation correct (the set goes whole, and is rebuilt), but
   * under `allkeys-*` a busy Redis may evict it often, each time costing a PostgreSQL rebuild.
   * CONFIG may be disabled (managed Redis): then nothing is said.
   */
  onApplicationBootstrap(): void {
    // Not awaited: a Redis that is down at boot must not hold the boot up for a log line.
    void this.checkEvictionPolicy();
  }

  private async checkEvictionPolicy(): Promise<void> {
    try {
      const [, policy] = (await this.redis.client.config('GET', 'maxmemory-policy')) as string[];
      if (policy?.startsWith('allkeys-')) {
        this.logger.warn(
          `Redis maxmemory-policy is ${policy}: the token deny list may be evicted and rebuilt ` +
            'from PostgreSQL under memory pressure; noeviction or volatile-* keeps it ' +
            '(docs/auth.md → Revocation)',
        );
      }
    } catch {
      // CONFIG is not available to this client (or Redis is down); the policy is not checked.
    }
  }

  /** Called whenever the deny list was rebuilt (by any process). */
  onReset(listener: () => void): void {
    this.resetListeners.push(listener);
  }

  async denyToken(jti: string, expiresAtSeconds: number): Promise<void> {
    this.cleared.delete(jti);
    const until = Math.ceil(expiresAtSeconds) + 1;
    if (until > Date.now() / 1000) await this.add(`jti:${jti}`, until).exec();
  }

  /**
   * Any access token of the family was issued at most `accessTtlSeconds` ago. The family id is
   * also published on {@link revokedChannel}, so every API replica closes the event streams that
   * login holds (docs/auth.md → Held connections).
   */
  async denyFamily(familyId: string, accessTtlSeconds: number): Promise<void> {
    // This process's own requests see it at once, not only when the message comes back.
    if (this.listening) this.revokedHere(familyId);
    const until = Math.ceil(Date.now() / 1000) + accessTtlSeconds + 5;
    await this.add(`fam:${familyId}`, until).publish(revokedChannel(this.redis), familyId).exec();
  }

  /**
   * Adds one entry (never shortening a longer one: GT) and trims the expired ones. On a lost set
   * this creates it without `gen`, which the next check still sees as a loss.
   */
  private add(member: string, until: number): ChainableCommander {
    return this.redis.client
      .multi()
      .zremrangebyscore(this.key, '-inf', Math.floor(Date.now() / 1000))
      .zadd(this.key, 'GT', until, member);
  }

  async isDenied(jti: string, familyId: string): Promise<boolean> {
    if (!this.listening) this.listen();
    const revoked = this.revokedFamilies.get(familyId);
    if (revoked !== undefined) {
      if (revoked > Date.now() / 1000) return true;
      this.revokedFamilies.delete(familyId);
    }
    const epoch = this.subscriber.epoch(this.channel);
    if (epoch !== undefined && this.cleared.get(jti) === epoch) return false;
    const denied = await this.lookUp(jti, familyId);
    // Kept only if no revocation message could have been missed since the question was asked
    // (one heard meanwhile is in revokedFamilies, which is checked first).
    if (!denied && epoch !== undefined && this.subscriber.epoch(this.channel) === epoch) {
      this.cleared.set(jti, epoch);
    }
    return denied;
  }

  private async lookUp(jti: string, familyId: string, rebuilt = false): Promise<boolean> {
    const [byJti, byFamily, generation] = await this.redis.client.zmscore(
      this.key,
      `jti:${jti}`,
      `fam:${familyId}`,
      'gen',
    );
    if (generation === null) {
      // Still missing right after a rebuild: Redis does not keep what we write; fail closed.
      if (rebuilt) throw new Error('the token deny list cannot be stored in Redis');
      // The deny list is gone (flush, restart without persistence, eviction): rebuild, then
      // look again.
      await this.rebuild();
      return this.lookUp(jti, familyId, true);
    }
    if (generation !== this.generation) {
      if (this.generation !== undefined) {
        // Rebuilt (by any process): what was answered from the old list is asked again.
        this.cleared.clear();
        this.resetListeners.forEach((l) => l());
      }
      this.generation = generation;
    }
    // Expired members linger until the next write trims them.
    const now = Date.now() / 1000;
    return [byJti, byFamily].some((until) => until !== null && Number(until) > now);
  }

  /** One rebuild at a time per process; concurrent callers wait for it. */
  private rebuild(): Promise<void> {
    this.rebuilding ??= this.reload().finally(() => (this.rebuilding = undefined));
    return this.rebuilding;
  }

  private async reload(): Promise<void> {
    const ttl = this.config.JWT_ACCESS_TTL + 5;
    const rows = await this.tokens.revokedWithin(ttl);
    const now = Date.now() / 1000;
    const m = this.redis.client.multi().zremrangebyscore(this.key, '-inf', Math.floor(now));
    for (const r of rows) {
      const until = Math.ceil(r.at + ttl);
      if (until > now) m.zadd(this.key, 'GT', until, `fam:${r.familyId}`);
    }
    // NX: of concurrent rebuilds (other processes) the first generation wins.
    m.zadd(this.key, 'NX', newGenerationScore(), 'gen');
    m.publish(this.channel, REBUILT);
    await m.exec();
    this.logger.warn(
      `token deny list was missing in Redis: rebuilt from PostgreSQL (${rows.length} revoked logins)`,
    );
  }
}
