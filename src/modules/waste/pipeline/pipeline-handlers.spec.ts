import { Logger } from '@nestjs/common';
import sharp from 'sharp';
import { EntityManager } from 'typeorm';
import { AppConfig } from '../../../core/config/app-config';
import { TaskContext } from '../../../core/messaging/task-handler.decorator';
import { TaskPublisher } from '../../../core/messaging/task-publisher';
import { PermanentTaskError, RetryableTaskError } from '../../../core/messaging/task.errors';
import { RoutingKey } from '../../../core/messaging/topology';
import { ObjectTooLargeError, StorageDriver } from '../../../core/storage/storage.driver';
import { LocationsService } from '../../locations';
import { CoachingService, ScheduleService } from '../../recycling';
import { HistoryService } from '../../users';
import { JobEntity } from '../jobs/job.entity';
import { ClassifiedItem, emptyJobResult, JobResult, ResultItem } from '../jobs/job.types';
import { JobsService } from '../jobs/jobs.service';
import { VisionProvider } from '../vision/vision.driver';
import { ExternalPipelineHandlers } from './external.handler';
import { FastPipelineHandlers } from './fast.handler';
import { ImageCacheService } from './image-cache.service';
import { PipelineRelay } from './pipeline-relay';
import { ResultBuilder } from './result-builder';
import { cleanKey, visionKey } from './storage-keys';

/**
 * The fast and external handlers with every dependency replaced (JobsService, storage, the image
 * cache, the vision driver, coaching, locations, the publisher): our logic only — which state
 * change each outcome makes, and which failures end the job (the user's: INVALID_IMAGE,
 * UPLOAD_MISSING, …) versus go back to the dispatcher (retried, or dead-lettered). The same
 * paths run end to end against the real services in test/waste.
 */

const JOB_ID = '11111111-1111-4111-8111-111111111111';
const USER_ID = '22222222-2222-4222-8222-222222222222';
const ORIGINAL = `uploads/${USER_ID}/${JOB_ID}/original`;
const ctx: TaskContext = {
  routingKey: RoutingKey.WasteDownload,
  messageId: 'm1',
  attempt: 1,
  redelivered: false,
  requestId: 'r1',
  headers: {},
};

beforeAll(() => Logger.overrideLogger(false));
afterAll(() => Logger.overrideLogger(['error', 'warn', 'log']));

function job(over: Partial<JobEntity> = {}): JobEntity {
  return Object.assign(new JobEntity(), {
    id: JOB_ID,
    userId: USER_ID,
    status: 'queued',
    stage: null,
    progress: 5,
    version: 2,
    storageKey: ORIGINAL,
    locale: 'ko',
    hint: null,
    lat: null,
    lng: null,
    result: null,
    imageSha256: null,
    imagePhash: null,
    queuedAt: new Date(Date.now() - 50),
    createdAt: new Date(),
    updatedAt: new Date(),
    ...over,
  });
}

const item: ResultItem = {
  label: 'bottle',
  confidence: 0.9,
  box: null,
  category: { id: 'pet', name: '페트병', bin: '투명 페트병' },
  steps: [],
  cautions: [],
  dropOff: ['recycling'] as ResultItem['dropOff'],
};
const classified: ClassifiedItem = {
  label: 'bottle',
  confidence: 0.9,
  box: null,
  categoryId: 'pet',
};

const emptyResult = emptyJobResult;

function jobsDouble() {
  const stub = () => jest.fn((id: string) => Promise.resolve(job({ id, status: 'processing' })));
  return {
    get: jest.fn(),
    startDownload: jest.fn((id: string) =>
      Promise.resolve(job({ id, status: 'processing', stage: 'downloading' })),
    ),
    startStage: jest.fn((id: string, stage: string, _timings?: object) =>
      Promise.resolve(job({ id, status: 'processing', stage: stage as JobEntity['stage'] })),
    ),
    markClassifying: stub(),
    recordCachedGuidance: stub(),
    recordVisionGuidance: jest.fn((id: string, result: JobResult) =>
      Promise.resolve(job({ id, status: 'processing', stage: 'coaching', result })),
    ),
    saveCoaching: jest.fn(),
    saveNearby: jest.fn(),
    complete: jest.fn(),
    fail: jest.fn(() => Promise.resolve(undefined)),
    emptyResult: jest.fn(emptyResult),
  };
}

