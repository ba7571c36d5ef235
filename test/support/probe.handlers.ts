import { Injectable } from '@nestjs/common';
import { Inject } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../src/core/config/app-config';
import { TaskContext, TaskHandler } from '../../src/core/messaging/task-handler.decorator';
import { PermanentTaskError, RetryableTaskError } from '../../src/core/messaging/task.errors';
import { RoutingKey } from '../../src/core/messaging/topology';
import { RedisService } from '../../src/core/redis/redis.service';

export interface ProbePayload {
  tag: string;
  /** 'ok' | 'permanent' | 'transient-once' | 'transient-always' */
  mode?: string;
  sleepMs?: number;
}

/**
 * A handler for every routing key that records, in Redis, which role handled which message and
 * on which attempt; it can also fail on purpose. Used by the foundation tests with
 * `withoutFeatures` so the real handlers stay out of the way.
 */
@Injectable()
export class ProbeHandlers {
  constructor(
    private readonly redis: RedisService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  private async handle(p: ProbePayload, ctx: TaskContext): Promise<void> {
    const record = JSON.stringify({
      tag: p.tag,
      key: ctx.routingKey,
      role: this.config.APP_ROLE,
      attempt: ctx.attempt,
      at: Date.now(),
    });
    await this.redis.client.rpush(this.redis.key('probe', 'started'), record);
    if (p.sleepMs) await new Promise((r) => setTimeout(r, p.sleepMs));
    if (p.mode === 'permanent')
      throw new PermanentTaskError('PROBE_BROKEN', `probe ${p.tag} fails for good`);
    if (p.mode === 'transient-always')
      throw new RetryableTaskError('PROBE_FLAKY', `probe ${p.tag} keeps failing`);
    if (p.mode === 'transient-once' && ctx.attempt === 1) {
      throw new RetryableTaskError('PROBE_FLAKY', `probe ${p.tag} fails once`);
    }
    await this.redis.client.rpush(this.redis.key('probe', 'done'), record);
  }

  @TaskHandler(RoutingKey.WasteDownload) a(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandler(RoutingKey.WasteSave) b(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandler(RoutingKey.Vision) c(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandler(RoutingKey.Feedback) d(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandler(RoutingKey.MapNearby) e(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandler(RoutingKey.AnalyticsSave) f(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandler(RoutingKey.ReportDaily) g(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandler(RoutingKey.AccountPurge) h(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandler(RoutingKey.SchedDailyStats) i(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandler(RoutingKey.SchedCleanupCache) j(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandler(RoutingKey.SchedCleanupImages) k(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandler(RoutingKey.SchedJobsWatchdog) l(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
}

export interface ProbeRecord {
  tag: string;
  key: string;
  role: string;
  attempt: number;
  at: number;
}

export async function probeRecords(
  redis: RedisService,
  list: 'started' | 'done',
): Promise<ProbeRecord[]> {
  const raw = await redis.client.lrange(redis.key('probe', list), 0, -1);
  return raw.map((r) => JSON.parse(r) as ProbeRecord);
}
