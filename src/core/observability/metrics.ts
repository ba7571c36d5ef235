import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The process's Prometheus registry. One per process (collectDefaultMetrics may only run once
 * per registry), so it is a module-level singleton that the Nest provider hands out.
 */
const registry = new Registry();
collectDefaultMetrics({ register: registry });

const httpDuration = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP request latency by method, route and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});
const tasksHandled = new Counter({
  name: 'task_messages_total',
  help: 'RabbitMQ messages handled, by routing key and outcome (ok, retry, dead_letter, skipped)',
  labelNames: ['routing_key', 'outcome'] as const,
  registers: [registry],
});
const taskDuration = new Histogram({
  name: 'task_duration_seconds',
  help: 'Time spent handling a RabbitMQ message, by routing key and outcome',
  labelNames: ['routing_key', 'outcome'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [registry],
});

@Injectable()
export class Metrics {
  readonly registry = registry;

  observeHttp(method: string, route: string, status: number, seconds: number): void {
    httpDuration.labels(method, route, String(status)).observe(seconds);
  }

  observeTask(routingKey: string, outcome: string, seconds: number): void {
    tasksHandled.labels(routingKey, outcome).inc();
    taskDuration.labels(routingKey, outcome).observe(seconds);
  }

  /** Feature modules register their own metrics here (once per name). */
  counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return (
      (registry.getSingleMetric(name) as Counter<L>) ??
      new Counter({ name, help, labelNames, registers: [registry] })
    );
  }

  histogram<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets?: number[],
  ): Histogram<L> {
    return (
      (registry.getSingleMetric(name) as Histogram<L>) ??
      new Histogram({ name, help, labelNames, buckets, registers: [registry] })
    );
  }

  gauge<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    collect?: () => Promise<void> | void,
  ): Gauge<L> {
    return (
      (registry.getSingleMetric(name) as Gauge<L>) ??
      new Gauge({ name, help, labelNames, registers: [registry], ...(collect ? { collect } : {}) })
    );
  }
}
