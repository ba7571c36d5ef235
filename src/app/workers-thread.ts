import 'reflect-metadata';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { HealthService } from '../core/observability/health.service';
import { threadMetricsJson } from '../core/observability/metrics';
import { metricsServedByMainThread } from '../core/observability/metrics.server';
import { RunningApp, startApp } from './bootstrap';
import type { FromThread, ToThread, WorkersThreadData } from './threads';

/**
 * Entry of the `all` role's workers thread (src/app/threads.ts): the main thread's configuration
 * as the `workers` role — fast, external, bulk and beat in one Nest application context, no HTTP,
 * no migrations (the main thread ran them before starting this thread). Its logs go to the same
 * stdout in the same JSON, with `role: "workers"`.
 */
if (isMainThread || !parentPort) {
  console.error('src/app/workers-thread.ts runs only as the all role worker thread');
  process.exit(1);
}
const port = parentPort;
const { config } = workerData as WorkersThreadData;
const send = (m: FromThread) => port.postMessage(m);

async function main(): Promise<void> {
  metricsServedByMainThread();
  let running: RunningApp;
  try {
    running = await startApp(Object.freeze({ ...config, APP_ROLE: 'workers' as const }));
  } catch (err) {
    send({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
  const health = running.app.get(HealthService);
  let closing: Promise<void> | undefined;
  port.on('message', (m: ToThread) => {
    if (m.type === 'close') {
      // As a worker process on SIGTERM: consumers drain what they hold, then connections close.
      closing ??= running.close().then(
        () => process.exit(0),
        (err: unknown) => {
          console.error(`workers thread: close failed: ${String(err)}`);
          process.exit(1);
        },
      );
      return;
    }
    const answer =
      m.type === 'ready' ? health.readiness() : (threadMetricsJson() as Promise<unknown>);
    answer.then(
      (value) => send({ type: 'reply', id: m.id, value }),
      (err: unknown) => send({ type: 'reply', id: m.id, error: String(err) }),
    );
  });
  send({ type: 'started' });
}

void main();
