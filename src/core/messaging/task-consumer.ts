import { AmqpConnection, Nack } from '@golevelup/nestjs-rabbitmq';
import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { Channel, ConsumeMessage } from 'amqplib';
import { randomUUID } from 'node:crypto';
import { PinoLogger } from 'nestjs-pino';
import { Store, storage } from 'nestjs-pino/storage';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { Metrics } from '../observability/metrics';
import { CONSUMED_QUEUES } from './consumed-queues.token';
import { MESSAGE_SCHEMAS, MessageSchemas } from './messages';
import { TaskContext, TaskHandlerMetadata, isTaskFailureListener } from './task-handler.decorator';
import { RetryableTaskError, errorCode, isTransient } from './task.errors';
import {
  ALL_ROUTING_KEYS,
  DEAD_LETTER_EXCHANGE,
  QueueName,
  RETRY_EXCHANGE,
  RETRY_TIERS_S,
  RoutingKey,
  WORK_QUEUES,
  queueFor,
} from './topology';

type Handler = (payload: unknown, ctx: TaskContext) => Promise<void>;
interface Registered {
  handler: Handler;
  owner: object;
  name: string;
}

/**
 * One consumer per queue the role owns; dispatches by routing key to the single
 * `@TaskHandler` for it, acks after the handler finishes, retries transient failures through
 * the delay queues and dead-letters the rest with the reason in headers.
 */
