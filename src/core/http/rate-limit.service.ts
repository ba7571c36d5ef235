import { Inject, Injectable, Logger } from '@nestjs/common';
import type { FastifyRequest as Request } from 'fastify';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { Metrics } from '../observability/metrics';
import { RedisService } from '../redis/redis.service';
import { ProblemException } from './problem';

/**
 * Fixed-window counter, atomic in one round trip: INCR, set the window's expiry on the first
 * hit, and answer the count with the window's remaining time. Because the counter lives in
 * Redis, the limit holds across every API replica.
 */
const CONSUME_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return { n, ttl }
`;

/**
 * CONSUME_SCRIPT for several counters in order, stopping at the first one over its limit (the
 * later ones are not counted, as when each is consumed in turn): KEYS are the counters,
 * ARGV[2i-1] and ARGV[2i] the i-th one's window (ms) and limit. Answers { i, count, ttl } of
 * the counter that refused, or { 0, 0, 0 }.
 */
const CONSUME_ALL_SCRIPT = `
for i = 1, #KEYS do
  local window = ARGV[2 * i - 1]
  local n = redis.call('INCR', KEYS[i])
  if n == 1 then redis.call('PEXPIRE', KEYS[i], window) end
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[i], window); ttl = tonumber(window) end
  if n > tonumber(ARGV[2 * i]) then return { i, n, ttl } end
end
return { 0, 0, 0 }
`;

/** The main connection with the scripts defined on it (EVALSHA; EVAL once per Redis). */
type WithConsume = RedisService['client'] & {
  rateLimitConsume(key: string, windowMs: string): Promise<[number, number]>;
  rateLimitConsumeAll(numberOfKeys: number, ...args: string[]): Promise<[number, number, number]>;
};

/** One counter of {@link RateLimitService.consumeAll}. */
export interface RateLimitHit {
  bucket: string;
  key: string;
  limit: number;
  windowSeconds: number;
}

export interface RateLimitState {
  count: number;
  limit: number;
  resetMs: number;
}

/**
 * The shared rate limiter. `consume('login:ip', ip, 20, 60)` counts one hit for that key and
 * throws `ProblemException.rateLimited` (429 + Retry-After) once the window's limit is spent.
 * When Redis cannot be reached the request is let through (fail open) and counted in
 * `rate_limit_errors_total`: a cache outage must not lock every user out.
 */
@Injectable()
export class RateLimitService {
  private readonly logger = new Logger(RateLimitService.name);
  private readonly limited;
  private readonly errors;

  constructor(
    private readonly redis: RedisService,
    metrics: Metrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.limited = metrics.counter('rate_limited_total', 'Requests refused with 429, by bucket', [
      'bucket',
    ]);
    this.errors = metrics.counter(
      'rate_limit_errors_total',
      'Rate-limit checks skipped because Redis failed',
      ['bucket'],
    );
  }

  /**
   * The caller's address for per-IP limits. X-Forwarded-For is only as trustworthy as the
   * proxies that wrote it: the client can put anything on the left, so we count
   * TRUSTED_PROXY_HOPS entries from the right (the address our own proxy saw).
   */
  clientIp(req: Request): string {
    const socketIp = req.socket?.remoteAddress ?? 'unknown';
    const hops = this.config.TRUSTED_PROXY_HOPS;
    const header = req.headers['x-forwarded-for'];
    if (!hops || !header) return socketIp;
    const chain = (Array.isArray(header) ? header.join(',') : header)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    return chain[Math.max(0, chain.length - hops)] ?? socketIp;
  }

  /**
   * The script by its SHA (ioredis's defineCommand: EVALSHA, falling back to EVAL when Redis
   * lost its script cache) instead of sending and hashing its text on every hit.
   */
  private client(): WithConsume {
    const client = this.redis.client as WithConsume;
    if (typeof client.rateLimitConsume !== 'function') {
      client.defineCommand('rateLimitConsume', { numberOfKeys: 1, lua: CONSUME_SCRIPT });
      client.defineCommand('rateLimitConsumeAll', { lua: CONSUME_ALL_SCRIPT });
    }
    return client;
  }

  async consume(bucket: string, key: string, limit: number, windowSeconds: number): Promise<void> {
    const state = await this.hit(bucket, key, limit, windowSeconds);
    if (state && state.count > state.limit) {
      this.limited.labels(bucket).inc();
      throw ProblemException.rateLimited(state.resetMs / 1000);
    }
  }

  /**
   * `consume` for each hit in order, in one round trip (a route with a per-user and a per-IP
   * limit: one Redis write, not two): the first whose limit is spent throws its 429, and the
   * hits after it are not counted. Redis failing lets the request through, as `consume` does.
   */
  async consumeAll(hits: readonly RateLimitHit[]): Promise<void> {
    const live = hits.filter((h) => h.limit > 0); // 0 disables a limit
    if (live.length === 0) return;
    if (live.length === 1) {
      const [h] = live;
      return this.consume(h.bucket, h.key, h.limit, h.windowSeconds);
    }
    let refused: [number, number, number];
    try {
      refused = await this.client().rateLimitConsumeAll(
        live.length,
        ...live.map((h) => this.redis.key('ratelimit', h.bucket, h.key)),
        ...live.flatMap((h) => [windowMs(h.windowSeconds), String(h.limit)]),
      );
    } catch (err) {
      for (const h of live) this.errors.labels(h.bucket).inc();
      this.logger.warn(
        `rate limits ${live.map((h) => h.bucket).join(', ')} skipped: ${err instanceof Error ? err.message : String(err)}`,
      );
      return;
    }
    const [index, , ttl] = refused;
    if (index > 0) {
      this.limited.labels(live[index - 1].bucket).inc();
      throw ProblemException.rateLimited(ttl / 1000);
    }
  }

  /** Counts one hit and reports the window's state; undefined when Redis failed. */
  async hit(
    bucket: string,
    key: string,
    limit: number,
    windowSeconds: number,
  ): Promise<RateLimitState | undefined> {
    if (limit <= 0) return undefined; // 0 disables a limit
    const redisKey = this.redis.key('ratelimit', bucket, key);
    try {
      const [count, ttl] = await this.client().rateLimitConsume(redisKey, windowMs(windowSeconds));
      return { count, limit, resetMs: ttl };
    } catch (err) {
      this.errors.labels(bucket).inc();
      this.logger.warn(
        `rate limit ${bucket} skipped: ${err instanceof Error ? err.message : String(err)}`,
      );
      return undefined;
    }
  }
}

/** A window in whole milliseconds (at least 1) as the scripts' PEXPIRE argument. */
function windowMs(windowSeconds: number): string {
  return String(Math.max(1, Math.round(windowSeconds * 1000)));
}
