import { loadConfig } from '../core/config/app-config';
import type { HealthService } from '../core/observability/health.service';
import type { Metrics, MetricsJson } from '../core/observability/metrics';
import {
  ThreadTimeout,
  usesWorkersThread,
  WorkersThread,
  WorkersThreadHost,
  workersThreadHeapLimits,
} from './threads';

const config = (env: Record<string, string>) =>
  loadConfig({ JWT_SECRET: 'x'.repeat(32), APP_ROLE: 'all', ...env });

/** A thread speaking the protocol of src/app/workers-thread.ts, in a few lines. */
const thread = (body: string) => `
  const { parentPort, workerData } = require('node:worker_threads');
  const send = (m) => parentPort.postMessage(m);
  ${body}
`;

const ANSWERS = thread(`
  parentPort.on('message', (m) => {
    if (m.type === 'close') setTimeout(() => process.exit(0), 20);
    else if (m.type === 'ready') send({ type: 'reply', id: m.id, value: { status: 'ok', seen: workerData } });
    else if (m.type === 'metrics') send({ type: 'reply', id: m.id, error: 'no registry here' });
  });
  send({ type: 'started' });
`);

describe('usesWorkersThread: ALL_ROLE_THREADS', () => {
  it('auto uses a thread from two cores on, in the all role only', () => {
    expect(usesWorkersThread(config({}), 2)).toBe(true);
    expect(usesWorkersThread(config({}), 1)).toBe(false);
    expect(usesWorkersThread(config({ ALL_ROLE_THREADS: 'on' }), 1)).toBe(true);
    expect(usesWorkersThread(config({ ALL_ROLE_THREADS: 'off' }), 8)).toBe(false);
    expect(usesWorkersThread(config({ APP_ROLE: 'api', ALL_ROLE_THREADS: 'on' }), 8)).toBe(false);
    expect(usesWorkersThread(config({ APP_ROLE: 'workers' }), 8)).toBe(false);
  });

  it('rejects anything else, naming the variable', () => {
    expect(() => config({ ALL_ROLE_THREADS: 'yes' })).toThrow(/ALL_ROLE_THREADS: /);
  });
});

describe('workersThreadHeapLimits: the workers thread heap', () => {
  it('512 MB of old generation and 8 MB semi-spaces, never above the main thread limit', () => {
    expect(workersThreadHeapLimits(4144)).toEqual({
      maxOldGenerationSizeMb: 512,
      maxYoungGenerationSizeMb: 24,
    });
    expect(workersThreadHeapLimits(300.5).maxOldGenerationSizeMb).toBe(300);
  });

  it('the thread runs with them: its heap limit is old + young generation', async () => {
    const t = new WorkersThread(
      thread(`
        const v8 = require('node:v8');
        parentPort.on('message', (m) => {
          if (m.type === 'close') process.exit(0);
          send({ type: 'reply', id: m.id, value: v8.getHeapStatistics().heap_size_limit / 2 ** 20 });
        });
        send({ type: 'started' });
      `),
      {},
      () => {},
      { eval: true },
    );
    await t.started;
    // Without resourceLimits a thread gets V8's default for this machine (~4 GB on 24 GB).
    const limitMb = await t.request<number>('ready', 5000);
    expect(limitMb).toBeGreaterThanOrEqual(512);
    expect(limitMb).toBeLessThanOrEqual(512 + 24);
    await t.close(5000);
  });
});

