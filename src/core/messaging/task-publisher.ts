import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import { Injectable } from '@nestjs/common';
import type { Options } from 'amqplib';
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
    const timeoutMs = opts.timeoutMs ?? 5000;
    // A connection known to be closed cannot confirm anything: fail now (the API answers 503 at
    // once) instead of queueing the message in the channel wrapper until the confirm times out.
    if (!this.amqp.managedConnection.isConnected()) {
      throw new PublishFailedError(routingKey, new Error('not connected to RabbitMQ'));
    }
    const options: Options.Publish & { timeout: number } = {
      persistent: true,
      contentType: 'application/json',
      messageId,
      timestamp: Math.floor(Date.now() / 1000),
      priority: opts.priority ?? PRIORITY[routingKey],
      // The channel wrapper's own time-out: it rejects the confirm and drops a message still
      // queued for a reconnect, which the caller has given up on (and may have rolled back).
      timeout: timeoutMs,
      headers: {
        'x-attempt': 1,
        // When the message was first published (ms), kept by retries: ridesOut's age check.
        'x-published-at': Date.now(),
        ...(opts.requestId ? { 'x-request-id': opts.requestId } : {}),
        ...opts.headers,
        // When this copy left (ms), stamped again on every retry: the expiry handler compares
        // it with the job's last change (docs/messaging.md → Expired messages).
        'x-sent-at': Date.now(),
      },
    };
    try {
      const ok = await this.amqp.publish(TASKS_EXCHANGE, routingKey, payload, options);
      if (ok === false) throw new Error('broker refused the message');
      return messageId;
    } catch (err) {
      throw new PublishFailedError(routingKey, err);
    }
  }
}
