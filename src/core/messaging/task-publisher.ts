import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { MessageIn } from './messages';
import { PRIORITY, RoutingKey, TASKS_EXCHANGE } from './topology';

export interface PublishOptions {
  requestId?: string;
  priority?: number;
  headers?: Record<string, unknown>;
  /** Give up waiting for the broker's confirm after this long (the caller answers 503). */
  timeoutMs?: number;
}

export class PublishFailedError extends Error {
  constructor(routingKey: string, cause: unknown) {
    super(
      `publish of ${routingKey} was not confirmed: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = 'PublishFailedError';
  }
}

/** Persistent, publisher-confirmed messages on the `tasks` exchange. Messages carry ids, not images. */
@Injectable()
export class TaskPublisher {
  constructor(private readonly amqp: AmqpConnection) {}

  /** `payload` must be what src/core/messaging/messages.ts names for `routingKey`. */
  async publish<K extends RoutingKey>(
    routingKey: K,
    payload: MessageIn<K>,
    opts: PublishOptions = {},
  ): Promise<string> {
    const messageId = randomUUID();
    const confirm = this.amqp.publish(TASKS_EXCHANGE, routingKey, payload, {
      persistent: true,
      contentType: 'application/json',
      messageId,
      timestamp: Math.floor(Date.now() / 1000),
      priority: opts.priority ?? PRIORITY[routingKey],
      headers: {
        'x-attempt': 1,
        ...(opts.requestId ? { 'x-request-id': opts.requestId } : {}),
        ...opts.headers,
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), opts.timeoutMs ?? 5000);
    });
    try {
      const ok = await Promise.race([confirm, timeout]);
      if (ok === false) throw new Error('broker refused the message');
      return messageId;
    } catch (err) {
      throw new PublishFailedError(routingKey, err);
    } finally {
      clearTimeout(timer);
    }
  }
}
