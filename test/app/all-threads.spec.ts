import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { Client } from 'pg';
import { waitFor } from '../support/amqp';
import { TEST_JWT_SECRET } from '../support/app';
import { guestLogin, TestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { makePhoto } from '../support/photos';
import { RoleProcess, startRole } from '../support/processes';
import { RoboflowStandin } from '../support/standins/roboflow.standin';
import { submitPhoto, waitForEnd } from '../support/waste-client';

/** CPU seconds (user + system) of each thread of a process by thread id, from /proc. */
function threadCpu(pid: number): Map<string, number> {
  const cpu = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // a thread (libuv's, V8's) that ended between the listing and the read
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    cpu.set(tid, (Number(f[11]) + Number(f[12])) / 100);
  }
  return cpu;
}

const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : undefined;
};

/**
 * APP_ROLE=all with ALL_ROLE_THREADS=on, from the compiled image as `npm start` runs it: the API
 * on the main thread, fast/external/bulk/beat in a worker thread (docs/architecture.md → The
 * `all` role on two threads).
 */
describe('APP_ROLE=all on two threads (compiled dist/)', () => {
  let iso: Isolation;
  let rf: RoboflowStandin;
  let all: RoleProcess;
  let user: TestLogin;
  let db: Client;
  let bootLog = '';

  beforeAll(async () => {
    iso = await isolate('allthreads');
    rf = await new RoboflowStandin().start();
    rf.latencyMs = 100;
    all = await startRole('all', {
      ...iso.env,
      ...rf.env,
      JWT_SECRET: TEST_JWT_SECRET,
      ALL_ROLE_THREADS: 'on',
      RATE_LIMIT_LOGIN_PER_IP: '0',
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: '20000',
    });
    bootLog = all.output();
    user = await guestLogin(all.url);
    db = new Client({ connectionString: iso.databaseUrl });
    await db.connect();
  }, 120_000);

  afterAll(async () => {
    // A process that died under a test says why (the tests above only see refused connections).
    const { exitCode, signalCode } = all?.proc ?? {};
    // (The last test ends it with SIGTERM on purpose.)
    if (exitCode || (signalCode && signalCode !== 'SIGTERM')) {
      console.error(`the all process ended (${exitCode ?? signalCode}):\n${all.output()}`);
    }
    await db?.end();
    await all?.kill('SIGKILL');
    await rf?.close();
    await iso?.cleanup();
  });

  it('is ready only with its workers thread: readiness names it, the broker counts its consumers', async () => {
    for (const url of [`http://127.0.0.1:${all.metricsPort}`, all.url]) {
      const res = await fetch(`${url}/health/ready`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        role: string;
        checks: Record<string, string>;
        consumers: Record<string, number>;
      };
      expect(body.role).toBe('all');
      expect(body.checks).toMatchObject({ workers: 'up', postgres: 'up', rabbitmq: 'up' });
      // One consumer per work queue (the thread's), and the expiry queue from both threads.
      expect(body.consumers).toMatchObject({ 'q.fast': 1, 'q.external': 1, 'q.bulk': 1 });
      expect(body.consumers['q.expired']).toBe(2);
    }
  });

  it("logs from both threads in the same JSON lines, with the thread's role", () => {
    const lines = bootLog
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { role: string; pid: number; msg: string; level: number });
    const main = lines.filter((l) => l.role === 'all');
    const workers = lines.filter((l) => l.role === 'workers');
    expect(main.length).toBeGreaterThan(0);
    expect(workers.length).toBeGreaterThan(0);
    expect(new Set(lines.map((l) => l.pid))).toEqual(new Set([all.proc.pid]));
    expect(workers.some((l) => l.msg.startsWith('consuming q.fast, q.external, q.bulk'))).toBe(
      true,
    );
    // The migrations and the sample data ran once, on the main thread, before the thread began.
    expect(main.some((l) => /SAMPLE disposal schedules/.test(l.msg))).toBe(true);
    expect(workers.some((l) => /SAMPLE|migration/i.test(l.msg))).toBe(false);
  });

  it("completes a job end to end; /metrics carries the thread's task metrics beside the API's", async () => {
    const before = threadCpu(all.proc.pid!);
    const jobs = await Promise.all(
      [7301, 7302, 7303, 7304].map(async (seed) =>
        submitPhoto(all.url, user.accessToken, await makePhoto(seed)),
      ),
    );
    for (const { jobId } of jobs) {
      const job = await waitForEnd(all.url, user.accessToken, jobId, 60_000);
      expect(job.status).toBe('completed');
      expect(job.result?.items.length).toBeGreaterThan(0);
    }
    const text = await (await fetch(`http://127.0.0.1:${all.metricsPort}/metrics`)).text();
    // Handled only in the workers thread: the fast stage's download and the vision call.
    expect(
      sample(text, 'task_messages_total{routing_key="waste.high.download",outcome="ok"}'),
    ).toBeGreaterThanOrEqual(4);
    expect(
      sample(text, 'task_messages_total{routing_key="external.ai.vision",outcome="ok"}'),
    ).toBeGreaterThanOrEqual(4);
    // Served by the main thread.
    expect(text).toMatch(
      /^http_request_duration_seconds_count\{method="POST",route="\/api\/v1\/waste\/analyze",status="201"\} \d+/m,
    );
    // Process-wide figures appear once and are the process's own, not one per thread summed.
    expect(text.match(/^process_resident_memory_bytes /gm)).toHaveLength(1);
    const rss = Number(
      /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${all.proc.pid}/status`, 'utf8'))![1],
    );
    expect(sample(text, 'process_resident_memory_bytes')! / 1024).toBeLessThan(rss * 1.5);
    expect(sample(text, 'rabbitmq_queue_consumers{queue="q.fast"}')).toBe(1);

    // Two threads ran the JavaScript of this work (the API's event loop and the workers'):
    // each of the two busiest used CPU during it.
    const after = threadCpu(all.proc.pid!);
    const used = [...after].map(([tid, s]) => s - (before.get(tid) ?? 0)).sort((a, b) => b - a);
    expect(used[1]).toBeGreaterThan(0);
    expect(after.size).toBeGreaterThan(1);
  });

  it('SIGTERM drains the workers thread (the vision call in flight finishes), then exits cleanly', async () => {
    rf.latencyMs = 3000;
    const calls = rf.calls.length;
    const { jobId } = await submitPhoto(all.url, user.accessToken, await makePhoto(7310));
    await waitFor('vision call in flight', () => rf.calls.length > calls, 30_000);
    const exited = once(all.proc, 'exit') as Promise<[number | null, string | null]>;
    all.proc.kill('SIGTERM');
    const [code, signal] = await exited;
    // Nest re-raises the signal after closing, as in the one-thread process.
    expect(code === 0 || signal === 'SIGTERM').toBe(true);
    const out = all.output();
    expect(out).not.toMatch(/workers thread died|workers thread exited with/);
    const drained = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { role: string; msg: string })
      .find((l) => l.role === 'workers' && /^draining \d+ in-flight/.test(l.msg));
    expect(drained).toBeDefined();
    // The classification was saved before the thread exited: the job moved past it (its next
    // stage's message waits in the queue for the next start).
    const { rows } = await db.query<{ status: string; stage: string | null }>(
      'SELECT status, stage FROM waste.jobs WHERE id = $1',
      [jobId],
    );
    expect(rows[0].status).not.toBe('failed');
    expect(['downloading', 'hashing', 'preprocessing', 'classifying']).not.toContain(rows[0].stage);
  });
});
