import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationShutdown,
} from '@nestjs/common';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { ResourceLimits, Worker } from 'node:worker_threads';
import { APP_CONFIG, AppConfig } from '../core/config/app-config';
import { HealthService } from '../core/observability/health.service';
import { Metrics, MetricsJson } from '../core/observability/metrics';
import { RunningApp, startApp } from './bootstrap';

/**
 * The `all` role on two event loops (ALL_ROLE_THREADS; docs/architecture.md → The `all` role on
 * two threads). The process entry starts the API half (HTTP, migrations, sample data) on the main
 * thread, then the worker capabilities — fast, external, bulk and beat, one Nest application
 * context as the `workers` role — in a `node:worker_threads` Worker (src/app/workers-thread.ts),
 * so the API's JavaScript and the pipeline's run on two cores. The main thread supervises it:
 * readiness includes it, /metrics merges its registry, SIGTERM drains it, and a thread that dies
 * takes the process down with exit code 1 for its supervisor to restart (RabbitMQ redelivers the
 * messages it held).
 */

/** Main thread → workers thread. */
export type ToThread = { type: 'ready' | 'metrics'; id: number } | { type: 'close' };
/** Workers thread → main thread. */
export type FromThread =
  | { type: 'started' }
  | { type: 'failed'; error: string }
  | { type: 'reply'; id: number; value?: unknown; error?: string };

/** What the workers thread is given: the main thread's validated configuration. */
export interface WorkersThreadData {
  config: AppConfig;
}

/** Whether this process runs the `all` role's workers in a thread of their own. */
export function usesWorkersThread(config: AppConfig, cores = availableParallelism()): boolean {
  if (config.APP_ROLE !== 'all') return false;
  if (config.ALL_ROLE_THREADS === 'auto') return cores >= 2;
  return config.ALL_ROLE_THREADS === 'on';
}

/**
 * The workers thread's V8 heap (docs/benchmarks.md → Worker side and memory). Its live heap is
 * ~55 MB under load; with V8's defaults on a large machine (a ~4 GB limit, so an old generation
 * allowed to grow up to 4× its live size before a full GC, and 2 × 16 MB semi-spaces) it sat at
 * 170 MB after 30 s at 12 jobs/s. A 512 MB old generation (V8 then grows it by ~1.4× between
 * full GCs) and 8 MB semi-spaces (young generation 24 MB = 3 × semi-space) keep it near 90 MB.
 * Never more than the main thread's own limit (a container's memory limit lowers that).
 */
export function workersThreadHeapLimits(
  mainHeapLimitMb = getHeapStatistics().heap_size_limit / 2 ** 20,
): ResourceLimits {
  return {
    maxOldGenerationSizeMb: Math.floor(Math.min(512, mainHeapLimitMb)),
    maxYoungGenerationSizeMb: 24,
  };
}

/** A request to the thread that got no answer in time (it is busy or stuck). */
export class ThreadTimeout extends Error {}

/**
 * One worker thread and its message protocol: started (or failed), requests with replies
 * (readiness, metrics), close (drain, then exit), and a crash callback for an exit nobody asked
 * for.
 */
export class WorkersThread {
  private readonly worker: Worker;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  private nextId = 1;
  private closing = false;
  private running = false;
  private exitCode?: number;
  readonly started: Promise<void>;
  readonly exited: Promise<number>;

