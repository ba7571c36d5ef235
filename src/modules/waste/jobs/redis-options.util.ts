import type { RedisOptions } from '@nestjs/microservices';

type TransportOptions = NonNullable<RedisOptions['options']>;

/** REDIS_URL → the host/port/password/db/tls options @nestjs/microservices' Redis transport takes. */
export function redisTransportOptions(url: string): TransportOptions {
  const u = new URL(url);
  return {
    host: u.hostname || '127.0.0.1',
    port: Number(u.port || 6379),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: 2,
    // Keep reconnecting through a Redis restart (the transport's default gives up).
    retryAttempts: Number.MAX_SAFE_INTEGER,
    retryDelay: 500,
  };
}
