import { DataSource } from 'typeorm';
import { RunningApp } from '../../src/app/bootstrap';
import { TaskPublisher } from '../../src/core/messaging/task-publisher';
import { RoutingKey } from '../../src/core/messaging/topology';
import { JobsService } from '../../src/modules/waste/jobs/jobs.service';
import { WasteBulkHandlers } from '../../src/modules/waste/pipeline/bulk.handler';
import { bootRole } from '../support/app';
import { guestLogin, TestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { makePhoto } from '../support/photos';
import { getJob, submitPhoto, waitForEnd } from '../support/waste-client';

/**
 * A stage writes the job's state, then publishes the next message. When that publish is lost
 * (the broker went away in between), the job must still end: a redelivered or retried message
 * re-sends what the job waits for, and the watchdog does so for jobs that sit idle.
 */
describe('pipeline recovery from lost messages', () => {
  let iso: Isolation;
  let app: RunningApp;
  let user: TestLogin;
  let db: DataSource;

  beforeAll(async () => {
    iso = await isolate('recovery');
    app = await bootRole(iso, {
      APP_ROLE: 'all',
      VISION_PROVIDER: 'none',
      RATE_LIMIT_LOGIN_PER_IP: '0',
      LOCATIONS_SAMPLE_DATA: 'false',
      JOB_RESUME_SECONDS: '10',
    });
    user = await guestLogin(app.url!);
    db = app.app.get(DataSource);
  });
  afterAll(async () => {
    await app?.close();
    await iso?.cleanup();
  });

  /** A completed job put back to a mid-pipeline state, as if the next publish had been lost. */
  const rewind = async (seed: number, state: string) => {
    const { jobId } = await submitPhoto(app.url!, user.accessToken, await makePhoto(seed), {
      hint: '캔',
    });
    await waitForEnd(app.url!, user.accessToken, jobId);
    await db.query(
      `UPDATE waste.jobs SET ${state}, updated_at = now() - interval '1 minute' WHERE id = $1`,
      [jobId],
    );
    await db.query('DELETE FROM users.history WHERE job_id = $1', [jobId]);
    await db.query('DELETE FROM analytics.job_events WHERE job_id = $1', [jobId]);
    await app.app.get(JobsService).forgetSnapshot(jobId); // status now reads the rewound row
    return jobId;
  };

  it('a retried vision message for a job already past vision re-sends its coaching request', async () => {
    const jobId = await rewind(
      1,
      `status = 'processing', stage = 'coaching', progress = 70, result = jsonb_set(result, '{coaching}', 'null')`,
    );
    await app.app
      .get(TaskPublisher)
      .publish(RoutingKey.Vision, { jobId }, { headers: { 'x-attempt': 2 } });
    const job = await waitForEnd(app.url!, user.accessToken, jobId);
    expect(job.status).toBe('completed');
    expect(job.result!.coaching).not.toBeNull();
    const rows = (await db.query('SELECT count(*)::int AS n FROM users.history WHERE job_id = $1', [
      jobId,
    ])) as { n: number }[];
    expect(rows[0].n).toBe(1);
  });

  it('a first delivery for a job past that stage is skipped (no duplicate work)', async () => {
    const jobId = await rewind(
      2,
      `status = 'processing', stage = 'coaching', progress = 70, result = jsonb_set(result, '{coaching}', 'null')`,
    );
    await app.app.get(TaskPublisher).publish(RoutingKey.WasteDownload, { jobId });
    await new Promise((r) => setTimeout(r, 500));
    expect((await getJob(app.url!, user.accessToken, jobId)).status).toBe('processing');
  });

  it('the watchdog resumes idle jobs (queued with no message, waiting for coaching) and they complete', async () => {
    const queued = await rewind(3, `status = 'queued', stage = NULL, progress = 5, result = NULL`);
    const coaching = await rewind(
      4,
      `status = 'processing', stage = 'coaching', progress = 70, result = jsonb_set(result, '{coaching}', 'null')`,
    );
    const report = await app.app.get(WasteBulkHandlers).watchdog();
    expect(report.resumed).toBeGreaterThanOrEqual(2);
    for (const jobId of [queued, coaching]) {
      const job = await waitForEnd(app.url!, user.accessToken, jobId);
      expect(job.status).toBe('completed');
    }
    // Once per 5 minutes per job: a second sweep right away resumes nothing.
    expect((await app.app.get(WasteBulkHandlers).watchdog()).resumed).toBe(0);
  });

  it('the watchdog resumes a job whose save was dead-lettered at stage saving: it completes once, with its history row and event', async () => {
    // All parts in, never completed: what a save left behind when it ran out of retries during a
    // long PostgreSQL outage (the watchdog's resume used to publish nothing for `saving`).
    const jobId = await rewind(5, `status = 'processing', stage = 'saving', progress = 90`);
    const report = await app.app.get(WasteBulkHandlers).watchdog();
    expect(report.resumed).toBeGreaterThanOrEqual(1);
    const job = await waitForEnd(app.url!, user.accessToken, jobId);
    expect(job.status).toBe('completed');
    const counts = (await db.query(
      `SELECT (SELECT count(*)::int FROM users.history WHERE job_id = $1) AS history,
              (SELECT count(*)::int FROM analytics.job_events WHERE job_id = $1 AND status = 'completed') AS events`,
      [jobId],
    )) as { history: number; events: number }[];
    expect(counts[0]).toEqual({ history: 1, events: 1 });
  });
});
