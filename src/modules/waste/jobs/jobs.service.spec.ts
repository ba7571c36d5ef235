import { EntityManager } from 'typeorm';
import { AppConfig } from '../../../core/config/app-config';
import { ProblemException } from '../../../core/http/problem';
import { Metrics } from '../../../core/observability/metrics';
import { RedisService } from '../../../core/redis/redis.service';
import { StorageDriver } from '../../../core/storage/storage.driver';
import { JobEventsEmitter } from './job-events';
import { JobEntity } from './job.entity';
import { JobsRepository } from './jobs.repository';
import { JobsService, toView } from './jobs.service';

/**
 * JobsService with its repository, Redis, event emitter, storage and metrics replaced: the state
 * machine's bookkeeping around each guarded UPDATE (snapshot, event, counter, deleting a failed
 * job's original). The UPDATEs themselves run against PostgreSQL in test/waste.
 */

const JOB_ID = '11111111-1111-4111-8111-111111111111';
const USER_ID = '22222222-2222-4222-8222-222222222222';

function job(over: Partial<JobEntity> = {}): JobEntity {
  return Object.assign(new JobEntity(), {
    id: JOB_ID,
    userId: USER_ID,
    status: 'processing',
    stage: 'hashing',
    progress: 20,
    version: 3,
    storageKey: `uploads/${USER_ID}/${JOB_ID}/original`,
    result: null,
    errorCode: null,
    errorMessage: null,
    createdAt: new Date('2026-12-01T00:00:00Z'),
    updatedAt: new Date('2026-12-01T00:00:05Z'),
    ...over,
  });
}

type RepoDouble = { [K in keyof JobsRepository]: jest.Mock };

function setup(opts: { recheckMs?: number } = {}) {
  const repo = {
    get: jest.fn(),
    insert: jest.fn(),
    transaction: jest.fn(),
    expireUpload: jest.fn(),
    markQueued: jest.fn(),
    unqueue: jest.fn(),
    startStage: jest.fn(),
    markClassifying: jest.fn(),
    recordCachedGuidance: jest.fn(),
    recordVisionGuidance: jest.fn(),
    saveCoaching: jest.fn(),
    saveNearby: jest.fn(),
    complete: jest.fn(),
    completeWith: jest.fn(),
    fail: jest.fn(),
    correct: jest.fn(),
  } as unknown as RepoDouble;
  const snapshots = new Map<string, string>();
  const onHandlers: Record<string, () => void> = {};
  const client = {
    get: jest.fn((k: string) => Promise.resolve(snapshots.get(k) ?? null)),
    getBuffer: jest.fn((k: string) => {
      const v = snapshots.get(k);
      return Promise.resolve(v === undefined ? null : Buffer.from(v));
    }),
    defineCommand: jest.fn(),
    // The SET_IF_NEWER script (defined as a command), as Redis would run it.
    wasteSnapshotSetIfNewer: jest.fn((k: string, v: string, version: number) => {
      const cur = snapshots.get(k);
      if (cur && (JSON.parse(cur) as { version: number }).version >= version) {
        return Promise.resolve(0);
      }
      snapshots.set(k, v);
      return Promise.resolve(1);
    }),
    del: jest.fn((k: string) => Promise.resolve(Number(snapshots.delete(k)))),
    on: jest.fn((event: string, fn: () => void) => (onHandlers[event] = fn)),
  };
  const redis = {
    client,
    key: (...parts: string[]) => ['t', ...parts].join(':'),
  } as unknown as RedisService;
  const events = { emit: jest.fn(() => Promise.resolve()) };
  const storage = { delete: jest.fn(() => Promise.resolve()) };
  const inc = jest.fn();
  const labels = jest.fn(() => ({ inc }));
  const metrics = { counter: () => ({ labels }) } as unknown as Metrics;
  const config = { JOB_SNAPSHOT_RECHECK_MS: opts.recheckMs ?? 5_000 } as AppConfig;
  const service = new JobsService(
    repo as unknown as JobsRepository,
    redis,
    events as unknown as JobEventsEmitter,
    storage as unknown as StorageDriver,
    config,
    metrics,
  );
  const snapshot = (id = JOB_ID) => {
    const raw = snapshots.get(`t:waste:job:${id}`);
    return raw ? (JSON.parse(raw) as { userId: string; version: number; job: unknown }) : undefined;
  };
  return { service, repo, client, snapshots, snapshot, onHandlers, events, storage, labels, inc };
}

