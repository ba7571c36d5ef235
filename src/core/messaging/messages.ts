import { z } from 'zod';
import { RoutingKey } from './topology';

/**
 * Every message's payload, by routing key (docs/messaging.md → Messages). `TaskPublisher.publish`
 * only compiles with the payload its key names here, `@TaskHandler(key)` types its method's
 * first parameter from it, and the consumer validates each delivery against it before the
 * handler runs: a payload that does not parse is dead-lettered with `INVALID_MESSAGE`.
 */
const uuid = z.string().uuid();
const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/)
  .refine((s) => new Date(`${s}T00:00:00Z`).toISOString().slice(0, 10) === s, 'not a date');

/** A pipeline step of one analysis job. */
export const JobTaskSchema = z.object({ jobId: uuid });

/**
 * When the job was queued, carried by a side step so that the save can complete the job (and
 * time it) in the same UPDATE without reading it first (docs/messaging.md → Messages).
 */
const queuedAt = z.string().datetime({ offset: true });

/** A finished side step (coaching, or nearby points) for the save stage to fold into the job. */
export const SaveTaskSchema = z.discriminatedUnion('part', [
  z.object({
    jobId: uuid,
    part: z.literal('coaching'),
    coaching: z.object({ message: z.string(), source: z.enum(['llm', 'rules']) }),
    coachingMs: z.number().nonnegative(),
    /** Disposal days for the items' kinds (docs/schedules.md), computed beside the coaching. */
    schedule: z.record(z.unknown()).nullable().optional(),
    queuedAt: queuedAt.optional(),
  }),
  z.object({
    jobId: uuid,
    part: z.literal('nearby'),
    nearby: z.array(z.unknown()),
    nearbyMs: z.number().nonnegative(),
    queuedAt: queuedAt.optional(),
  }),
]);

/** A beat tick: the cron time it stands for (a late delivery still computes the right day). */
export const ScheduleTickSchema = z.object({
  scheduledFor: z.string().datetime({ offset: true }).optional(),
  tickId: z.string().optional(),
});

export const MESSAGES = {
  [RoutingKey.WasteDownload]: JobTaskSchema,
  [RoutingKey.WasteSave]: SaveTaskSchema,
  [RoutingKey.Vision]: JobTaskSchema,
  [RoutingKey.Feedback]: JobTaskSchema,
  [RoutingKey.MapNearby]: JobTaskSchema,
  [RoutingKey.AnalyticsSave]: JobTaskSchema,
  // Without a day: yesterday in Asia/Seoul.
  [RoutingKey.ReportDaily]: z.object({ day: day.optional() }),
  [RoutingKey.AccountPurge]: z.object({ userId: uuid }),
  [RoutingKey.SchedDailyStats]: ScheduleTickSchema,
  [RoutingKey.SchedCleanupCache]: ScheduleTickSchema,
  [RoutingKey.SchedCleanupImages]: ScheduleTickSchema,
  [RoutingKey.SchedJobsWatchdog]: ScheduleTickSchema,
} as const satisfies Record<RoutingKey, z.ZodTypeAny>;

/** The schema map the consumer validates with (tests with probe handlers bring their own). */
export type MessageSchemas = Record<RoutingKey, z.ZodTypeAny>;
export const MESSAGE_SCHEMAS = Symbol('MESSAGE_SCHEMAS');

/** What a publisher sends for `K`. */
export type MessageIn<K extends RoutingKey> = z.input<(typeof MESSAGES)[K]>;
/** What the handler of `K` receives (validated, defaults applied). */
export type Message<K extends RoutingKey> = z.output<(typeof MESSAGES)[K]>;

export type JobTask = z.output<typeof JobTaskSchema>;
export type SaveTask = z.output<typeof SaveTaskSchema>;
export type ScheduleTick = z.output<typeof ScheduleTickSchema>;

/** Routing keys the beat publishes (their payload is a ScheduleTick). */
export type ScheduleRoutingKey = Extract<RoutingKey, `sched.${string}`>;
