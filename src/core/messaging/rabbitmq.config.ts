import { MessageHandlerErrorBehavior, RabbitMQConfig } from '@golevelup/nestjs-rabbitmq';
import { Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import {
  DEAD_LETTER_EXCHANGE,
  EXPIRED_QUEUE_TTL_MS,
  QueueName,
  RETRY_EXCHANGE,
  RETRY_TIERS_S,
  TASKS_EXCHANGE,
  WORK_QUEUES,
  retryQueueName,
} from './topology';

/**
 * The whole topology is declared by every role at connect time (idempotent), so the API can
 * publish before any worker has started. Queues are classic: RabbitMQ 3.10 quorum queues have
 * no priorities.
 */
export function rabbitMqConfig(config: AppConfig): RabbitMQConfig {
  const maxLength = config.QUEUE_MAX_LENGTH;
  return {
    uri: config.RABBITMQ_URL,
    exchanges: [
      { name: TASKS_EXCHANGE, type: 'topic', options: { durable: true } },
      { name: DEAD_LETTER_EXCHANGE, type: 'fanout', options: { durable: true } },
      { name: RETRY_EXCHANGE, type: 'headers', options: { durable: true } },
    ],
    queues: [
      ...WORK_QUEUES.map((q) => ({
        name: q.name,
        exchange: TASKS_EXCHANGE,
        routingKey: q.binding,
        options: {
          durable: true,
          arguments: {
            'x-queue-type': 'classic',
            'x-max-priority': q.maxPriority,
            ...(q.ttlMs ? { 'x-message-ttl': q.ttlMs } : {}),
            'x-max-length': maxLength,
            // A full queue refuses the publish (the publisher's confirm fails, so the API can
            // answer 503 instead of losing the job) and the refused copy goes to q.dlq.
            'x-overflow': 'reject-publish-dlx',
            'x-dead-letter-exchange': DEAD_LETTER_EXCHANGE,
          },
        },
      })),
      {
        name: QueueName.Dlq,
        exchange: DEAD_LETTER_EXCHANGE,
        routingKey: '',
        options: {
          durable: true,
          arguments: { 'x-queue-type': 'classic', 'x-max-length': maxLength },
        },
      },
      {
        // tasks.dlx is a fanout: this queue gets a copy of every dead letter, q.dlq keeps its own.
        // Unread copies expire (no dead-lettering of their own), so no role running costs nothing.
        name: QueueName.Expired,
        exchange: DEAD_LETTER_EXCHANGE,
        routingKey: '',
        options: {
          durable: true,
          arguments: {
            'x-queue-type': 'classic',
            'x-message-ttl': EXPIRED_QUEUE_TTL_MS,
            'x-max-length': maxLength,
          },
        },
      },
      ...RETRY_TIERS_S.map((tier) => ({
        name: retryQueueName(tier),
        exchange: RETRY_EXCHANGE,
        routingKey: '',
        bindQueueArguments: { 'x-match': 'all', 'retry-tier': `${tier}s` },
        options: {
          durable: true,
          arguments: {
            'x-queue-type': 'classic',
            'x-message-ttl': tier * 1000,
            'x-max-length': maxLength,
            // No x-dead-letter-routing-key: the message goes back under its own routing key.
            'x-dead-letter-exchange': TASKS_EXCHANGE,
          },
        },
      })),
    ],
    channels: {
      publish: { prefetchCount: 1, default: true },
      fast: { prefetchCount: config.PREFETCH_FAST },
      external: { prefetchCount: config.PREFETCH_EXTERNAL },
      bulk: { prefetchCount: config.PREFETCH_BULK },
      sched: { prefetchCount: config.PREFETCH_SCHED },
      expired: { prefetchCount: 16 },
    },
    defaultPublishOptions: { persistent: true, contentType: 'application/json' },
    // A handler that throws past our own dispatcher is dead-lettered, never requeued forever.
    defaultSubscribeErrorBehavior: MessageHandlerErrorBehavior.NACK,
    connectionInitOptions: { wait: true, timeout: 10_000, reject: true },
    connectionManagerOptions: {
      heartbeatIntervalInSeconds: 15,
      reconnectTimeInSeconds: 1,
      // Nagle off: a connection that also carries consumer acks otherwise holds each small
      // publish frame for the delayed-ACK timer (~40 ms per pipeline hop; docs/benchmarks.md).
      connectionOptions: { noDelay: true },
    },
    enableDirectReplyTo: false,
    registerHandlers: false,
    enableControllerDiscovery: false,
    logger: new Logger('RabbitMQ'),
  };
}
