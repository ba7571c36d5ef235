import { AmqpConnection } from '@golevelup/nestjs-rabbitmq';
import {
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  Provider,
} from '@nestjs/common';
import { Metrics } from '../../../core/observability/metrics';
import { DlqConnection, DlqService } from './dlq.service';

/** The app's DlqService, on the process's RabbitMQ connection (its current one after a reconnect). */
export const dlqServiceProvider: Provider = {
  provide: DlqService,
  inject: [AmqpConnection],
  useFactory: (amqp: AmqpConnection) =>
    new DlqService(() => amqp.connection as unknown as DlqConnection),
};

/** The live source of the gauge: the registry is per process, the app may be one of several. */
let source: DlqService | undefined;

/**
 * `rabbitmq_dlq_messages`: q.dlq depth, read from the broker when Prometheus scrapes. The chart's
 * alert reads the RabbitMQ exporter's `rabbitmq_queue_messages{queue="q.dlq"}`; this is the same
 * number from the app's side, for clusters without the exporter.
 */
@Injectable()
export class DlqMetrics implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(DlqMetrics.name);

  constructor(
    private readonly dlq: DlqService,
    private readonly metrics: Metrics,
  ) {}

  onApplicationBootstrap(): void {
    source = this.dlq;
    const gauge = this.metrics.gauge(
      'rabbitmq_dlq_messages',
      'Messages waiting in q.dlq (dead letters); alert above 100',
      [],
      async () => {
        if (!source) return;
        try {
          gauge.set(await withTimeout(source.depth(), 2000));
        } catch (err) {
          this.logger.warn(`q.dlq depth unavailable: ${String(err)}`);
        }
      },
    );
  }

  onApplicationShutdown(): void {
    if (source === this.dlq) source = undefined;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