describe('JobsService (state machine around the repository)', () => {
  it('a state change that took publishes the new snapshot and event, once', async () => {
    const t = setup();
    const queued = job({ status: 'queued', stage: null, progress: 5, version: 2 });
    t.repo.markQueued.mockResolvedValue(queued);
    await expect(t.service.markQueued(JOB_ID)).resolves.toBe(queued);
    expect(t.repo.markQueued).toHaveBeenCalledWith(JOB_ID, expect.any(Date));
    expect(t.snapshot()).toEqual({ userId: USER_ID, version: 2, job: toView(queued) });
    expect(t.events.emit).toHaveBeenCalledTimes(1);
    expect(t.events.emit).toHaveBeenCalledWith({
      userId: USER_ID,
      version: 2,
      job: toView(queued),
    });
    expect(t.storage.delete).not.toHaveBeenCalled();
    expect(t.inc).not.toHaveBeenCalled(); // not an end
  });

  it('a state change whose guard did not hold publishes nothing and answers undefined', async () => {
    const t = setup();
    t.repo.startStage.mockResolvedValue(undefined);
    await expect(t.service.startStage(JOB_ID, 'hashing', { download: 4 })).resolves.toBe(undefined);
    expect(t.repo.startStage).toHaveBeenCalledWith(JOB_ID, 'hashing', { download: 4 });
    expect(t.client.wasteSnapshotSetIfNewer).not.toHaveBeenCalled();
    expect(t.events.emit).not.toHaveBeenCalled();
  });

  it('typed changes pass their arguments through unchanged', async () => {
    const t = setup();
    const fp = { imageSha256: 'a'.repeat(64), imagePhash: 'b'.repeat(32) };
    const result = { items: [] } as unknown as JobEntity['result'] & object;
    for (const m of [
      'markClassifying',
      'recordCachedGuidance',
      'recordVisionGuidance',
      'saveCoaching',
      'saveNearby',
      'correct',
    ] as const) {
      t.repo[m].mockResolvedValue(undefined);
    }
    await t.service.markClassifying(JOB_ID, fp, { preprocess: 7 });
    await t.service.recordCachedGuidance(JOB_ID, result, fp, { cache: 1 });
    await t.service.recordVisionGuidance(JOB_ID, result, { vision: 9 });
    const coaching = { coaching: { message: 'm', source: 'rules' as const }, schedule: null };
    await t.service.saveCoaching(JOB_ID, { ...coaching, coachingMs: 3 });
    await t.service.saveNearby(JOB_ID, { nearby: [], nearbyMs: 2 });
    await t.service.correct(JOB_ID, result, { items: [] });
    expect(t.repo.markClassifying).toHaveBeenCalledWith(JOB_ID, fp, { preprocess: 7 });
    expect(t.repo.recordCachedGuidance).toHaveBeenCalledWith(JOB_ID, result, fp, { cache: 1 });
    expect(t.repo.recordVisionGuidance).toHaveBeenCalledWith(JOB_ID, result, { vision: 9 });
    expect(t.repo.saveCoaching).toHaveBeenCalledWith(JOB_ID, { ...coaching, coachingMs: 3 });
    expect(t.repo.saveNearby).toHaveBeenCalledWith(JOB_ID, { nearby: [], nearbyMs: 2 });
    expect(t.repo.correct).toHaveBeenCalledWith(JOB_ID, result, { items: [] });
  });

  it('fail: deletes the original before the client can see the end, counts it, passes the guard', async () => {
    const t = setup();
    const failed = job({ status: 'failed', stage: null, errorCode: 'TIMEOUT', version: 4 });
    t.repo.fail.mockResolvedValue(failed);
    const order: string[] = [];
    t.storage.delete.mockImplementation(() => (order.push('delete'), Promise.resolve()));
    t.events.emit.mockImplementation(() => (order.push('event'), Promise.resolve()));
    const guard = { stages: ['classifying' as const], unchangedSince: new Date() };
    await t.service.fail(JOB_ID, 'TIMEOUT', 'no progress', guard);
    expect(t.repo.fail).toHaveBeenCalledWith(
      JOB_ID,
      { code: 'TIMEOUT', message: 'no progress' },
      expect.any(Date),
      guard,
    );
    expect(t.storage.delete).toHaveBeenCalledWith([failed.storageKey]);
    expect(order).toEqual(['delete', 'event']);
    expect(t.labels).toHaveBeenCalledWith('failed', 'TIMEOUT');
    expect(t.inc).toHaveBeenCalledTimes(1);
    expect(t.snapshot()?.job).toMatchObject({ status: 'failed', error: { code: 'TIMEOUT' } });
  });

  it('fail: a hung store delays the end by at most 3 s', async () => {
    jest.useFakeTimers();
    try {
      const t = setup();
      t.repo.fail.mockResolvedValue(job({ status: 'failed', errorCode: 'X', version: 4 }));
      t.storage.delete.mockReturnValue(new Promise<void>(() => undefined));
      let done = false;
      const ending = t.service.fail(JOB_ID, 'X', 'x').then(() => (done = true));
      await jest.advanceTimersByTimeAsync(2_900);
      expect(done).toBe(false);
      await jest.advanceTimersByTimeAsync(200);
      await ending;
      expect(t.events.emit).toHaveBeenCalledTimes(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('expireUpload ends the job as expired: original deleted, counted, published', async () => {
    const t = setup();
    t.repo.expireUpload.mockResolvedValue(job({ status: 'expired', stage: null, version: 2 }));
    await t.service.expireUpload(JOB_ID);
    expect(t.repo.expireUpload).toHaveBeenCalledWith(JOB_ID, expect.any(Date));
    expect(t.storage.delete).toHaveBeenCalledTimes(1);
    expect(t.labels).toHaveBeenCalledWith('expired', '');
    expect(t.snapshot()?.job).toMatchObject({ status: 'expired' });
  });

  describe('complete', () => {
    const m = { query: jest.fn() } as unknown as EntityManager;

    it('runs the UPDATE and the caller’s writes in one transaction, then announces', async () => {
      const t = setup();
      const done = job({ status: 'completed', stage: null, progress: 100, version: 9 });
      const order: string[] = [];
      t.repo.transaction.mockImplementation(async (fn: (m: EntityManager) => unknown) => {
        order.push('begin');
        const r = await fn(m);
        order.push('commit');
        return r;
      });
      t.repo.complete.mockImplementation(() => (order.push('update'), Promise.resolve(done)));
      t.events.emit.mockImplementation(() => (order.push('event'), Promise.resolve()));
      const alongside = jest.fn((_j: JobEntity, _m: EntityManager) => {
        order.push('alongside');
        return Promise.resolve();
      });
      await expect(t.service.complete(JOB_ID, 1234, alongside)).resolves.toBe(done);
      expect(t.repo.complete).toHaveBeenCalledWith(JOB_ID, expect.any(Date), 1234, m);
      expect(alongside).toHaveBeenCalledWith(done, m);
      expect(order).toEqual(['begin', 'update', 'alongside', 'commit', 'event']);
      expect(t.labels).toHaveBeenCalledWith('completed', '');
      expect(t.storage.delete).not.toHaveBeenCalled(); // its original went with the clean copy
    });

    it('with the last part: the part folded into the same guarded UPDATE, in the same transaction', async () => {
      const t = setup();
      const done = job({ status: 'completed', stage: null, progress: 100, version: 7 });
      t.repo.transaction.mockImplementation((fn: (m: EntityManager) => unknown) => fn(m));
      t.repo.completeWith.mockResolvedValue(done);
      const part = {
        part: 'coaching' as const,
        coaching: { message: 'x', source: 'rules' as const },
        schedule: null,
        coachingMs: 3,
      };
      const alongside = jest.fn(() => Promise.resolve());
      await expect(t.service.complete(JOB_ID, 80, alongside, part)).resolves.toBe(done);
      expect(t.repo.completeWith).toHaveBeenCalledWith(JOB_ID, part, expect.any(Date), 80, m);
      expect(t.repo.complete).not.toHaveBeenCalled();
      expect(alongside).toHaveBeenCalledWith(done, m);
      expect(t.snapshot()?.job).toMatchObject({ status: 'completed' });
    });

    it('writes nothing else and announces nothing when the job was no longer processing', async () => {
      const t = setup();
      t.repo.transaction.mockImplementation((fn: (m: EntityManager) => unknown) => fn(m));
      t.repo.complete.mockResolvedValue(undefined);
      const alongside = jest.fn();
      await expect(t.service.complete(JOB_ID, null, alongside)).resolves.toBeUndefined();
      expect(alongside).not.toHaveBeenCalled();
      expect(t.events.emit).not.toHaveBeenCalled();
    });

    it('announces nothing when a write alongside fails (the transaction rolls back)', async () => {
      const t = setup();
      t.repo.transaction.mockImplementation((fn: (m: EntityManager) => unknown) => fn(m));
      t.repo.complete.mockResolvedValue(job({ status: 'completed' }));
      const boom = new Error('history insert failed');
      await expect(t.service.complete(JOB_ID, 5, () => Promise.reject(boom))).rejects.toBe(boom);
      expect(t.events.emit).not.toHaveBeenCalled();
      expect(t.client.wasteSnapshotSetIfNewer).not.toHaveBeenCalled();
    });
  });

  describe('snapshots', () => {
    it('an older version never replaces a newer snapshot (stages finishing out of order)', async () => {
      const t = setup();
      await t.service.publish(job({ version: 5, stage: 'coaching' }));
      await t.service.publish(job({ version: 4, stage: 'classifying' }));
      expect(t.snapshot()).toMatchObject({ version: 5, job: { stage: 'coaching' } });
      expect(t.events.emit).toHaveBeenCalledTimes(2); // events carry their version; SSE orders
    });

    it('a snapshot write that failed is re-published when Redis is ready again', async () => {
      const t = setup();
      t.client.wasteSnapshotSetIfNewer.mockRejectedValueOnce(new Error('Connection is closed.'));
      const failed = job({ status: 'failed', errorCode: 'X', version: 6 });
      t.repo.fail.mockResolvedValue(failed);
      await t.service.fail(JOB_ID, 'X', 'x');
      expect(t.snapshot()).toBeUndefined();
      expect(t.events.emit).toHaveBeenCalledTimes(1); // the event still went out
      t.repo.get.mockResolvedValue(failed);
      t.onHandlers.ready();
      await new Promise((r) => setImmediate(r));
      expect(t.repo.get).toHaveBeenCalledWith(JOB_ID);
      expect(t.snapshot()).toMatchObject({ version: 6, job: { status: 'failed' } });
    });
  });

  describe('readView (status polling)', () => {
    // readView answers the Job's JSON as the route sends it (the snapshot's bytes, unparsed).
    const read = async (t: ReturnType<typeof setup>, userId = USER_ID) =>
      JSON.parse((await t.service.readView(JOB_ID, userId)).toString()) as Record<string, unknown>;
    const asSent = (j: JobEntity) => JSON.parse(JSON.stringify(toView(j))) as unknown;

    it('answers a fresh snapshot without PostgreSQL', async () => {
      const t = setup();
      const j = job({ updatedAt: new Date() });
      await t.service.publish(j);
      await expect(read(t)).resolves.toEqual(asSent(j));
      expect(t.repo.get).not.toHaveBeenCalled();
    });

    it("someone else's job is a 404, from the snapshot or from PostgreSQL", async () => {
      const t = setup();
      await t.service.publish(job({ updatedAt: new Date() }));
      const other = '33333333-3333-4333-8333-333333333333';
      await expect(t.service.readView(JOB_ID, other)).rejects.toMatchObject({ status: 404 });
      t.snapshots.clear();
      t.repo.get.mockResolvedValue(job());
      await expect(t.service.readView(JOB_ID, other)).rejects.toBeInstanceOf(ProblemException);
    });

    it('checks a stale unfinished snapshot against PostgreSQL and re-publishes a newer row', async () => {
      const t = setup({ recheckMs: 1_000 });
      const old = new Date(Date.now() - 60_000);
      await t.service.publish(job({ version: 3, updatedAt: old }));
      const ended = job({ version: 5, status: 'failed', errorCode: 'TIMEOUT', updatedAt: old });
      t.repo.get.mockResolvedValue(ended);
      await expect(read(t)).resolves.toMatchObject({
        status: 'failed',
      });
      expect(t.snapshot()).toMatchObject({ version: 5 });
      // The snapshot is terminal now: no second read.
      await t.service.readView(JOB_ID, USER_ID);
      expect(t.repo.get).toHaveBeenCalledTimes(1);
    });

    it('rechecks a job that really waits (same version) at most once per interval', async () => {
      const t = setup({ recheckMs: 1_000 });
      const waiting = job({
        version: 3,
        status: 'queued',
        updatedAt: new Date(Date.now() - 60_000),
      });
      await t.service.publish(waiting);
      t.repo.get.mockResolvedValue(waiting);
      for (let i = 0; i < 5; i++) {
        await expect(read(t)).resolves.toMatchObject({
          status: 'queued',
        });
      }
      expect(t.repo.get).toHaveBeenCalledTimes(1);
      expect(t.client.wasteSnapshotSetIfNewer).toHaveBeenCalledTimes(1); // not re-published: not newer
    });

    it('keeps answering the stale snapshot while PostgreSQL is down', async () => {
      const t = setup({ recheckMs: 1_000 });
      const j = job({ version: 3, updatedAt: new Date(Date.now() - 60_000) });
      await t.service.publish(j);
      t.repo.get.mockRejectedValue(new Error('connect ECONNREFUSED'));
      await expect(read(t)).resolves.toEqual(asSent(j));
    });

    it('reads PostgreSQL when Redis is unavailable', async () => {
      const t = setup();
      t.client.get.mockRejectedValue(new Error('Connection is closed.'));
      const j = job();
      t.repo.get.mockResolvedValue(j);
      await expect(read(t)).resolves.toEqual(asSent(j));
    });
  });
});
