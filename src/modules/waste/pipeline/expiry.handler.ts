import { AmqpConnection, Nack } from '@golevelup/nestjs-rabbitmq';
import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import type { Channel, ConsumeMessage } from 'amqplib';
import { JobTaskSchema } from '../../../core/messaging/messages';
import { isTransient } from '../../../core/messaging/task.errors';
import { TaskPublisher } from '../../../core/messaging/task-publisher';
import { QueueName, RoutingKey, WORK_QUEUES } from '../../../core/messaging/topology';
import { Metrics } from '../../../core/observability/metrics';
import { JobGuard, JobsService } from '../jobs/jobs.service';
import { SaveTask } from './task-payloads';

/** The code a job fails with when its message expired unread in q.fast or q.external. */
export const BACKLOG_EXPIRED = 'BACKLOG_EXPIRED';

/** The queues whose TTL ends a job (q.bulk's hour only delays analytics, which back-fills). */
const PIPELINE_QUEUES: ReadonlySet<string> = new Set([QueueName.Fast, QueueName.External]);

/** Clocks of pods and database differ a little; a job changed later than this did progress. */
const CLOCK_SKEW_MS = 1000;

interface Death {
  queue?: string;
  reason?: string;
}

/**
 * Acts on the broker's expiry dead letters: a pipeline message that sat in q.fast or q.external
 * past the queue's TTL (nobody consumed it: the role is down, or so far behind that the answer
 * would come too late) fails its job with BACKLOG_EXPIRED at once, instead of leaving it to the
 * watchdog's JOB_TIMEOUT_SECONDS. It consumes q.expired — a copy of every dead letter through
 * the tasks.dlx fanout — in every role with a database (api, fast, external, bulk, all) as
 * competing consumers, so it runs as long as any of them is up, whichever role is down
 * (docs/messaging.md → Expired messages). The watchdog remains the last resort.
 *
 * A job is only failed if it still waits for exactly what the expired message would have done
 * and (for the stages that advance one step at a time) has not changed since it was sent, so an
 * expired duplicate never fails a job another copy is moving on.
 */
