import { ScheduleRoutingKey } from '../../core/messaging/messages';
import { RoutingKey } from '../../core/messaging/topology';

export const SCHEDULE_QUEUE = 'schedule';
export const SCHEDULE_TZ = 'Asia/Seoul';

export interface ScheduleEntry {
  routingKey: ScheduleRoutingKey;
  cron: string;
}

/** docs/operations.md → The clock (beat). Editing a cron here replaces the registered one at the next beat boot. */
export const SCHEDULE: readonly ScheduleEntry[] = [
  { routingKey: RoutingKey.SchedDailyStats, cron: '0 2 * * *' },
  { routingKey: RoutingKey.SchedCleanupCache, cron: '0 * * * *' },
  { routingKey: RoutingKey.SchedCleanupImages, cron: '0 3 * * *' },
  // Fails jobs stuck past JOB_TIMEOUT_SECONDS (a lost or expired message never leaves a job hanging).
  { routingKey: RoutingKey.SchedJobsWatchdog, cron: '* * * * *' },
];
