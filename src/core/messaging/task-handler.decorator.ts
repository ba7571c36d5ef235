import { DiscoveryService } from '@nestjs/core';
import { RoutingKey } from './topology';

/**
 * Marks a provider method as the one handler for a routing key:
 *
 *   @TaskHandler(RoutingKey.WasteDownload)
 *   async download(payload: DownloadTask, ctx: TaskContext): Promise<void> { … }
 *
 * The owning provider may implement `TaskFailureListener` to learn when a message of its
 * routing key is dead-lettered (e.g. to fail the job).
 */
export const TaskHandler = DiscoveryService.createDecorator<RoutingKey>();

export interface TaskContext {
  routingKey: RoutingKey;
  messageId: string;
  /** 1 on the first delivery of a message; incremented by each delayed retry. */
  attempt: number;
  /** True when the broker redelivered it (a consumer died holding it). */
  redelivered: boolean;
  requestId?: string;
  headers: Record<string, unknown>;
}

export interface TaskFailureListener {
  onTaskDeadLettered(routingKey: RoutingKey, payload: unknown, error: unknown): Promise<void>;
}

export function isTaskFailureListener(x: unknown): x is TaskFailureListener {
  return typeof (x as TaskFailureListener | null)?.onTaskDeadLettered === 'function';
}