@Injectable()
export class PipelineExpiryHandler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(PipelineExpiryHandler.name);
  private readonly handled;
  private consumerTag?: string;

  constructor(
    private readonly amqp: AmqpConnection,
    private readonly jobs: JobsService,
    private readonly publisher: TaskPublisher,
    metrics: Metrics,
  ) {
    this.handled = metrics.counter(
      'pipeline_expired_messages_total',
      'Copies read from q.expired, by outcome (failed: the job ended BACKLOG_EXPIRED)',
      ['outcome'],
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    const { consumerTag } = await this.amqp.createSubscriber(
      (payload: unknown, raw?: ConsumeMessage) => this.handle(payload, raw as ConsumeMessage),
      {
        queue: QueueName.Expired,
        queueOptions: { channel: 'expired' },
        createQueueIfNotExists: false,
        // Not JSON, or the ack failed: the copy is dropped (its twin stays in q.dlq).
        errorHandler: (channel: Channel, msg: ConsumeMessage) => {
          try {
            channel.ack(msg);
          } catch {
            /* channel gone: the broker redelivers */
          }
        },
      },
      'expiry',
    );
    this.consumerTag = consumerTag;
  }

  /** At SIGTERM, stop taking copies like the work queues do (a copy being handled finishes). */
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.consumerTag) return;
    await this.amqp.cancelConsumer(this.consumerTag).catch((err: unknown) => {
      this.logger.warn(`cancelling the q.expired consumer: ${String(err)}`);
    });
    this.consumerTag = undefined;
  }

  async handle(payload: unknown, raw: ConsumeMessage): Promise<Nack | void> {
    const headers = (raw.properties.headers ?? {}) as Record<string, unknown>;
    // Our dispatcher's own dead letters were handled by their failure listener already.
    if (headers['x-error-code'] !== undefined) return this.done('ignored');
    const death = (headers['x-death'] as Death[] | undefined)?.[0];
    if (death?.reason !== 'expired' || !PIPELINE_QUEUES.has(death.queue ?? '')) {
      return this.done('ignored');
    }
    const parsed = JobTaskSchema.safeParse(payload);
    if (!parsed.success) return this.done('ignored');
    const jobId = parsed.data.jobId;
    try {
      this.done(
        await this.expire(raw.fields.routingKey, jobId, payload as SaveTask, death.queue!, raw),
      );
    } catch (err) {
      this.logger.warn(`expired ${raw.fields.routingKey} for job ${jobId}: ${String(err)}`);
      // A bug or bad data would fail the same way forever: drop the copy (its twin stays in
      // q.dlq, and the watchdog still ends the job).
      if (!isTransient(err)) return this.done('error');
      // PostgreSQL or RabbitMQ away: try again shortly (the copy keeps its own hour-long TTL).
      this.done('requeued');
      await new Promise((r) => setTimeout(r, 2000));
      return new Nack(true);
    }
  }

  private done(outcome: string): void {
    this.handled.labels(outcome).inc();
  }

  private async expire(
    routingKey: string,
    jobId: string,
    task: SaveTask,
    queue: string,
    raw: ConsumeMessage,
  ): Promise<string> {
    const ttlS = (WORK_QUEUES.find((q) => q.name === queue)?.ttlMs ?? 0) / 1000;
    const role = queue === QueueName.Fast ? 'fast' : 'external';
    const message = `no ${role} worker took ${routingKey} within ${ttlS} s (${queue} backlog or no worker)`;
    // Unchanged since this copy was sent: x-sent-at is stamped on every publish, retries
    // included (x-published-at keeps the first one's time, and a failed attempt moves the job).
    const headers = raw.properties.headers ?? {};
    const sentMs = Number(headers['x-sent-at'] ?? headers['x-published-at']);
    const sent = Number.isFinite(sentMs) ? sentMs : (Number(raw.properties.timestamp) + 1) * 1000;
    const unchangedSince = Number.isFinite(sent) ? new Date(sent + CLOCK_SKEW_MS) : undefined;
    let guard: JobGuard;
    switch (routingKey) {
      case RoutingKey.WasteDownload:
        guard = {
          from: ['queued', 'processing'],
          stages: [null, 'downloading', 'hashing', 'preprocessing'],
          unchangedSince,
        };
        break;
      case RoutingKey.Vision:
        guard = { stages: ['classifying'], unchangedSince };
        break;
      // Coaching and nearby run side by side, so the other part may have changed the job.
      case RoutingKey.Feedback:
        guard = { stages: ['coaching'], pending: ['coaching'] };
        break;
      case RoutingKey.WasteSave: {
        const part = task.part === 'nearby' ? 'nearby' : 'coaching';
        const job = await this.jobs.get(jobId);
        const stored = part === 'coaching' ? !!job?.result?.coaching : job?.result?.nearby != null;
        // The watchdog re-sends a save whose part is already stored (every part is in, the job
        // never completed): then only an unchanged job at coaching/saving waits for it.
        guard = stored ? { stages: ['coaching', 'saving'], unchangedSince } : { pending: [part] };
        break;
      }
      case RoutingKey.MapNearby: {
        // Nearby points are a bonus: the job completes with an empty list (as on a dead letter).
        const job = await this.jobs.get(jobId);
        if (job?.status === 'processing' && job.result && job.result.nearby === null) {
          const empty: SaveTask = { jobId, part: 'nearby', nearby: [], nearbyMs: 0 };
          await this.publisher.publish(RoutingKey.WasteSave, empty);
          return 'nearby_empty';
        }
        return 'ignored';
      }
      default:
        return 'ignored';
    }
    const failed = await this.jobs.fail(jobId, BACKLOG_EXPIRED, message, guard);
    if (!failed) return 'ignored';
    this.logger.warn(`job ${jobId} failed: ${BACKLOG_EXPIRED} (${message})`);
    return 'failed';
  }
}