function storageDouble(objects: Record<string, Buffer> = {}) {
  return {
    name: 'local' as const,
    get: jest.fn((key: string) => Promise.resolve(objects[key])),
    put: jest.fn(() => Promise.resolve()),
    delete: jest.fn(() => Promise.resolve()),
  };
}

const config = { MAX_UPLOAD_BYTES: 10 * 1024 * 1024, MAX_IMAGE_PIXELS: 40_000_000 } as AppConfig;

let photo: Buffer;
beforeAll(async () => {
  photo = await sharp({
    create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 40, b: 40 } },
  })
    .jpeg()
    .toBuffer();
});

describe('FastPipelineHandlers (download, validate, cache, save) with dependencies replaced', () => {
  function setup(objects: Record<string, Buffer> = {}) {
    const jobs = jobsDouble();
    const storage = storageDouble(objects);
    const cache = { lookup: jest.fn(), store: jest.fn(() => Promise.resolve()) };
    const results = {
      items: jest.fn(() => [item]),
      classified: jest.fn(() => [classified]),
    };
    const publisher = { publish: jest.fn(() => Promise.resolve()) };
    const relay = { afterGuidance: jest.fn(), resume: jest.fn() };
    const history = { recordAnalysis: jest.fn(() => Promise.resolve()) };
    const handlers = new FastPipelineHandlers(
      jobs as unknown as JobsService,
      cache as unknown as ImageCacheService,
      results as unknown as ResultBuilder,
      publisher as unknown as TaskPublisher,
      relay as unknown as PipelineRelay,
      history as unknown as HistoryService,
      storage as unknown as StorageDriver,
      config,
    );
    return { handlers, jobs, storage, cache, results, publisher, relay, history };
  }

  it('a cache miss: clean copy stored, original deleted, stages in order, vision asked', async () => {
    const t = setup({ [ORIGINAL]: photo });
    t.jobs.get.mockResolvedValue(job());
    t.cache.lookup.mockResolvedValue(undefined);
    await t.handlers.download({ jobId: JOB_ID }, ctx);
    // The guarded UPDATE is the check (no read first), then the progress writes.
    expect(t.jobs.startDownload).toHaveBeenCalledWith(JOB_ID);
    expect(t.jobs.get).not.toHaveBeenCalled();
    expect(t.jobs.startStage.mock.calls.map((c) => c[1])).toEqual(['hashing', 'preprocessing']);
    expect(t.jobs.startStage.mock.calls[1][2]).toEqual({
      queue: expect.any(Number),
      download: expect.any(Number),
      validate: expect.any(Number),
      hash: expect.any(Number),
      cache: expect.any(Number),
    });
    expect(t.storage.put).toHaveBeenCalledWith(
      cleanKey(USER_ID, JOB_ID),
      expect.any(Buffer),
      'image/jpeg',
    );
    expect(t.storage.delete).toHaveBeenCalledWith([ORIGINAL]);
    expect(t.storage.put).toHaveBeenCalledWith(
      visionKey(USER_ID, JOB_ID),
      expect.any(Buffer),
      'image/jpeg',
    );
    const [, fp] = t.jobs.markClassifying.mock.calls[0] as unknown as [string, object];
    expect(fp).toEqual({
      imageSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      imagePhash: expect.any(String),
    });
    expect(t.publisher.publish).toHaveBeenCalledWith(
      RoutingKey.Vision,
      { jobId: JOB_ID },
      { requestId: 'r1' },
    );
    expect(t.jobs.recordCachedGuidance).not.toHaveBeenCalled();
    expect(t.jobs.fail).not.toHaveBeenCalled();
  });

  it('a cache hit: the cached answer becomes the guidance, coaching is asked, vision is not', async () => {
    const t = setup({ [ORIGINAL]: photo });
    t.jobs.get.mockResolvedValue(job());
    t.cache.lookup.mockResolvedValue({
      kind: 'similar',
      value: { items: [classified], model: 'm', visionMs: 10, source: 'consensus' },
    });
    await t.handlers.download({ jobId: JOB_ID }, ctx);
    // The clean copy replaced the original before the job moved on.
    expect(t.storage.put).toHaveBeenCalledWith(
      cleanKey(USER_ID, JOB_ID),
      expect.any(Buffer),
      'image/jpeg',
    );
    expect(t.storage.delete).toHaveBeenCalledWith([ORIGINAL]);
    expect(t.storage.delete.mock.invocationCallOrder[0]).toBeLessThan(
      t.jobs.recordCachedGuidance.mock.invocationCallOrder[0],
    );
    const [, result] = t.jobs.recordCachedGuidance.mock.calls[0] as unknown as [string, JobResult];
    expect(result.items).toEqual([item]);
    expect(result.cache).toEqual({ hit: true, kind: 'similar', source: 'consensus' });
    expect(t.relay.afterGuidance).toHaveBeenCalledWith(
      expect.objectContaining({ id: JOB_ID, result }),
      'r1',
    );
    expect(t.publisher.publish).not.toHaveBeenCalled();
    expect(t.jobs.markClassifying).not.toHaveBeenCalled();
  });

  it.each([
    ['no upload in storage', {}, 'UPLOAD_MISSING'],
    [
      'bytes that are not an image',
      { [ORIGINAL]: Buffer.from('not a photo at all') },
      'INVALID_IMAGE',
    ],
  ])('%s: the job fails with the user’s code, nothing is retried', async (_, objects, code) => {
    const t = setup(objects);
    t.jobs.get.mockResolvedValue(job());
    await expect(t.handlers.download({ jobId: JOB_ID }, ctx)).resolves.toBeUndefined();
    expect(t.jobs.fail).toHaveBeenCalledWith(JOB_ID, code, expect.any(String));
    expect(t.publisher.publish).not.toHaveBeenCalled();
  });

  it('an upload over the limit fails the job with IMAGE_TOO_LARGE', async () => {
    const t = setup();
    t.jobs.get.mockResolvedValue(job());
    t.storage.get.mockRejectedValue(new ObjectTooLargeError(99_000_000));
    await t.handlers.download({ jobId: JOB_ID }, ctx);
    expect(t.jobs.fail).toHaveBeenCalledWith(
      JOB_ID,
      'IMAGE_TOO_LARGE',
      expect.stringMatching(/99000000/),
    );
  });

  it('storage trouble goes back to the dispatcher (retried), the job is not failed', async () => {
    const t = setup();
    t.jobs.get.mockResolvedValue(job());
    const down = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    t.storage.get.mockRejectedValue(down);
    await expect(t.handlers.download({ jobId: JOB_ID }, ctx)).rejects.toBe(down);
    expect(t.jobs.fail).not.toHaveBeenCalled();
  });

  it('the clean copy failing to store sends the message back (retried) once nothing is writing, the job moves on no further', async () => {
    const t = setup({ [ORIGINAL]: photo });
    t.cache.lookup.mockResolvedValue(undefined);
    const down = Object.assign(new Error('write EIO'), { code: 'EIO' });
    t.storage.put.mockImplementation(((key: string) =>
      key === cleanKey(USER_ID, JOB_ID)
        ? new Promise((_, reject) => setTimeout(() => reject(down), 20))
        : Promise.resolve()) as never);
    await expect(t.handlers.download({ jobId: JOB_ID }, ctx)).rejects.toBe(down);
    expect(t.storage.delete).not.toHaveBeenCalled(); // the original stays for the retry
    expect(t.jobs.markClassifying).not.toHaveBeenCalled();
    expect(t.publisher.publish).not.toHaveBeenCalled();
    expect(t.jobs.fail).not.toHaveBeenCalled();
  });

  it('a failure beside the clean copy waits for it before the message goes back', async () => {
    const t = setup({ [ORIGINAL]: photo });
    const down = new Error('redis down');
    t.cache.lookup.mockRejectedValue(down);
    let cleanDone = false;
    t.storage.put.mockImplementation(((key: string) =>
      key === cleanKey(USER_ID, JOB_ID)
        ? new Promise<void>((resolve) =>
            setTimeout(() => {
              cleanDone = true;
              resolve();
            }, 30),
          )
        : Promise.resolve()) as never);
    await expect(t.handlers.download({ jobId: JOB_ID }, ctx)).rejects.toBe(down);
    expect(cleanDone).toBe(true);
  });

  it('a redelivery for a job past download re-sends what it waits for instead of redoing it', async () => {
    const t = setup({ [ORIGINAL]: photo });
    const past = job({ status: 'processing', stage: 'classifying' });
    t.jobs.startDownload.mockResolvedValue(undefined as never);
    t.jobs.get.mockResolvedValue(past);
    await t.handlers.download({ jobId: JOB_ID }, { ...ctx, redelivered: true });
    expect(t.relay.resume).toHaveBeenCalledWith(past, 'r1');
    expect(t.jobs.startStage).not.toHaveBeenCalled();
    expect(t.storage.get).not.toHaveBeenCalled();
    // A first delivery for such a job is a stray duplicate: nothing at all.
    t.relay.resume.mockClear();
    await t.handlers.download({ jobId: JOB_ID }, ctx);
    expect(t.relay.resume).not.toHaveBeenCalled();
  });

  it('a job another process moved on (the guard did not hold) is left alone', async () => {
    const t = setup({ [ORIGINAL]: photo });
    t.jobs.startDownload.mockResolvedValueOnce(undefined as never);
    await t.handlers.download({ jobId: JOB_ID }, ctx);
    expect(t.storage.get).not.toHaveBeenCalled();
    expect(t.jobs.get).not.toHaveBeenCalled(); // a first delivery: nothing to resume
  });

  describe('save', () => {
    const withGuidance = (over: Partial<JobResult> = {}, lat: number | null = null) =>
      job({
        status: 'processing',
        stage: 'coaching',
        lat,
        lng: lat === null ? null : 127,
        imageSha256: 'a'.repeat(64),
        imagePhash: 'b'.repeat(16),
        result: { ...emptyResult(), items: [item], ...over },
      });
    const coachingTask = {
      jobId: JOB_ID,
      part: 'coaching' as const,
      coaching: { message: '헹궈서 버리세요', source: 'rules' as const },
      coachingMs: 12,
      schedule: null,
    };

    it('the last part completes the job with its history row and analytics event in one transaction, then teaches the cache', async () => {
      const t = setup();
      t.jobs.get.mockResolvedValue(withGuidance());
      const saved = withGuidance({ coaching: coachingTask.coaching });
      t.jobs.saveCoaching.mockResolvedValue(saved);
      const m = { query: jest.fn(() => Promise.resolve([])) };
      const completed = job({ ...saved, status: 'completed', stage: null, progress: 100 });
      t.jobs.complete.mockImplementation(
        async (
          _id: string,
          _ms: number,
          alongside: (j: JobEntity, m: EntityManager) => Promise<void>,
        ) => {
          await alongside(completed, m as unknown as EntityManager);
          return completed;
        },
      );
      await t.handlers.save(coachingTask);
      expect(t.jobs.saveCoaching).toHaveBeenCalledWith(JOB_ID, {
        part: 'coaching',
        coaching: coachingTask.coaching,
        schedule: null,
        coachingMs: 12,
      });
      expect(t.jobs.complete).toHaveBeenCalledWith(
        JOB_ID,
        expect.any(Number),
        expect.any(Function),
        undefined, // no part folded in: it was saved just before
      );
      expect(t.history.recordAnalysis).toHaveBeenCalledWith(
        expect.objectContaining({ jobId: JOB_ID, userId: USER_ID, status: 'completed' }),
        m,
      );
      // The analytics event is written through the same transaction.
      // (a named prepared statement: its text is what it logs as)
      expect(m.query).toHaveBeenCalledTimes(1);
      const [statement, params] = (m.query as jest.Mock).mock.calls[0] as [unknown, unknown];
      expect(String(statement)).toContain('analytics.job_events');
      expect(params).toEqual([[JOB_ID]]);
      expect(t.cache.store).toHaveBeenCalledWith('a'.repeat(64), 'b'.repeat(16), {
        items: [classified],
        model: 'pipeline',
        visionMs: null,
        source: 'vision',
      });
    });

    it('the last part, sent with when the job was queued, completes the job in the same UPDATE (no save, no read)', async () => {
      const t = setup();
      const done = job({
        ...withGuidance({ coaching: coachingTask.coaching }),
        status: 'completed',
        stage: null,
        progress: 100,
      });
      t.jobs.complete.mockResolvedValue(done);
      const queuedAt = new Date(Date.now() - 8000).toISOString();
      await t.handlers.save({ ...coachingTask, queuedAt });
      const [id, totalMs, alongside, lastPart] = t.jobs.complete.mock.calls[0] as unknown as [
        string,
        number,
        unknown,
        unknown,
      ];
      expect(id).toBe(JOB_ID);
      expect(totalMs).toBeGreaterThanOrEqual(8000);
      expect(alongside).toEqual(expect.any(Function));
      expect(lastPart).toEqual({
        part: 'coaching',
        coaching: coachingTask.coaching,
        schedule: null,
        coachingMs: 12,
      });
      expect(t.jobs.saveCoaching).not.toHaveBeenCalled();
      expect(t.jobs.get).not.toHaveBeenCalled();
      // The completed row teaches the cache (a miss).
      expect(t.cache.store).toHaveBeenCalledWith('a'.repeat(64), 'b'.repeat(16), expect.anything());
    });

    it('a part that is not the last (its nearby points are still coming) is saved on its own', async () => {
      const t = setup();
      t.jobs.complete.mockResolvedValue(undefined); // the guard: nearby is still pending
      t.jobs.saveCoaching.mockResolvedValue(
        withGuidance({ coaching: coachingTask.coaching }, 37.5),
      );
      await t.handlers.save({ ...coachingTask, queuedAt: new Date().toISOString() });
      expect(t.jobs.complete).toHaveBeenCalledTimes(1);
      expect(t.jobs.saveCoaching).toHaveBeenCalledTimes(1);
      expect(t.cache.store).not.toHaveBeenCalled();
    });

    it('waits for the nearby part when the photo came with a location', async () => {
      const t = setup();
      t.jobs.get.mockResolvedValue(withGuidance({}, 37.5));
      t.jobs.saveCoaching.mockResolvedValue(
        withGuidance({ coaching: coachingTask.coaching }, 37.5),
      );
      await t.handlers.save(coachingTask);
      expect(t.jobs.complete).not.toHaveBeenCalled();
      // Then nearby arrives, and the job completes.
      t.jobs.get.mockResolvedValue(withGuidance({ coaching: coachingTask.coaching }, 37.5));
      t.jobs.saveNearby.mockResolvedValue(
        withGuidance({ coaching: coachingTask.coaching, nearby: [] }, 37.5),
      );
      t.jobs.complete.mockResolvedValue(undefined);
      await t.handlers.save({ jobId: JOB_ID, part: 'nearby', nearby: [], nearbyMs: 4 });
      expect(t.jobs.saveNearby).toHaveBeenCalledWith(JOB_ID, {
        part: 'nearby',
        nearby: [],
        nearbyMs: 4,
      });
      expect(t.jobs.complete).toHaveBeenCalledTimes(1);
    });

    it('an exact cache hit does not teach the cache again; an ended job is not completed', async () => {
      const t = setup();
      const hit = { coaching: coachingTask.coaching, cache: { hit: true, kind: 'exact' as const } };
      t.jobs.get.mockResolvedValue(withGuidance(hit));
      t.jobs.saveCoaching.mockResolvedValue(undefined); // already stored: a redelivery
      t.jobs.complete.mockResolvedValue(job({ status: 'completed' }));
      await t.handlers.save(coachingTask);
      expect(t.jobs.complete).toHaveBeenCalledTimes(1);
      expect(t.cache.store).not.toHaveBeenCalled();
      // An ended job: only the guarded UPDATE is tried (it matches nothing), nothing completes.
      t.jobs.get.mockResolvedValue(job({ status: 'failed' }));
      await t.handlers.save(coachingTask);
      expect(t.jobs.saveCoaching).toHaveBeenCalledTimes(2);
      expect(t.jobs.complete).toHaveBeenCalledTimes(1);
      expect(t.cache.store).not.toHaveBeenCalled();
    });
  });

  it('a dead-lettered message fails its job with the error’s code (a bug is PROCESSING_FAILED) and never throws', async () => {
    const t = setup();
    await t.handlers.onTaskDeadLettered(
      RoutingKey.WasteDownload,
      { jobId: JOB_ID },
      new Error('bug'),
    );
    expect(t.jobs.fail).toHaveBeenCalledWith(JOB_ID, 'PROCESSING_FAILED', 'bug');
    t.jobs.fail.mockRejectedValueOnce(new Error('connect ECONNREFUSED') as never);
    await expect(
      t.handlers.onTaskDeadLettered(
        RoutingKey.WasteSave,
        { jobId: JOB_ID },
        new RetryableTaskError('DB_DOWN', 'down'),
      ),
    ).resolves.toBeUndefined();
    expect(t.jobs.fail).toHaveBeenLastCalledWith(JOB_ID, 'DB_DOWN', 'down');
  });
});

