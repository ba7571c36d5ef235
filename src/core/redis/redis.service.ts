import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import Redis, { RedisOptions } from 'ioredis';
import { APP_CONFIG, AppConfig } from '../config/app-config';

/**
 * The process's Redis connection. Every key goes through `key()` so that it carries the
 * REDIS_PREFIX namespace (one per deployment, or per test file) and the module's name.
 */
@Injectable()
export class RedisService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RedisService.name);
  readonly client: Redis;
  private readonly extra: Redis[] = [];

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    // Commands issued in the same tick go out in one write: under load most of a request's Redis
    // cost was its own socket write (deny-list check, job view; docs/benchmarks.md).
    // Connected at init (or by its first command), not here: a module graph that fails while
    // it is being built is never closed, and its connection would stay open behind it.
    this.client = this.connect('main', { enableAutoPipelining: true, lazyConnect: true });
  }

  onModuleInit(): void {
    // Not awaited: the boot does not wait for Redis, commands queue until it is there; a
    // connection already made by an earlier command makes connect() reject, harmlessly.
    this.client.connect().catch(() => undefined);
  }

  get prefix(): string {
    return this.config.REDIS_PREFIX;
  }

  /** `key('waste', 'job', id)` → `wc:waste:job:<id>`. */
  key(...parts: (string | number)[]): string {
    return [this.config.REDIS_PREFIX, ...parts].join(':');
  }

  /** A dedicated connection (pub/sub subscribers, blocking calls), closed with the app. */
  createConnection(name: string): Redis {
    const conn = this.connect(name);
    this.extra.push(conn);
    return conn;
  }

  private connect(name: string, options: RedisOptions = {}): Redis {
    const conn = new Redis(this.config.REDIS_URL, {
      ...options,
      connectionName: `waste-coach:${this.config.APP_ROLE}:${name}`,
      maxRetriesPerRequest: 2,
      enableOfflineQueue: true,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    conn.on('error', (err: Error) => this.logger.warn(`redis ${name}: ${err.message}`));
    // Commands queue while the first connection is made (boot); once connected, a command sent
    // while the connection is down fails at once instead of waiting seconds for a reconnect, so
    // requests answer 503 in milliseconds (docs/messaging.md → What a client sees) and stages
    // retry with backoff.
    conn.once('ready', () => (conn.options.enableOfflineQueue = false));
    return conn;
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.client.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([this.client, ...this.extra].map((c) => c.quit()));
  }
}
