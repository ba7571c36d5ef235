/**
 * RabbitMQ topology (docs/architecture.md → Queue topology and messages, from the seed). Everything that names an
 * exchange, queue or routing key imports it from here.
 */
export const TASKS_EXCHANGE = 'tasks';
export const DEAD_LETTER_EXCHANGE = 'tasks.dlx';
/** Headers exchange in front of the delay queues; it routes on the `retry-tier` header only
 * (RabbitMQ ignores x- headers when matching), so the
 * message keeps its own routing key and dead-letters back to `tasks` under it. */
export const RETRY_EXCHANGE = 'tasks.retry';

export enum QueueName {
  Fast = 'q.fast',
  External = 'q.external',
  Bulk = 'q.bulk',
  Sched = 'q.sched',
  Dlq = 'q.dlq',
  /** A second copy of every dead letter, for the expiry handler (docs/messaging.md → Expiry). */
  Expired = 'q.expired',
}

/** How long an unread copy waits in q.expired (its original stays in q.dlq for operators). */
export const EXPIRED_QUEUE_TTL_MS = 3_600_000;

export const RoutingKey = {
  WasteDownload: 'waste.high.download',
  WasteSave: 'waste.high.save',
  Vision: 'external.ai.vision',
  Feedback: 'external.llm.feedback',
  MapNearby: 'external.map.nearby',
  AnalyticsSave: 'analytics.low.save',
  ReportDaily: 'report.low.daily',
  AccountPurge: 'account.low.purge',
  SchedDailyStats: 'sched.daily.stats',
  SchedCleanupCache: 'sched.cleanup.cache',
  SchedCleanupImages: 'sched.cleanup.images',
  SchedJobsWatchdog: 'sched.jobs.watchdog',
} as const;
export type RoutingKey = (typeof RoutingKey)[keyof typeof RoutingKey];
export const ALL_ROUTING_KEYS: readonly RoutingKey[] = Object.values(RoutingKey);

export interface WorkQueueSpec {
  name: Exclude<QueueName, QueueName.Dlq>;
  binding: string;
  maxPriority: number;
  /** Message TTL in ms; undefined = none. */
  ttlMs?: number;
  /** Channel name (prefetch is per channel). */
  channel: 'fast' | 'external' | 'bulk' | 'sched';
}

export const WORK_QUEUES: readonly WorkQueueSpec[] = [
  { name: QueueName.Fast, binding: '*.high.*', maxPriority: 10, ttlMs: 60_000, channel: 'fast' },
  {
    name: QueueName.External,
    binding: 'external.#',
    maxPriority: 10,
    ttlMs: 300_000,
    channel: 'external',
  },
  { name: QueueName.Bulk, binding: '*.low.*', maxPriority: 1, ttlMs: 3_600_000, channel: 'bulk' },
  { name: QueueName.Sched, binding: 'sched.#', maxPriority: 5, channel: 'sched' },
];

/**
 * Message priority per routing key. The seed had vision 10 and LLM feedback 7; under a backlog
 * that classifies every waiting photo before coaching any (no job completes until the backlog is
 * gone: docs/benchmarks.md), so work already started goes first: feedback 10, vision 9.
 */
export const PRIORITY: Record<RoutingKey, number> = {
  'waste.high.download': 8,
  'waste.high.save': 9,
  'external.ai.vision': 9,
  'external.llm.feedback': 10,
  'external.map.nearby': 6,
  'analytics.low.save': 1,
  'report.low.daily': 1,
  'account.low.purge': 1,
  'sched.daily.stats': 5,
  'sched.cleanup.cache': 5,
  'sched.cleanup.images': 5,
  'sched.jobs.watchdog': 5,
};

/** Delay tiers for retries (seconds). Attempt n waits the smallest tier ≥ 2^(n-1) s or Retry-After. */
export const RETRY_TIERS_S = [1, 2, 4, 8, 16, 32, 60] as const;

export function retryQueueName(tierS: number): string {
  return `q.retry.${tierS}s`;
}

/** Which queue a routing key lands in, by the bindings above (topic semantics). */
export function queueFor(routingKey: string): QueueName | undefined {
  const [a, b] = routingKey.split('.');
  if (a === 'external') return QueueName.External;
  if (a === 'sched') return QueueName.Sched;
  if (routingKey.split('.').length === 3 && b === 'high') return QueueName.Fast;
  if (routingKey.split('.').length === 3 && b === 'low') return QueueName.Bulk;
  return undefined;
}