describe('ExternalPipelineHandlers (classify, coach, nearby) with dependencies replaced', () => {
  function setup() {
    const jobs = jobsDouble();
    const storage = storageDouble({ [visionKey(USER_ID, JOB_ID)]: photo });
    const results = {
      items: jest.fn(() => [item]),
      map: jest.fn(() => [classified]),
      fromHint: jest.fn((hint: string | null) =>
        hint ? { ...classified, label: hint } : undefined,
      ),
    };
    const coaching = {
      coach: jest.fn(() => Promise.resolve({ message: '헹궈서 버리세요', source: 'llm' })),
    };
    const locations = { nearby: jest.fn(() => Promise.resolve([{ name: 'p' }])) };
    const schedules = { forAnalysis: jest.fn(() => Promise.resolve(null)) };
    const publisher = { publish: jest.fn(() => Promise.resolve()) };
    const relay = { afterGuidance: jest.fn(), resume: jest.fn() };
    const vision = {
      name: 'roboflow',
      model: 'taco',
      classify: jest.fn(() => Promise.resolve([{ label: 'bottle', confidence: 0.9, box: null }])),
    };
    const handlers = new ExternalPipelineHandlers(
      jobs as unknown as JobsService,
      results as unknown as ResultBuilder,
      coaching as unknown as CoachingService,
      locations as unknown as LocationsService,
      schedules as unknown as ScheduleService,
      publisher as unknown as TaskPublisher,
      relay as unknown as PipelineRelay,
      vision as unknown as VisionProvider,
      storage as unknown as StorageDriver,
      config,
    );
    return {
      handlers,
      jobs,
      storage,
      results,
      coaching,
      locations,
      schedules,
      publisher,
      relay,
      vision,
    };
  }
  const classifying = (over: Partial<JobEntity> = {}) =>
    job({ status: 'processing', stage: 'classifying', ...over });

  it('classify: vision sees the image at its size; the guidance is written guarded on classifying; coaching follows', async () => {
    const t = setup();
    t.jobs.get.mockResolvedValue(classifying());
    await t.handlers.classify({ jobId: JOB_ID }, ctx);
    expect(t.vision.classify).toHaveBeenCalledWith(photo, 64, 48);
    expect(t.results.map).toHaveBeenCalledWith('taco', [
      { label: 'bottle', confidence: 0.9, box: null },
    ]);
    const [, result, timings] = t.jobs.recordVisionGuidance.mock.calls[0] as unknown as [
      string,
      JobResult,
      Record<string, number>,
    ];
    expect(result.items).toEqual([item]);
    expect(result.timings.visionMs).toEqual(expect.any(Number));
    expect(Object.keys(timings).sort()).toEqual(['guidance', 'vision']);
    expect(t.relay.afterGuidance).toHaveBeenCalledWith(expect.objectContaining({ result }), 'r1');
  });

  it('classify: without a vision model the hint gives the guidance; without a hint the job fails VISION_NOT_CONFIGURED', async () => {
    const t = setup();
    t.vision.classify.mockRejectedValue(
      new PermanentTaskError('VISION_NOT_CONFIGURED', 'none') as never,
    );
    t.jobs.get.mockResolvedValue(classifying({ hint: '페트병' }));
    await t.handlers.classify({ jobId: JOB_ID }, ctx);
    expect(t.results.items).toHaveBeenCalledWith([{ ...classified, label: '페트병' }], 'ko');
    expect(t.jobs.recordVisionGuidance.mock.calls[0][1].timings.visionMs).toBeNull();
    t.jobs.get.mockResolvedValue(classifying({ hint: null }));
    await t.handlers.classify({ jobId: JOB_ID }, ctx);
    expect(t.jobs.fail).toHaveBeenCalledWith(JOB_ID, 'VISION_NOT_CONFIGURED', expect.any(String));
  });

  it('classify: a provider’s transient error is retried (rethrown), a permanent one dead-lettered; neither fails the job here', async () => {
    const t = setup();
    t.jobs.get.mockResolvedValue(classifying());
    const busy = new RetryableTaskError('VISION_RATE_LIMITED', '429', 2_000);
    t.vision.classify.mockRejectedValueOnce(busy as never);
    await expect(t.handlers.classify({ jobId: JOB_ID }, ctx)).rejects.toBe(busy);
    const refused = new PermanentTaskError('VISION_REJECTED', '400');
    t.vision.classify.mockRejectedValueOnce(refused as never);
    await expect(t.handlers.classify({ jobId: JOB_ID }, ctx)).rejects.toBe(refused);
    expect(t.jobs.fail).not.toHaveBeenCalled();
    expect(t.jobs.recordVisionGuidance).not.toHaveBeenCalled();
    // What the dispatcher does with the dead letter: the job fails with the provider's code.
    await t.handlers.onTaskDeadLettered(RoutingKey.Vision, { jobId: JOB_ID }, refused);
    expect(t.jobs.fail).toHaveBeenCalledWith(JOB_ID, 'VISION_REJECTED', '400');
  });

  it('classify: a missing vision copy fails the job UPLOAD_MISSING; a job past classifying is resumed on redelivery only', async () => {
    const t = setup();
    t.storage.get.mockResolvedValue(undefined as never);
    t.jobs.get.mockResolvedValue(classifying());
    await t.handlers.classify({ jobId: JOB_ID }, ctx);
    expect(t.jobs.fail).toHaveBeenCalledWith(JOB_ID, 'UPLOAD_MISSING', expect.any(String));
    const past = job({ status: 'processing', stage: 'coaching' });
    t.jobs.get.mockResolvedValue(past);
    await t.handlers.classify({ jobId: JOB_ID }, ctx);
    expect(t.relay.resume).not.toHaveBeenCalled();
    await t.handlers.classify({ jobId: JOB_ID }, { ...ctx, attempt: 2 });
    expect(t.relay.resume).toHaveBeenCalledWith(past, 'r1');
  });

  it('coach: asks for coaching and the district days, and sends the coaching part to save', async () => {
    const t = setup();
    t.jobs.get.mockResolvedValue(
      job({
        status: 'processing',
        stage: 'coaching',
        hint: '병',
        result: { ...emptyResult(), items: [item] },
      }),
    );
    await t.handlers.coach({ jobId: JOB_ID }, ctx);
    expect(t.coaching.coach).toHaveBeenCalledWith({
      items: [{ categoryId: 'pet', label: 'bottle' }],
      hint: '병',
      locale: 'ko',
    });
    expect(t.schedules.forAnalysis).toHaveBeenCalledWith(expect.objectContaining({ id: JOB_ID }), [
      'pet',
    ]);
    expect(t.publisher.publish).toHaveBeenCalledWith(
      RoutingKey.WasteSave,
      {
        jobId: JOB_ID,
        part: 'coaching',
        coaching: { message: '헹궈서 버리세요', source: 'llm' },
        coachingMs: expect.any(Number),
        schedule: null,
        // When the job was queued: the save completes it (and times it) without a read.
        queuedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
      { requestId: 'r1' },
    );
  });

  it('coach: a job already coached (a redelivery) costs no second coaching', async () => {
    const t = setup();
    t.jobs.get.mockResolvedValue(
      job({
        status: 'processing',
        result: { ...emptyResult(), items: [item], coaching: { message: 'x', source: 'rules' } },
      }),
    );
    await t.handlers.coach({ jobId: JOB_ID }, ctx);
    expect(t.coaching.coach).not.toHaveBeenCalled();
    expect(t.publisher.publish).not.toHaveBeenCalled();
  });

  it('nearby: looks up the items’ drop-off types around the photo and sends the nearby part', async () => {
    const t = setup();
    t.jobs.get.mockResolvedValue(
      job({
        status: 'processing',
        lat: 37.5,
        lng: 127,
        result: { ...emptyResult(), items: [item] },
      }),
    );
    await t.handlers.nearby({ jobId: JOB_ID }, ctx);
    expect(t.locations.nearby).toHaveBeenCalledWith({
      lat: 37.5,
      lng: 127,
      radiusM: 3000,
      types: ['recycling'],
      limit: 5,
    });
    expect(t.publisher.publish).toHaveBeenCalledWith(
      RoutingKey.WasteSave,
      {
        jobId: JOB_ID,
        part: 'nearby',
        nearby: [{ name: 'p' }],
        nearbyMs: expect.any(Number),
        queuedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
      { requestId: 'r1' },
    );
  });

  it('a dead-lettered nearby lookup completes the job without points; other dead letters fail it', async () => {
    const t = setup();
    await t.handlers.onTaskDeadLettered(RoutingKey.MapNearby, { jobId: JOB_ID }, new Error('x'));
    expect(t.publisher.publish).toHaveBeenCalledWith(
      RoutingKey.WasteSave,
      { jobId: JOB_ID, part: 'nearby', nearby: [], nearbyMs: 0 },
      { requestId: undefined },
    );
    expect(t.jobs.fail).not.toHaveBeenCalled();
    await t.handlers.onTaskDeadLettered(
      RoutingKey.Feedback,
      { jobId: JOB_ID },
      new RetryableTaskError('LLM_TIMEOUT', 'slow'),
    );
    expect(t.jobs.fail).toHaveBeenCalledWith(JOB_ID, 'LLM_TIMEOUT', 'slow');
  });
});