describe('WorkersThread: the main thread side of the protocol', () => {
  it('starts, answers requests, and closes without counting as a crash', async () => {
    const crashes: string[] = [];
    const t = new WorkersThread(ANSWERS, { hello: 1 }, (r) => crashes.push(r), { eval: true });
    await t.started;
    await expect(t.request('ready', 5000)).resolves.toEqual({
      status: 'ok',
      seen: { hello: 1 },
    });
    await expect(t.request('metrics', 5000)).rejects.toThrow('no registry here');
    await expect(t.close(5000)).resolves.toBe(0);
    expect(t.alive).toBe(false);
    await expect(t.request('ready', 5000)).rejects.toThrow('has exited');
    expect(crashes).toEqual([]);
  });

  it('a thread that fails to start rejects `started` with its reason, and is no crash', async () => {
    const crashes: string[] = [];
    const failed = new WorkersThread(
      thread(`send({ type: 'failed', error: 'database unreachable' }); process.exit(1);`),
      {},
      (r) => crashes.push(r),
      { eval: true },
    );
    await expect(failed.started).rejects.toThrow('database unreachable');
    const thrown = new WorkersThread(thread(`throw new Error('bad module');`), {}, () => {}, {
      eval: true,
    });
    await expect(thrown.started).rejects.toThrow('bad module');
    await failed.exited;
    expect(crashes).toEqual([]);
  });

  it('a thread that dies after starting calls the crash callback and fails what waits on it', async () => {
    const crashed = new Promise<string>((resolve) => {
      const t = new WorkersThread(
        thread(`
          parentPort.on('message', (m) => { if (m.type === 'ready') setTimeout(() => { throw new Error('handler blew up'); }, 10); });
          send({ type: 'started' });
        `),
        {},
        resolve,
        { eval: true },
      );
      void t.started.then(() => expect(t.request('ready', 10_000)).rejects.toThrow('has exited'));
    });
    await expect(crashed).resolves.toBe('handler blew up');
  });

  it('a request the thread does not answer times out; a close it ignores ends in terminate', async () => {
    const crashes: string[] = [];
    const t = new WorkersThread(
      thread(`parentPort.on('message', () => {}); send({ type: 'started' });`),
      {},
      (r) => crashes.push(r),
      { eval: true },
    );
    await t.started;
    await expect(t.request('ready', 50)).rejects.toBeInstanceOf(ThreadTimeout);
    await t.close(100); // terminate()'s exit code
    expect(t.alive).toBe(false);
    expect(crashes).toEqual([]);
  });
});

describe('WorkersThreadHost: readiness and metrics of the process include the thread', () => {
  /** An ES module thread (a data: URL) that is ready, has one metric, and dies when told to. */
  const script = new URL(
    `data:text/javascript,${encodeURIComponent(`
      import { parentPort, workerData } from 'node:worker_threads';
      const send = (m) => parentPort.postMessage(m);
      parentPort.on('message', (m) => {
        if (m.type === 'ready') send({ type: 'reply', id: m.id, value: { status: 'ok', role: workerData.config.APP_ROLE } });
        if (m.type === 'metrics') send({ type: 'reply', id: m.id, value: [{ name: 'x_total', help: 'h', type: 'counter', aggregator: 'sum', values: [{ value: 1, labels: {} }] }] });
        if (m.type === 'close') process.exit(0);
      });
      send({ type: 'started' });
      setTimeout(() => process.exit(3), 400);
    `)}`,
  );

  it('is not ready before the thread starts nor after it dies; its crash is reported', async () => {
    let check: (() => Promise<boolean>) | undefined;
    let source: (() => Promise<MetricsJson>) | undefined;
    const health = { addCheck: (_: string, c: () => Promise<boolean>) => (check = c) };
    const metrics = { addSource: (s: () => Promise<MetricsJson>) => ((source = s), () => {}) };
    const host = new WorkersThreadHost(
      config({}),
      health as unknown as HealthService,
      metrics as unknown as Metrics,
    );
    await expect(check!()).resolves.toBe(false);
    await expect(source!()).resolves.toEqual([]);
    let crashed: (reason: string) => void = () => {};
    const crash = new Promise<string>((r) => (crashed = r));
    await host.start(crashed, script);
    await expect(check!()).resolves.toBe(true);
    expect((await source!()).map((m) => m.name)).toEqual(['x_total']);
    await expect(crash).resolves.toBe('exit code 3');
    await expect(check!()).resolves.toBe(false);
    await expect(source!()).resolves.toEqual([]);
    await host.beforeApplicationShutdown(); // nothing left to drain: returns at once
  });
});
