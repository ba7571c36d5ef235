import { Injectable } from '@nestjs/common';
import {
  AggregatorRegistry,
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
} from 'prom-client';

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

/** A registry's metrics as JSON (what `Registry.getMetricsAsJSON` returns). */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** Another event loop's metrics in this process (the `all` role's worker thread). */
let sources: (() => Promise<MetricsJson>)[] = [];

/**
 * This thread's metrics as JSON for the main thread to merge: without `process_*`, which are of
 * the whole process (CPU, RSS, file descriptors) and which the main thread already reports.
 */
export async function threadMetricsJson(): Promise<MetricsJson> {
  const all = await registry.getMetricsAsJSON();
  return all.filter((m) => !m.name.startsWith('process_'));
}

@Injectable()
export class Metrics {
  readonly registry = registry;

  /**
   * Merges another thread's metrics into every scrape of this one (src/app/threads.ts). A source
   * that fails is left out of that scrape; this thread's own metrics are always served.
   */
  addSource(source: () => Promise<MetricsJson>): () => void {
    sources.push(source);
    return () => (sources = sources.filter((s) => s !== source));
  }

  /**
   * The Prometheus text of /metrics: this registry, merged with the other threads' by prom-client's
   * AggregatorRegistry (counters and histograms summed per label set, gauges by their
   * aggregator: see `gauge` below; the default nodejs_* metrics by prom-client's own).
   */
  async scrape(): Promise<string> {
    if (!sources.length) return registry.metrics();
    const others = await Promise.all(sources.map((s) => s().catch(() => [] as MetricsJson)));
    const own = await registry.getMetricsAsJSON();
    return AggregatorRegistry.aggregate([own, ...others]).metrics();
  }

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

  /**
   * The gauges registered here read shared state (the broker, PostgreSQL, Redis), the same from
   * every thread that reads it: when /metrics merges two threads' copies it keeps their max, not
   * their sum.
   */
  gauge<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    collect?: () => Promise<void> | void,
  ): Gauge<L> {
    return (
      (registry.getSingleMetric(name) as Gauge<L>) ??
      new Gauge({
        name,
        help,
        labelNames,
        registers: [registry],
        aggregator: 'max',
        ...(collect ? { collect } : {}),
      })
    );
  }
}