@Injectable()
export class TaskConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(TaskConsumer.name);
  private readonly handlers = new Map<string, Registered>();
  private readonly consumerTags: string[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  private draining = false;

  constructor(
    private readonly amqp: AmqpConnection,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly metrics: Metrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CONSUMED_QUEUES) private readonly queues: QueueName[],
    private readonly pino: PinoLogger,
    @Inject(MESSAGE_SCHEMAS) private readonly schemas: MessageSchemas,
  ) {}

  /** Routing keys with a registered handler (for tests and the boot log). */
  get routingKeys(): string[] {
    return [...this.handlers.keys()].sort();
  }

  async onApplicationBootstrap(): Promise<void> {
    this.discoverHandlers();
    // Every routing key that lands in a queue this role consumes needs its handler: a role that
    // would dead-letter a whole kind of message must not start.
    const missing = ALL_ROUTING_KEYS.filter(
      (k) => this.queues.includes(queueFor(k)!) && !this.handlers.has(k),
    );
    if (missing.length) {
      throw new Error(`role ${this.config.APP_ROLE} has no handler for ${missing.join(', ')}`);
    }
    for (const queue of this.queues) {
      const spec = WORK_QUEUES.find((q) => q.name === queue);
      if (!spec) continue;
      const { consumerTag } = await this.amqp.createSubscriber(
        (msg: unknown, raw?: ConsumeMessage) =>
          this.track(this.dispatch(msg, raw as ConsumeMessage)),
        {
          queue,
          queueOptions: { channel: spec.channel },
          createQueueIfNotExists: false,
          errorHandler: (channel, msg, error) => this.rejectSafely(channel, msg, error),
        },
        `dispatch:${queue}`,
        // Our own tag, the same on every reconnect (golevelup re-runs the consume with these
        // options): with broker-chosen tags, the tag kept here named the consumer of the first
        // connection, so after any reconnect SIGTERM cancelled a dead consumer and the live one
        // kept receiving messages throughout the drain.
        { consumerTag: `${this.config.APP_ROLE}:${queue}:${randomUUID()}` },
      );
      this.consumerTags.push(consumerTag);
    }
    this.logger.log(
      `consuming ${this.queues.join(', ') || 'nothing'}; handlers: ${this.routingKeys.join(', ')}`,
    );
  }

  private discoverHandlers(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const instance = wrapper.instance as Record<string, unknown> | undefined;
      if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) continue;
      const proto = Object.getPrototypeOf(instance) as object;
      for (const method of this.scanner.getAllMethodNames(proto)) {
        const key = this.discovery.getMetadataByDecorator(TaskHandlerMetadata, wrapper, method);
        if (!key) continue;
        const queue = queueFor(key);
        if (!queue || !this.queues.includes(queue)) continue; // not this role's queue
        const existing = this.handlers.get(key);
        const name = `${wrapper.name}.${method}`;
        if (existing) {
          throw new Error(`two handlers for routing key ${key}: ${existing.name} and ${name}`);
        }
        const fn = instance[method] as Handler;
        this.handlers.set(key, { handler: fn.bind(instance), owner: instance, name });
      }
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  private async dispatch(payload: unknown, raw: ConsumeMessage): Promise<Nack | void> {
    if (this.draining) return new Nack(true);
    const routingKey = raw.fields.routingKey as RoutingKey;
    const headers = (raw.properties.headers ?? {}) as Record<string, unknown>;
    const attempt = Number(headers['x-attempt'] ?? 1) || 1;
    const ctx: TaskContext = {
      routingKey,
      messageId: String(raw.properties.messageId ?? ''),
      attempt,
      redelivered: raw.fields.redelivered,
      requestId: typeof headers['x-request-id'] === 'string' ? headers['x-request-id'] : undefined,
      headers,
    };
    const started = process.hrtime.bigint();
    const done = (outcome: string) =>
      this.metrics.observeTask(
        routingKey,
        outcome,
        Number(process.hrtime.bigint() - started) / 1e9,
      );

    const registered = this.handlers.get(routingKey);
    if (!registered) {
      await this.deadLetter(
        raw,
        payload,
        'NO_HANDLER',
        `no handler for ${routingKey} in role ${this.config.APP_ROLE}`,
      );
      done('dead_letter');
      return;
    }
    // The payload its routing key names (src/core/messaging/messages.ts), or a dead letter: a
    // malformed message never reaches the handler, and retrying cannot fix it.
    const parsed = this.schemas[routingKey]?.safeParse(payload);
    if (!parsed?.success) {
      const issues = parsed
        ? parsed.error.issues
            .map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`)
            .join('; ')
        : 'no schema for this routing key';
      this.logger.error(`${routingKey} message ${ctx.messageId} is malformed: ${issues}`);
      await this.deadLetter(raw, payload, 'INVALID_MESSAGE', `malformed ${routingKey}: ${issues}`);
      done('dead_letter');
      return;
    }
    try {
      await this.inLogContext(ctx, () => registered.handler(parsed.data, ctx));
      done('ok');
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (
        isTransient(err) &&
        (attempt < this.config.TASK_MAX_ATTEMPTS || this.ridesOut(err, headers))
      ) {
        const tier = this.retryTier(attempt, (err as { retryAfterMs?: number }).retryAfterMs);
        this.logger.warn(`${routingKey} attempt ${attempt} failed (${message}); retry in ${tier}s`);
        await this.amqp.publish(RETRY_EXCHANGE, routingKey, raw.content, {
          ...carriedProperties(raw),
          headers: {
            ...headers,
            'x-attempt': attempt + 1,
            // This attempt already moved the job (e.g. stage 'downloading'): the expiry handler
            // must compare the job with this copy's time, not the first publish's.
            'x-sent-at': Date.now(),
            'retry-tier': `${tier}s`,
            'x-last-error': message,
          },
        });
        done('retry');
        return;
      }
      this.logger.error(`${routingKey} failed for good after ${attempt} attempt(s): ${message}`);
      await this.deadLetter(raw, payload, errorCode(err), message);
      if (isTaskFailureListener(registered.owner)) {
        await registered.owner
          .onTaskDeadLettered(routingKey, payload, err)
          .catch((e: unknown) =>
            this.logger.error(`failure listener for ${routingKey} threw: ${String(e)}`),
          );
      }
      done('dead_letter');
    }
  }

  /**
   * What golevelup does when a handler (or the ack after it) throws: dead-letter the message.
   * When the channel is already gone (the broker restarted mid-handler) the nack throws too;
   * that must not become an unhandled rejection that kills the worker — the broker redelivers an
   * unacked message by itself.
   */
  private rejectSafely(channel: Channel, msg: ConsumeMessage, error: unknown): void {
    try {
      channel.nack(msg, false, false);
    } catch (nackError) {
      this.logger.warn(
        `message ${String(msg.properties.messageId)} left unacked (${(error as Error)?.message ?? error}; ` +
          `${(nackError as Error).message}): the broker redelivers it`,
      );
    }
  }

  /**
   * Runs a handler with a child logger in nestjs-pino's async context, so every log line it
   * writes carries the request id of the HTTP request that started the work, the routing key,
   * the message id and the attempt.
   */
  private inLogContext<T>(ctx: TaskContext, fn: () => Promise<T>): Promise<T> {
    // Outside any request this is the process's base logger (worker roles have no HTTP middleware).
    const child = this.pino.logger.child({
      requestId: ctx.requestId,
      routingKey: ctx.routingKey,
      messageId: ctx.messageId,
      attempt: ctx.attempt,
    });
    return storage.run(new Store(child), fn);
  }

  /**
   * Past the last attempt, an outage of our own dependency (PostgreSQL, Redis, RabbitMQ — not a
   * provider's RetryableTaskError) keeps its message retrying, every 60 s at the largest tier,
   * until the message is JOB_TIMEOUT_SECONDS old: the job's failure could not be recorded
   * anyway, and so the job goes on within a minute of the dependency's return instead of
   * waiting for the watchdog (docs/messaging.md → Failures).
   */
  private ridesOut(err: unknown, headers: Record<string, unknown>): boolean {
    if (err instanceof RetryableTaskError) return false;
    const sentAt = Number(headers['x-published-at']);
    return Number.isFinite(sentAt) && Date.now() - sentAt < this.config.JOB_TIMEOUT_SECONDS * 1000;
  }

  /** Smallest delay tier ≥ max(2^(attempt-1) s, Retry-After), capped at the largest tier. */
  private retryTier(attempt: number, retryAfterMs?: number): number {
    const wanted = Math.max(2 ** (attempt - 1), Math.ceil((retryAfterMs ?? 0) / 1000));
    return RETRY_TIERS_S.find((t) => t >= wanted) ?? RETRY_TIERS_S[RETRY_TIERS_S.length - 1];
  }

  private async deadLetter(
    raw: ConsumeMessage,
    _payload: unknown,
    code: string,
    reason: string,
  ): Promise<void> {
    const { 'retry-tier': _tier, ...headers } = (raw.properties.headers ?? {}) as Record<
      string,
      unknown
    >;
    await this.amqp.publish(DEAD_LETTER_EXCHANGE, raw.fields.routingKey, raw.content, {
      ...carriedProperties(raw),
      headers: {
        ...headers,
        'x-original-exchange': raw.fields.exchange,
        'x-original-routing-key': raw.fields.routingKey,
        'x-error-code': code,
        'x-error-message': reason.slice(0, 1000),
        'x-failed-at': new Date().toISOString(),
        'x-failed-role': this.config.APP_ROLE,
      },
    });
  }

  /** SIGTERM: stop taking messages, finish the ones in hand, then let the connection close. */
  async beforeApplicationShutdown(): Promise<void> {
    // From here on, a message still in the socket buffer is handed back, not started.
    this.draining = true;
    await Promise.allSettled(this.consumerTags.map((tag) => this.amqp.cancelConsumer(tag)));
    if (this.inFlight.size) this.logger.log(`draining ${this.inFlight.size} in-flight message(s)`);
    const deadline = Date.now() + this.config.SHUTDOWN_TIMEOUT_MS;
    // Until nothing is in flight (not a snapshot: the set changes while we wait).
    while (this.inFlight.size && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.inFlight]),
        new Promise((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now())))),
      ]);
      clearTimeout(timer);
    }
    if (this.inFlight.size) {
      this.logger.warn(
        `${this.inFlight.size} message(s) still running at shutdown: the broker redelivers them`,
      );
    }
  }
}

/** The message properties a retried or dead-lettered copy keeps. */
function carriedProperties(raw: ConsumeMessage) {
  const p = raw.properties;
  return {
    persistent: true,
    contentType: p.contentType as string | undefined,
    messageId: p.messageId as string | undefined,
    timestamp: p.timestamp as number | undefined,
    priority: p.priority as number | undefined,
    correlationId: p.correlationId as string | undefined,
  };
}
