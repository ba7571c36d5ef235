import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { RedisService } from '../redis/redis.service';

export interface ReadinessReport {
  status: 'ok' | 'error';
  role: string;
  checks: Record<string, 'up' | 'down'>;
}

/** Readiness = every dependency this role uses answers. Liveness = the event loop runs. */
@Injectable()
export class HealthService {
  private shuttingDown = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly redis: RedisService,
    private readonly amqp: AmqpConnection,
    @Optional() private readonly db?: DataSource,
  ) {}

  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  async readiness(): Promise<ReadinessReport> {
    const checks: Record<string, 'up' | 'down'> = {};
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
      Promise.resolve().then(
        () => (checks.rabbitmq = this.amqp.managedConnection.isConnected() ? 'up' : 'down'),
      ),
    ]);
    if (this.shuttingDown) checks.lifecycle = 'down';
    const status = Object.values(checks).every((c) => c === 'up') ? 'ok' : 'error';
    return { status, role: this.config.APP_ROLE, checks };
  }
}
