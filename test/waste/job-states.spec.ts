import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../../src/migrations';
import { JobEntity } from '../../src/modules/waste/jobs/job.entity';
import { emptyJobResult, JobResult } from '../../src/modules/waste/jobs/job.types';
import { JobsRepository } from '../../src/modules/waste/jobs/jobs.repository';
import { Isolation, isolate } from '../support/isolation';

/** waste.jobs migrated in the isolated database; `extra` goes to the pg pool. */
async function migratedJobs(iso: Isolation, extra?: { max: number }): Promise<DataSource> {
  const ds = new DataSource({
    type: 'postgres',
    url: iso.databaseUrl,
    entities: [JobEntity],
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    extra,
  });
  await ds.initialize();
  await ds.runMigrations();
  return ds;
}

/**
 * Each typed state change of JobsRepository against PostgreSQL: it applies from the states it
 * names and from no other (one guarded UPDATE: undefined, and the row untouched, otherwise),
 * bumps the version once, and writes exactly its columns.
 */
describe('JobsRepository: one guarded UPDATE per state change', () => {
  let iso: Isolation;
  let ds: DataSource;
  let repo: JobsRepository;

  beforeAll(async () => {
    iso = await isolate('job-states');
    // One connection: the prepared-statement tests read pg_prepared_statements on it.
    ds = await migratedJobs(iso, { max: 1 });
    repo = new JobsRepository(ds);
  });
  afterAll(async () => {
    await ds?.destroy();
    await iso?.cleanup();
  });

  const result = (over: Partial<JobResult> = {}): JobResult => ({ ...emptyJobResult(), ...over });

  /** A job in the given state (columns as SQL literals or values). */
  async function jobIn(state: Partial<Record<string, unknown>>): Promise<JobEntity> {
    const id = randomUUID();
    const job = await repo.insert({
      id,
      userId: randomUUID(),
      status: 'awaiting_upload',
      contentType: 'image/jpeg',
      contentLength: 1000,
      storageKey: `uploads/u/${id}/original`,
      uploadExpiresAt: new Date(Date.now() + 600_000),
    });
    const sets = Object.keys(state).map((k, i) => `${k} = $${i + 2}`);
    if (!sets.length) return job;
    const values = Object.values(state).map((v) =>
      v !== null && typeof v === 'object' && !(v instanceof Date) ? JSON.stringify(v) : v,
    );
    await ds.query(`UPDATE waste.jobs SET ${sets.join(', ')} WHERE id = $1`, [id, ...values]);
    return (await repo.get(id))!;
  }

  it('inserts and reads a job back as a JobEntity, numbers as numbers', async () => {
    const job = await jobIn({});
    expect(job).toBeInstanceOf(JobEntity);
    expect(job).toMatchObject({ status: 'awaiting_upload', progress: 0, version: 1, lat: null });
    expect(typeof job.contentLength).toBe('number');
    expect(job.createdAt).toBeInstanceOf(Date);
    expect(job.timings).toEqual({});
  });

  it('expireUpload: only an upload still awaited', async () => {
    const awaiting = await jobIn({});
    const at = new Date();
    const expired = await repo.expireUpload(awaiting.id, at);
    expect(expired).toMatchObject({ status: 'expired', version: 2 });
    expect(expired!.finishedAt!.getTime()).toBe(at.getTime());
    const queued = await jobIn({ status: 'queued' });
    expect(await repo.expireUpload(queued.id, at)).toBeUndefined();
    expect((await repo.get(queued.id))!).toMatchObject({ status: 'queued', version: 1 });
  });

  it('markQueued and unqueue: awaiting_upload ⇄ queued only', async () => {
    const job = await jobIn({});
    const at = new Date();
    const queued = await repo.markQueued(job.id, at);
    expect(queued).toMatchObject({ status: 'queued', progress: 5 });
    expect(queued!.queuedAt!.getTime()).toBe(at.getTime());
    expect(await repo.markQueued(job.id, at)).toBeUndefined(); // not twice
    const back = await repo.unqueue(job.id);
    expect(back).toMatchObject({ status: 'awaiting_upload', progress: 0, queuedAt: null });
    expect(await repo.unqueue(job.id)).toBeUndefined();
    const processing = await jobIn({ status: 'processing', stage: 'hashing' });
    expect(await repo.unqueue(processing.id)).toBeUndefined();
  });

  it('startStage: from queued or processing, with the stage’s progress and merged timings', async () => {
    const job = await jobIn({ status: 'queued', timings: { queue: 3 } });
    const started = await repo.startStage(job.id, 'downloading', { download: 7 });
    expect(started).toMatchObject({
      status: 'processing',
      stage: 'downloading',
      progress: 10,
      timings: { queue: 3, download: 7 },
    });
    expect(await repo.startStage(job.id, 'hashing')).toMatchObject({ progress: 20 });
    const done = await jobIn({ status: 'completed' });
    expect(await repo.startStage(done.id, 'hashing')).toBeUndefined();
  });

  it('startDownload: a queued job, or a processing one before classification (a redelivery); nothing later', async () => {
    const queued = await jobIn({ status: 'queued' });
    expect(await repo.startDownload(queued.id)).toMatchObject({
      status: 'processing',
      stage: 'downloading',
      progress: 10,
      version: 2,
    });
    for (const stage of ['downloading', 'hashing', 'preprocessing']) {
      const early = await jobIn({ status: 'processing', stage });
      expect(await repo.startDownload(early.id)).toMatchObject({ stage: 'downloading' });
    }
    for (const state of [
      { status: 'processing', stage: 'classifying' },
      { status: 'processing', stage: 'coaching' },
      { status: 'awaiting_upload' },
      { status: 'completed' },
      { status: 'failed' },
    ]) {
      const later = await jobIn(state);
      expect(await repo.startDownload(later.id)).toBeUndefined();
      expect((await repo.get(later.id))!).toMatchObject({ ...state, version: later.version });
    }
  });

  it('markClassifying and recordCachedGuidance: processing only, with the fingerprint', async () => {
    const fp = { imageSha256: 'a'.repeat(64), imagePhash: 'b'.repeat(16) };
    const job = await jobIn({ status: 'processing', stage: 'preprocessing' });
    expect(await repo.markClassifying(job.id, fp, { preprocess: 4 })).toMatchObject({
      stage: 'classifying',
      progress: 40,
      ...fp,
      timings: { preprocess: 4 },
    });
    const hit = await jobIn({ status: 'processing', stage: 'hashing' });
    const r = result({ cache: { hit: true, kind: 'exact', source: 'vision' } });
    expect(await repo.recordCachedGuidance(hit.id, r, fp, { cache: 1 })).toMatchObject({
      stage: 'coaching',
      progress: 70,
      result: r,
      ...fp,
    });
    const queued = await jobIn({ status: 'queued' });
    expect(await repo.markClassifying(queued.id, fp, {})).toBeUndefined();
    expect(await repo.recordCachedGuidance(queued.id, r, fp, {})).toBeUndefined();
  });

  it('recordVisionGuidance: only while classifying', async () => {
    const job = await jobIn({ status: 'processing', stage: 'classifying' });
    const r = result();
    expect(await repo.recordVisionGuidance(job.id, r, { vision: 20 })).toMatchObject({
      stage: 'coaching',
      progress: 70,
      result: r,
    });
    // A late duplicate finds the job at coaching: nothing happens.
    expect(await repo.recordVisionGuidance(job.id, r, { vision: 99 })).toBeUndefined();
    expect((await repo.get(job.id))!.timings).toEqual({ vision: 20 });
  });

  it('saveCoaching and saveNearby: each part once, into result', async () => {
    const job = await jobIn({ status: 'processing', stage: 'coaching', result: result() });
    const coaching = { message: '헹궈서', source: 'rules' as const };
    const saved = await repo.saveCoaching(job.id, { coaching, schedule: null, coachingMs: 12 });
    expect(saved).toMatchObject({ stage: 'saving', progress: 90, timings: { coaching: 12 } });
    expect(saved!.result).toMatchObject({ coaching, schedule: null, timings: { coachingMs: 12 } });
    expect(
      await repo.saveCoaching(job.id, { coaching, schedule: null, coachingMs: 1 }),
    ).toBeUndefined();
    const near = await repo.saveNearby(job.id, { nearby: [{ name: 'p' }], nearbyMs: 5 });
    expect(near).toMatchObject({ stage: 'saving', timings: { coaching: 12, nearby: 5 } });
    expect(near!.result!.nearby).toEqual([{ name: 'p' }]);
    expect(await repo.saveNearby(job.id, { nearby: [], nearbyMs: 1 })).toBeUndefined();
  });

  it('complete: processing only, total time in timings and result, in the caller’s transaction', async () => {
    const job = await jobIn({ status: 'processing', stage: 'saving', result: result() });
    const at = new Date();
    // Rolled back with its transaction.
    await expect(
      repo.transaction(async (m) => {
        expect(await repo.complete(job.id, at, 900, m)).toMatchObject({ status: 'completed' });
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    expect((await repo.get(job.id))!.status).toBe('processing');
    const done = await repo.complete(job.id, at, 900);
    expect(done).toMatchObject({ status: 'completed', stage: null, progress: 100 });
    expect(done!.finalizedAt!.getTime()).toBe(at.getTime());
    expect(done!.timings).toMatchObject({ total: 900 });
    expect(done!.result!.timings.totalMs).toBe(900);
    expect(await repo.complete(job.id, at, 1)).toBeUndefined();
  });

  it('completeWith: the last part folded into the completion; nothing while another part is pending', async () => {
    const coaching = { message: '헹궈서', source: 'rules' as const };
    const part = { part: 'coaching' as const, coaching, schedule: { days: 1 }, coachingMs: 12 };
    const at = new Date();
    // No location: the coaching is the last part.
    const plain = await jobIn({ status: 'processing', stage: 'coaching', result: result() });
    const done = await repo.completeWith(plain.id, part, at, 8100);
    expect(done).toMatchObject({
      status: 'completed',
      stage: null,
      progress: 100,
      version: plain.version + 1,
      timings: { coaching: 12, total: 8100 },
    });
    expect(done!.result).toMatchObject({
      coaching,
      schedule: { days: 1 },
      timings: { coachingMs: 12, totalMs: 8100 },
    });
    expect(done!.finalizedAt!.getTime()).toBe(at.getTime());
    expect(await repo.completeWith(plain.id, part, at, 1)).toBeUndefined(); // not twice
    // A location whose nearby points are still coming: not the last part, the row untouched.
    const located = await jobIn({
      status: 'processing',
      stage: 'coaching',
      lat: 37.5,
      lng: 127,
      result: result(),
    });
    expect(await repo.completeWith(located.id, part, at, 1)).toBeUndefined();
    expect((await repo.get(located.id))!).toMatchObject({ version: located.version });
    // Once they are in, it is.
    await repo.saveNearby(located.id, { nearby: [], nearbyMs: 3 });
    expect(await repo.completeWith(located.id, part, at, 2)).toMatchObject({
      status: 'completed',
    });
    // The nearby part is the last one only once the coaching is in; a part already in is not
    // folded again.
    const coached = await jobIn({
      status: 'processing',
      stage: 'coaching',
      lat: 37.5,
      lng: 127,
      result: result(),
    });
    const nearby = { part: 'nearby' as const, nearby: [{ name: 'p' }], nearbyMs: 4 };
    expect(await repo.completeWith(coached.id, nearby, at, 1)).toBeUndefined();
    await repo.saveCoaching(coached.id, part);
    const viaNearby = await repo.completeWith(coached.id, nearby, at, 3);
    expect(viaNearby).toMatchObject({ status: 'completed', timings: { nearby: 4, total: 3 } });
    expect(viaNearby!.result!.nearby).toEqual([{ name: 'p' }]);
    expect(await repo.completeWith(coached.id, part, at, 1)).toBeUndefined();
  });

  it('fail: any unfinished status, within its guard; never an ended job', async () => {
    const at = new Date();
    for (const status of ['awaiting_upload', 'queued', 'processing']) {
      const job = await jobIn({ status });
      const failed = await repo.fail(job.id, { code: 'X', message: 'm'.repeat(600) }, at);
      expect(failed).toMatchObject({ status: 'failed', stage: null, errorCode: 'X' });
      expect(failed!.errorMessage).toHaveLength(500);
    }
    for (const status of ['completed', 'failed', 'expired']) {
      const job = await jobIn({ status });
      expect(await repo.fail(job.id, { code: 'X', message: 'm' }, at)).toBeUndefined();
    }
    const coaching = await jobIn({ status: 'processing', stage: 'coaching', result: result() });
    expect(
      await repo.fail(coaching.id, { code: 'X', message: 'm' }, at, { stages: ['classifying'] }),
    ).toBeUndefined();
    expect(
      await repo.fail(coaching.id, { code: 'X', message: 'm' }, at, {
        unchangedSince: new Date(Date.now() - 60_000),
      }),
    ).toBeUndefined();
    expect(
      await repo.fail(coaching.id, { code: 'X', message: 'm' }, at, { pending: ['coaching'] }),
    ).toMatchObject({ status: 'failed' });
    const queued = await jobIn({ status: 'queued', stage: null });
    expect(
      await repo.fail(queued.id, { code: 'X', message: 'm' }, at, {
        from: ['queued', 'processing'],
        stages: [null, 'downloading'],
      }),
    ).toMatchObject({ status: 'failed' });
  });

  it('correct: completed jobs only', async () => {
    const r = result({ coaching: { message: 'new', source: 'rules' } });
    const done = await jobIn({ status: 'completed', result: result() });
    expect(await repo.correct(done.id, r, { items: [] })).toMatchObject({
      status: 'completed',
      result: r,
      correction: { items: [] },
    });
    const processing = await jobIn({ status: 'processing' });
    expect(await repo.correct(processing.id, r, {})).toBeUndefined();
  });

  /**
   * The job table's hot statements are named prepared statements (src/core/database/prepared.ts):
   * parsed and planned once per connection (the pool has one: pg_prepared_statements shows what
   * it prepared). They name their columns, so a migration that adds a column while processes run
   * (a rolling deploy) does not break the statements they prepared.
   */
  describe('prepared statements', () => {
    it('prepares insert, read and state changes once per connection, and reuses them', async () => {
      const a = await jobIn({});
      await repo.markQueued(a.id, new Date());
      await repo.get(a.id);
      const statements = async () =>
        (await ds.query(
          `SELECT name, statement FROM pg_prepared_statements WHERE name LIKE 'wc\\_%' ORDER BY name`,
        )) as { name: string; statement: string }[];
      const first = await statements();
      expect(first.map((s) => s.statement.split(' ')[0])).toEqual(
        expect.arrayContaining(['INSERT', 'UPDATE', 'SELECT']),
      );
      expect(first.every((s) => !/RETURNING \*|SELECT \*/.test(s.statement))).toBe(true);
      // A second job through the same statements prepares nothing new.
      const b = await jobIn({});
      await repo.markQueued(b.id, new Date());
      expect((await repo.get(b.id))?.status).toBe('queued');
      expect(await statements()).toEqual(first);
    });

    it('keeps working when a migration adds a column after the statements were prepared', async () => {
      const a = await jobIn({});
      await repo.get(a.id);
      await ds.query(`ALTER TABLE waste.jobs ADD COLUMN later_column text`);
      try {
        const b = await jobIn({});
        expect((await repo.markQueued(b.id, new Date()))?.status).toBe('queued');
        expect((await repo.get(a.id))?.id).toBe(a.id);
      } finally {
        await ds.query(`ALTER TABLE waste.jobs DROP COLUMN later_column`);
      }
    });
  });
});
