import { Injectable } from '@nestjs/common';
import { Inject } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../src/core/config/app-config';
import { z } from 'zod';
import { MessageSchemas, ScheduleTickSchema } from '../../src/core/messaging/messages';
import { TaskPublisher } from '../../src/core/messaging/task-publisher';
import { TaskContext, TaskHandlerMetadata } from '../../src/core/messaging/task-handler.decorator';
import { PermanentTaskError, RetryableTaskError } from '../../src/core/messaging/task.errors';
import { ALL_ROUTING_KEYS, RoutingKey } from '../../src/core/messaging/topology';
import { RedisService } from '../../src/core/redis/redis.service';

const ProbePayloadSchema = z.object({
  tag: z.string(),
  /** 'ok' | 'permanent' | 'transient-once' | 'transient-always' | 'outage-always' (ECONNREFUSED) */
  mode: z.string().optional(),
  sleepMs: z.number().optional(),
});
export type ProbePayload = z.infer<typeof ProbePayloadSchema>;

/**
 * Every routing key carries a ProbePayload (boot with `{ messages: PROBE_MESSAGES }`). The `sched.*`
 * keys also take the beat's real tick: an `all` role with probes still runs the clock, and a tick
 * refused as INVALID_MESSAGE would add a dead letter that tests counting q.dlq do not expect.
 */
export const PROBE_MESSAGES = Object.fromEntries(
  ALL_ROUTING_KEYS.map((k) => [
    k,
    k.startsWith('sched.') ? ProbePayloadSchema.or(ScheduleTickSchema) : ProbePayloadSchema,
  ]),
) as unknown as MessageSchemas;

/** Publishes a probe payload under a real routing key (whose own payload type it is not). */
export function publishProbe(
  publisher: TaskPublisher,
  key: RoutingKey,
  payload: ProbePayload,
  opts?: Parameters<TaskPublisher['publish']>[2],
): Promise<string> {
  return publisher.publish(key, payload as never, opts);
}

/**
 * A handler for every routing key that records, in Redis, which role handled which message and
 * on which attempt; it can also fail on purpose. Used by the foundation tests with
 * `withoutFeatures` and `messages: PROBE_MESSAGES` so the real handlers stay out of the way.
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
    if (p.mode === 'outage-always')
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
        code: 'ECONNREFUSED',
      });
    if (p.mode === 'transient-always')
      throw new RetryableTaskError('PROBE_FLAKY', `probe ${p.tag} keeps failing`);
    if (p.mode === 'transient-once' && ctx.attempt === 1) {
      throw new RetryableTaskError('PROBE_FLAKY', `probe ${p.tag} fails once`);
    }
    await this.redis.client.rpush(this.redis.key('probe', 'done'), record);
  }

  @TaskHandlerMetadata(RoutingKey.WasteDownload) a(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandlerMetadata(RoutingKey.WasteSave) b(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandlerMetadata(RoutingKey.Vision) c(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandlerMetadata(RoutingKey.Feedback) d(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandlerMetadata(RoutingKey.MapNearby) e(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandlerMetadata(RoutingKey.AnalyticsSave) f(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandlerMetadata(RoutingKey.ReportDaily) g(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandlerMetadata(RoutingKey.AccountPurge) h(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandlerMetadata(RoutingKey.SchedDailyStats) i(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandlerMetadata(RoutingKey.SchedCleanupCache) j(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandlerMetadata(RoutingKey.SchedCleanupImages) k(p: ProbePayload, ctx: TaskContext) {
    return this.handle(p, ctx);
  }
  @TaskHandlerMetadata(RoutingKey.SchedJobsWatchdog) l(p: ProbePayload, ctx: TaskContext) {
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
