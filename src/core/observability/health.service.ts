import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Inject, Injectable, Optional } from '@nestjs/common';
import type { Channel } from 'amqplib';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { QueueName, WORK_QUEUES } from '../messaging/topology';
import { RedisService } from '../redis/redis.service';
import { Metrics } from './metrics';

export interface ReadinessReport {
  status: 'ok' | 'error';
  role: string;
  checks: Record<string, 'up' | 'down'>;
  /**
   * Consumers per work queue, as the broker counts them (informational: an API stays ready with
   * no fast worker — it still accepts work, and such jobs end BACKLOG_EXPIRED; docs/messaging.md).
   */
  consumers?: Record<string, number>;
}

/** The queues whose consumer counts readiness and `rabbitmq_queue_consumers` report. */
const WATCHED_QUEUES = [...WORK_QUEUES.map((q) => q.name), QueueName.Expired];

let consumerSource: (() => Promise<Record<string, number>>) | undefined;

/** Readiness = every dependency this role uses answers. Liveness = the event loop runs. */
@Injectable()
export class HealthService {
  private shuttingDown = false;
  private readonly extraChecks = new Map<string, () => Promise<boolean>>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly redis: RedisService,
    private readonly amqp: AmqpConnection,
    metrics: Metrics,
    @Optional() private readonly db?: DataSource,
  ) {
    // Read from the broker on each scrape, through the newest app's service (tests run several
    // apps in one process; the registry is per process).
    consumerSource = () => this.queueConsumers();
    const gauge = metrics.gauge(
      'rabbitmq_queue_consumers',
      'Consumers per work queue as the broker counts them; 0 on q.fast or q.external means that ' +
        "stage's jobs end BACKLOG_EXPIRED after the queue's TTL",
      ['queue'],
      async () => {
        try {
          const counts = await consumerSource?.();
          for (const [queue, n] of Object.entries(counts ?? {})) gauge.labels(queue).set(n);
        } catch {
          gauge.reset(); // unknown, rather than a stale count
        }
      },
    );
  }

  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  /** A role-specific readiness check (e.g. beat: its schedule is registered). */
  addCheck(name: string, check: () => Promise<boolean>): void {
    this.extraChecks.set(name, check);
  }

  /** Consumers per watched queue, from the broker (passive declares on a short-lived channel). */
  async queueConsumers(): Promise<Record<string, number>> {
    // The live amqplib connection (a ChannelModel; golevelup types it as the bare Connection).
    const conn = this.amqp.connection as unknown as { createChannel(): Promise<Channel> };
    const channel = await conn.createChannel();
    try {
      const out: Record<string, number> = {};
      for (const q of WATCHED_QUEUES) out[q] = (await channel.checkQueue(q)).consumerCount;
      return out;
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  async readiness(): Promise<ReadinessReport> {
    const checks: Record<string, 'up' | 'down'> = {};
    const connected = this.amqp.managedConnection.isConnected();
    let consumers: Record<string, number> | undefined;
    const within = <T>(p: Promise<T>) =>
      Promise.race([
        p,
        new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timeout')), 2000)),
      ]);
    await Promise.all([
      this.db
        ? within(this.db.query('SELECT 1'))
            .then(() => (checks.postgres = 'up'))
            .catch(() => (checks.postgres = 'down'))
        : undefined,
      within(this.redis.ping())
        .then((ok) => (checks.redis = ok ? 'up' : 'down'))
        .catch(() => (checks.redis = 'down')),
      Promise.resolve().then(() => (checks.rabbitmq = connected ? 'up' : 'down')),
      // Beside the other checks, not after them: one broker round trip less per probe.
      connected
        ? within(this.queueConsumers())
            .then((c) => (consumers = c))
            .catch(() => undefined)
        : undefined,
      ...[...this.extraChecks].map(([name, check]) =>
        within(check())
          .then((ok) => (checks[name] = ok ? 'up' : 'down'))
          .catch(() => (checks[name] = 'down')),
      ),
    ]);
    if (this.shuttingDown) checks.lifecycle = 'down';
    const status = Object.values(checks).every((c) => c === 'up') ? 'ok' : 'error';
    return { status, role: this.config.APP_ROLE, checks, ...(consumers ? { consumers } : {}) };
  }
}
