import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import Redis from 'ioredis';
import { QueueProbe, waitFor } from '../support/amqp';
import { TEST_JWT_SECRET } from '../support/app';
import { Isolation, isolate } from '../support/isolation';

const ROOT = join(__dirname, '..', '..');

function run(script: string, env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [join(ROOT, script)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function finish(
  child: ChildProcess,
): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  return { code, signal, out, err };
}

describe('processes: bad configuration and graceful shutdown (compiled dist/)', () => {
  let iso: Isolation;
  let redis: Redis;
  beforeAll(async () => {
    iso = await isolate('process');
    redis = new Redis(iso.env.REDIS_URL);
  });
  afterAll(async () => {
    await redis.quit();
    await iso.cleanup();
  });

  /** The probe worker (dist/ plus a slow handler) as role fast, ready and consuming q.fast. */
  async function startProbeWorker(extra: Record<string, string>) {
    const worker = run('test/fixtures/probe-worker.js', {
      ...iso.env,
      APP_ROLE: 'fast',
      JWT_SECRET: TEST_JWT_SECRET,
      ...extra,
    });
    const out = { stdout: '', all: '' };
    worker.stdout!.on(
      'data',
      (d: Buffer) => ((out.stdout += d.toString()), (out.all += d.toString())),
    );
    worker.stderr!.on('data', (d: Buffer) => (out.all += d.toString()));
    const exited = finish(worker);
    await waitFor('worker ready', () => out.stdout.includes('READY'), 30_000);
    const probe = await QueueProbe.connect(iso.rabbitUrl);
    await waitFor(
      'consumer attached',
      async () => (await probe.channel.checkQueue('q.fast')).consumerCount === 1,
      10_000,
    );
    return { worker, out, exited, probe };
  }

  it('an unknown role stops the process with a message naming it', async () => {
    const r = await finish(run('dist/main.js', { ...iso.env, APP_ROLE: 'wizard' }));
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      'APP_ROLE: expected one of api, fast, external, bulk, beat, workers, all (got "wizard")',
    );
  });

  it('each bad variable is named, and a missing production secret too', async () => {
    const r = await finish(
      run('dist/worker.js', {
        ...iso.env,
        APP_ROLE: 'fast',
        PORT: 'eighty',
        DATABASE_URL: 'mysql://nope',
        CACHE_TTL_DAYS: '0',
        STORAGE_DRIVER: 'ftp',
      }),
    );
    expect(r.code).toBe(1);
    for (const name of ['PORT', 'DATABASE_URL', 'CACHE_TTL_DAYS', 'STORAGE_DRIVER']) {
      expect(r.err).toMatch(new RegExp(`^  - ${name}: `, 'm'));
    }
    const noSecret = await finish(run('dist/worker.js', { ...iso.env, APP_ROLE: 'bulk' }));
    expect(noSecret.code).toBe(1);
    expect(noSecret.err).toContain('JWT_SECRET: required when APP_ROLE is bulk');
  });

  it('the worker entry refuses HTTP roles', async () => {
    const r = await finish(
      run('dist/worker.js', { ...iso.env, APP_ROLE: 'api', JWT_SECRET: TEST_JWT_SECRET }),
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain('serves HTTP');
  });

  it("a worker's log lines carry the request id of the message it handles", async () => {
    const { worker, out, exited, probe } = await startProbeWorker({ LOG_LEVEL: 'info' });
    try {
      probe.channel.publish(
        'tasks',
        'waste.high.download',
        Buffer.from(JSON.stringify({ tag: 'traced', sleepMs: 1 })),
        {
          persistent: true,
          messageId: 'msg-traced',
          headers: { 'x-attempt': 1, 'x-request-id': 'req-from-the-app' },
        },
      );
      const line = await waitFor('the handler logged', () =>
        out.stdout.split('\n').find((l) => l.includes('handling traced')),
      );
      expect(JSON.parse(line)).toMatchObject({
        msg: 'handling traced',
        requestId: 'req-from-the-app',
        routingKey: 'waste.high.download',
        messageId: 'msg-traced',
        attempt: 1,
        role: 'fast',
      });
    } finally {
      await probe.close();
      worker.kill('SIGTERM');
      await exited;
    }
  });

  it('a broker connection cut mid-handler neither kills the worker nor loses the message; after the reconnect SIGTERM still cancels its consumer', async () => {
    const { worker, out, exited, probe } = await startProbeWorker({ PREFETCH_FAST: '4' });
    const key = (l: string) => `${iso.redisPrefix}:probe:${l}`;
    await redis.del(key('started'), key('done'), key('release'));
    try {
      // The handler holds the message until released: the cut is certainly mid-handler (a
      // fixed sleep raced the rabbitmqctl calls, which take seconds on a loaded machine, so the
      // message was often acked before the cut and never redelivered).
      probe.channel.publish(
        'tasks',
        'waste.high.download',
        Buffer.from(JSON.stringify({ tag: 'cut', sleepMs: 1, hold: true })),
        { persistent: true, headers: { 'x-attempt': 1 } },
      );
      await waitFor('in flight', async () => (await redis.llen(key('started'))) === 1);
      // Close the worker's connections (not ours): its ack will find the channel gone.
      const ours = probe.localPort;
      const conns = execFileSync(
        'rabbitmqctl',
        ['-q', 'list_connections', 'vhost', 'peer_port', 'pid'],
        { encoding: 'utf8' },
      )
        .split('\n')
        .map((l) => l.split('\t'))
        .filter(([vhost, port]) => vhost === iso.vhost && Number(port) !== ours);
      expect(conns.length).toBeGreaterThan(0);
      for (const [, , pid] of conns)
        execFileSync('rabbitmqctl', ['-q', 'close_connection', pid, 'test cut']);
      // The broker hands the unacked message to the worker's new consumer at once.
      await waitFor('redelivered', async () => (await redis.llen(key('started'))) >= 2, 40_000);
      await redis.set(key('release'), '1');
      try {
        await waitFor(
          'redelivered and handled',
          async () => (await redis.lrange(key('done'), 0, -1)).length >= 2,
          40_000,
        );
      } catch (err) {
        throw new Error(
          `${(err as Error).message}; worker exit ${worker.exitCode}:\n${out.all.slice(-4000)}`,
        );
      }
      expect(worker.exitCode).toBeNull();
      await waitFor('queue drained', async () => (await probe.depth('q.fast')) === 0);

      // SIGTERM with a message in hand: the consumer of the *new* connection is cancelled at
      // once (before the fix the old connection's tag was cancelled and this one kept consuming).
      await redis.del(key('release'));
      probe.channel.publish(
        'tasks',
        'waste.high.download',
        Buffer.from(JSON.stringify({ tag: 'drain', sleepMs: 1, hold: true })),
        { persistent: true, headers: { 'x-attempt': 1 } },
      );
      await waitFor('in flight', async () => (await redis.llen(key('started'))) >= 3);
      worker.kill('SIGTERM');
      await waitFor(
        'consumer cancelled while draining',
        async () => (await probe.channel.checkQueue('q.fast')).consumerCount === 0,
        20_000,
      );
      expect(worker.exitCode).toBeNull(); // still draining the held message
      await redis.set(key('release'), '1');
      await exited;
      expect(await redis.lrange(key('done'), 0, -1)).toContain('drain');
    } finally {
      await redis.set(key('release'), '1');
      await probe.close();
      worker.kill('SIGTERM');
      await exited;
    }
  });

  it('SIGTERM during slow handlers finishes them, acks them, and loses nothing', async () => {
    const { worker, exited, probe } = await startProbeWorker({ PREFETCH_FAST: '4' });
    try {
      const key = (l: string) => `${iso.redisPrefix}:probe:${l}`;
      await redis.del(key('started'), key('done')); // the earlier test's probe ran too
      for (const tag of ['m1', 'm2', 'm3']) {
        probe.channel.publish(
          'tasks',
          'waste.high.download',
          Buffer.from(JSON.stringify({ tag, sleepMs: 1500 })),
          {
            persistent: true,
            headers: { 'x-attempt': 1 },
          },
        );
      }
      await waitFor('all three in flight', async () => (await redis.llen(key('started'))) === 3);
      worker.kill('SIGTERM');
      const r = await exited;
      expect(r.signal === 'SIGTERM' || r.code === 0).toBe(true);
      expect((await redis.lrange(key('done'), 0, -1)).sort()).toEqual(['m1', 'm2', 'm3']);
      // Acked before the connection closed: nothing is waiting to be redelivered.
      expect(await probe.depth('q.fast')).toBe(0);
      expect(await probe.depth('q.dlq')).toBe(0);
    } finally {
      await probe.close();
      if (worker.exitCode === null) worker.kill('SIGKILL');
    }
  });
});
