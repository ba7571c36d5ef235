import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Client } from 'pg';
import { waitFor } from '../support/amqp';
import { TEST_JWT_SECRET } from '../support/app';
import { bearer, guestLogin, TestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { makePhoto } from '../support/photos';
import { RoleProcess, startRole } from '../support/processes';
import { RoboflowStandin } from '../support/standins/roboflow.standin';
import { JobBody, getJob, submitPhoto, waitForEnd } from '../support/waste-client';

/**
 * The roles as separate processes from the compiled image: crashes mid-job lose nothing and
 * duplicate nothing; job events reach SSE clients on any API replica.
 */
describe('separate role processes: SIGKILL mid-job, SSE across API replicas', () => {
  let iso: Isolation;
  let rf: RoboflowStandin;
  let env: Record<string, string>;
  const procs: RoleProcess[] = [];
  let api: RoleProcess;
  let api2: RoleProcess;
  let user: TestLogin;
  let db: Client;

  const start = async (role: string, extra: Record<string, string> = {}) => {
    const p = await startRole(role, { ...env, ...extra });
    procs.push(p);
    return p;
  };

  beforeAll(async () => {
    iso = await isolate('workers');
    rf = await new RoboflowStandin().start();
    rf.latencyMs = 1500;
    env = {
      ...iso.env,
      JWT_SECRET: TEST_JWT_SECRET,
      ...rf.env,
      RATE_LIMIT_LOGIN_PER_IP: '0',
      LOG_LEVEL: 'warn',
    };
    execFileSync(process.execPath, [join(__dirname, '..', '..', 'dist/core/database/migrate.js')], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: 'pipe',
    });
    [api, api2] = await Promise.all([start('api'), start('api')]);
    await Promise.all([start('fast'), start('external'), start('bulk')]);
    user = await guestLogin(api.url);
    db = new Client({ connectionString: iso.databaseUrl });
    await db.connect();
    // Five role processes boot here; on a loaded 2-core machine that alone can pass a minute.
  }, 180_000);

  afterAll(async () => {
    await db?.end();
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await rf?.close();
    await iso?.cleanup();
  });

  const historyRows = async (jobId: string) =>
    Number(
      (await db.query('SELECT count(*) FROM users.history WHERE job_id = $1', [jobId])).rows[0]
        .count,
    );

  it('SIGKILL of the external worker during the vision call: redelivered, completed once', async () => {
    const external = procs.find((p) => p.role === 'external')!;
    const calls = rf.calls.length;
    const { jobId } = await submitPhoto(api.url, user.accessToken, await makePhoto(900));
    await waitFor('vision call in flight', () => rf.calls.length > calls, 15_000);
    await external.kill('SIGKILL');
    procs.splice(procs.indexOf(external), 1);
    await start('external');
    const job = await waitForEnd(api.url, user.accessToken, jobId, 30_000);
    expect(job.status).toBe('completed');
    expect(rf.calls.length).toBe(calls + 2); // the unacked message came back once
    expect(await historyRows(jobId)).toBe(1);
  });

  it('SIGKILL of the fast worker with images in hand: every job completes exactly once', async () => {
    rf.latencyMs = 50;
    const fast = procs.find((p) => p.role === 'fast')!;
    const photos = await Promise.all(
      [901, 902, 903, 904, 905, 906].map((s) => makePhoto(s, { width: 4000, height: 3000 })),
    );
    const jobs = await Promise.all(photos.map((p) => submitPhoto(api.url, user.accessToken, p)));
    await waitFor('a download in progress', async () => {
      const j = await getJob(api.url, user.accessToken, jobs[0].jobId);
      return j.status === 'processing';
    });
    await fast.kill('SIGKILL');
    procs.splice(procs.indexOf(fast), 1);
    await start('fast');
    for (const { jobId } of jobs) {
      const job = await waitForEnd(api.url, user.accessToken, jobId, 60_000);
      expect(job.status).toBe('completed');
      expect(await historyRows(jobId)).toBe(1);
    }
  });

  it('an SSE client on one API replica sees the job another replica queued, to the end', async () => {
    rf.latencyMs = 300;
    const photo = await makePhoto(910);
    const res = await fetch(`${api.url}/api/v1/waste/analyze`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(user) },
      body: JSON.stringify({ contentType: 'image/jpeg', contentLength: photo.length }),
    });
    const { jobId, upload } = (await res.json()) as {
      jobId: string;
      upload: { url: string; headers: Record<string, string> };
    };
    const events: { event: string; data: JobBody }[] = [];
    const stream = (async () => {
      const s = await fetch(`${api2.url}/api/v1/waste/jobs/${jobId}/events`, {
        headers: bearer(user),
        signal: AbortSignal.timeout(20_000),
      });
      const text = await s.text(); // ends when the job ends
      for (const block of text.split('\n\n')) {
        const event = /^event: (.+)$/m.exec(block)?.[1];
        const data = /^data: (.+)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) as JobBody });
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    const u = new URL(upload.url);
    await fetch(`${api.url}${u.pathname}${u.search}`, {
      method: 'PUT',
      headers: upload.headers,
      body: photo,
    });
    await fetch(`${api.url}/api/v1/waste/upload-complete/${jobId}`, {
      method: 'POST',
      headers: bearer(user),
    });
    await stream;
    expect(events[events.length - 1].event).toBe('completed');
    const stages = events.map((e) => e.data.stage).filter(Boolean);
    expect(stages).toEqual(expect.arrayContaining(['downloading', 'classifying', 'coaching']));
  });
});
