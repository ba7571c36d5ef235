import { DiscoveryService } from '@nestjs/core';
import { Message } from './messages';
import { RoutingKey } from './topology';

/** The discovery key the consumer looks handlers up by. */
export const TaskHandlerMetadata = DiscoveryService.createDecorator<RoutingKey>();

/** A method that can handle `K`: it takes `K`'s payload from the message map (or nothing). */
type HandlerMethod<K extends RoutingKey> = (
  payload: Message<K>,
  ctx: TaskContext,
) => Promise<unknown>;

/**
 * Marks a provider method as the one handler for a routing key:
 *
 *   @TaskHandler(RoutingKey.WasteDownload)
 *   async download({ jobId }: Message<'waste.high.download'>, ctx: TaskContext) { … }
 *
 * The method's payload type must be the one src/core/messaging/messages.ts names for the key
 * (it does not compile otherwise); the consumer has validated the payload before the call.
 * The owning provider may implement `TaskFailureListener` to learn when a message of its
 * routing key is dead-lettered (e.g. to fail the job).
 */
export function TaskHandler<K extends RoutingKey>(
  key: K,
): (target: object, method: string | symbol, descriptor: { value?: HandlerMethod<K> }) => void {
  return TaskHandlerMetadata(key) as (t: object, m: string | symbol, d: object) => void;
}

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