  constructor(
    script: string | URL,
    workerData: unknown,
    private readonly onCrash: (reason: string) => void,
    options: { eval?: boolean; resourceLimits?: ResourceLimits } = {},
  ) {
    this.worker = new Worker(script, {
      workerData,
      eval: options.eval,
      resourceLimits: options.resourceLimits ?? workersThreadHeapLimits(),
    });
    let lastError: string | undefined;
    this.started = new Promise<void>((resolve, reject) => {
      this.worker.on('message', (m: FromThread) => {
        if (m.type === 'started') {
          this.running = true;
          resolve();
        } else if (m.type === 'failed') reject(new Error(m.error));
        else if (m.type === 'reply') this.settle(m);
      });
      this.worker.on('error', (err) => {
        lastError = err.message;
        reject(err);
      });
      this.worker.once('exit', (code) =>
        reject(new Error(lastError ?? `the workers thread exited (${code}) before it started`)),
      );
    });
    // Nobody need wait for `started` to learn of a failure later; the crash callback does.
    this.started.catch(() => undefined);
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', (code) => {
        this.exitCode = code;
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(new Error('the workers thread has exited'));
        }
        this.pending.clear();
        // Before it started, `started` rejects instead (the process entry reports that).
        if (this.running && !this.closing) this.onCrash(lastError ?? `exit code ${code}`);
        resolve(code);
      }),
    );
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  get threadId(): number {
    return this.worker.threadId;
  }

  private settle(m: Extract<FromThread, { type: 'reply' }>): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.error !== undefined) p.reject(new Error(m.error));
    else p.resolve(m.value);
  }

  /** Asks the thread; rejects when it does not answer within `timeoutMs` or has exited. */
  request<T>(type: 'ready' | 'metrics', timeoutMs: number): Promise<T> {
    if (!this.alive) return Promise.reject(new Error('the workers thread has exited'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ThreadTimeout(`the workers thread did not answer ${type} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.worker.postMessage({ type, id } satisfies ToThread);
    });
  }

  /**
   * Drains the thread (its consumers finish what they hold, as a worker process does on
   * SIGTERM) and waits for it to exit; after `timeoutMs` it is terminated.
   */
  async close(timeoutMs: number): Promise<number> {
    this.closing = true;
    if (!this.alive) return this.exitCode!;
    this.worker.postMessage({ type: 'close' } satisfies ToThread);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), timeoutMs)));
    const how = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (how === 'late') await this.worker.terminate();
    return this.exited;
  }
}

/** The compiled thread entry beside this file (dist/app/workers-thread.js). */
export const WORKERS_THREAD_SCRIPT = join(__dirname, 'workers-thread.js');

/**
 * The main thread's side of the workers thread, a provider of the API half: its readiness check
 * (`workers`), its metrics merged into /metrics, and its drain on shutdown.
 */
@Injectable()
export class WorkersThreadHost implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('WorkersThread');
  private thread?: WorkersThread;
  private readonly removeSource: () => void;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    health: HealthService,
    metrics: Metrics,
  ) {
    health.addCheck('workers', async () => {
      if (!this.thread?.alive) return false;
      const report = await this.thread.request<{ status: string }>('ready', 1900);
      return report.status === 'ok';
    });
    this.removeSource = metrics.addSource(async () =>
      this.thread?.alive ? this.thread.request<MetricsJson>('metrics', 1500) : [],
    );
  }

  /** Starts the thread and resolves once its application is up (consumers attached). */
  async start(
    onCrash: (reason: string) => void,
    script: string | URL = WORKERS_THREAD_SCRIPT,
  ): Promise<void> {
    const data: WorkersThreadData = { config: this.config };
    this.thread = new WorkersThread(script, data, (reason) => {
      this.logger.error(`the workers thread died (${reason})`);
      onCrash(reason);
    });
    await this.thread.started;
    this.logger.log(`workers thread ${this.thread.threadId} started (fast, external, bulk, beat)`);
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (!this.thread) return;
    // Its consumers get SHUTDOWN_TIMEOUT_MS to finish, as in a worker process; a little more
    // for its connections to close.
    const code = await this.thread.close(this.config.SHUTDOWN_TIMEOUT_MS + 5000);
    if (code !== 0) this.logger.warn(`the workers thread exited with ${code}`);
  }

  onApplicationShutdown(): void {
    this.removeSource();
  }
}

/**
 * The process entry's start for APP_ROLE=all (runProcess in src/app/bootstrap.ts): the whole
 * role in one application when ALL_ROLE_THREADS says so, else the API half here and the workers
 * in their thread, started after the API half has migrated the database and loaded the sample
 * data. A thread that dies closes the API and exits the process with 1.
 */
export async function startAllRole(config: AppConfig): Promise<RunningApp> {
  if (!usesWorkersThread(config)) return startApp(config);
  const api = await startApp(config, { withoutWorkers: true, providers: [WorkersThreadHost] });
  const host = api.app.get(WorkersThreadHost);
  const crash = () => {
    process.exitCode = 1;
    // The API's own drain, bounded, then out: the supervisor restarts the whole role.
    setTimeout(() => process.exit(1), config.SHUTDOWN_TIMEOUT_MS + 5000).unref();
    void api.close().finally(() => process.exit(1));
  };
  try {
    await host.start(crash);
  } catch (err) {
    await api.close().catch(() => undefined);
    throw new Error(
      `the workers thread failed to start: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return api;
}
