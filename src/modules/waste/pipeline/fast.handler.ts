import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import {
  TaskContext,
  TaskFailureListener,
  TaskHandler,
} from '../../../core/messaging/task-handler.decorator';
import { TaskPublisher } from '../../../core/messaging/task-publisher';
import { PermanentTaskError, errorCode } from '../../../core/messaging/task.errors';
import { RoutingKey } from '../../../core/messaging/topology';
import {
  STORAGE_DRIVER,
  ObjectTooLargeError,
  StorageDriver,
} from '../../../core/storage/storage.driver';
import { recordJobEvents } from '../../maintenance';
import { HistoryService } from '../../users';
import { historyEntry } from '../jobs/history-entry';
import { JobEntity } from '../jobs/job.entity';
import { JobsService, SidePart } from '../jobs/jobs.service';
import { StageTimings } from '../jobs/job.types';
import { ImageCacheService } from './image-cache.service';
import {
  cleanJpeg,
  decodeImage,
  Pixels,
  pixelFingerprint,
  sha256,
  visionCopy,
} from './image-processing';
import { failDeadLettered } from './job-failure';
import { PipelineRelay } from './pipeline-relay';
import { ResultBuilder } from './result-builder';
import { cleanKey, visionKey } from './storage-keys';
import { JobTask, SaveTask, USER_FAILURE_CODES } from './task-payloads';

/** Milliseconds from `at` (a job's queuedAt, column or message) to `now`. */
const msSince = (at: Date | string, now = Date.now()): number =>
  Math.max(0, now - new Date(at).getTime());

/**
 * A promise whose failure is kept for whoever awaits `done()` (once it runs beside other work,
 * its rejection must not go unhandled while that work is awaited).
 */
function settled(p: Promise<void>): { done(): Promise<void> } {
  const outcome = p.then(
    () => undefined,
    (err: unknown) => ({ err }),
  );
  return {
    async done() {
      const r = await outcome;
      if (r) throw r.err;
    },
  };
}

/** The fast role: CPU work on the image, and the final save. */
@Injectable()
export class FastPipelineHandlers implements TaskFailureListener {
  private readonly logger = new Logger(FastPipelineHandlers.name);

  constructor(
    private readonly jobs: JobsService,
    private readonly cache: ImageCacheService,
    private readonly results: ResultBuilder,
    private readonly publisher: TaskPublisher,
    private readonly relay: PipelineRelay,
    private readonly history: HistoryService,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @TaskHandler(RoutingKey.WasteDownload)
  async download({ jobId }: JobTask, ctx: TaskContext): Promise<void> {
    const started = Date.now();
    // The guarded UPDATE is the check: only a queued job, or one still before classification
    // (a redelivery), starts downloading.
    const job = await this.jobs.startDownload(jobId);
    if (!job) {
      // A redelivery for a job already past download: make sure its next message was sent.
      if (ctx.redelivered || ctx.attempt > 1) {
        const found = await this.jobs.get(jobId);
        if (found) await this.relay.resume(found, ctx.requestId);
      }
      return;
    }
    try {
      await this.process(job, ctx, started);
    } catch (err) {
      if (err instanceof PermanentTaskError && USER_FAILURE_CODES.has(err.code)) {
        await this.jobs.fail(jobId, err.code, err.message);
        return;
      }
      throw err;
    }
  }

  /**
   * Download, decode (the validation), then what vision waits for — fingerprint, cache lookup,
   * vision copy — while the clean copy replaces the original beside them, and each progress
   * write overlaps the image work it announces (docs/pipeline.md → The fast step).
   */
  private async process(job: JobEntity, ctx: TaskContext, started: number): Promise<void> {
    const t: StageTimings = {
      queue: job.queuedAt ? msSince(job.queuedAt, started) : 0,
    };
    let mark = started;
    const lap = (k: 'download' | 'validate' | 'hash' | 'cache' | 'preprocess') => {
      const now = Date.now();
      t[k] = now - mark;
      mark = now;
    };
    let bytes: Buffer | undefined;
    try {
      bytes = await this.storage.get(job.storageKey, this.config.MAX_UPLOAD_BYTES);
      // A redelivery after the original was replaced by its clean copy works from the copy.
      bytes ??= await this.storage.get(cleanKey(job.userId, job.id), this.config.MAX_UPLOAD_BYTES);
    } catch (err) {
      if (err instanceof ObjectTooLargeError) {
        throw new PermanentTaskError(
          'IMAGE_TOO_LARGE',
          `the upload is ${err.size} bytes, over ${this.config.MAX_UPLOAD_BYTES}`,
        );
      }
      throw err;
    }
    if (!bytes)
      throw new PermanentTaskError('UPLOAD_MISSING', 'the uploaded image is no longer in storage');
    lap('download');

    // One decode: the clean copy, the fingerprint and the vision copy all come from its pixels.
    const { pixels } = await decodeImage(bytes, this.config.MAX_IMAGE_PIXELS);
    lap('validate');
    // EXIF (GPS included) must not survive in our storage: only the clean copy is kept. Nothing
    // ahead needs it, so it is written beside them, and awaited before the job moves on.
    const cleaned = settled(this.replaceOriginal(job, pixels));
    try {
      const sha = sha256(bytes);
      const [, phash] = await Promise.all([
        this.jobs.startStage(job.id, 'hashing'),
        pixelFingerprint(pixels),
      ]);
      lap('hash');
      const fingerprint = { imageSha256: sha, imagePhash: phash };

      const hit = await this.cache.lookup(sha, phash);
      lap('cache');
      if (hit) {
        await cleaned.done();
        const result = this.jobs.emptyResult();
        result.items = this.results.items(hit.value.items, job.locale);
        result.cache = { hit: true, kind: hit.kind, source: hit.value.source ?? 'vision' };
        await this.jobs.recordCachedGuidance(job.id, result, fingerprint, t);
        await this.relay.afterGuidance({ ...job, result } as JobEntity, ctx.requestId);
        return;
      }

      const [, vision] = await Promise.all([
        this.jobs.startStage(job.id, 'preprocessing', { ...t }),
        visionCopy(pixels),
      ]);
      await this.storage.put(visionKey(job.userId, job.id), vision.image, 'image/jpeg');
      await cleaned.done();
      lap('preprocess');
      await this.jobs.markClassifying(job.id, fingerprint, { preprocess: t.preprocess });
    } catch (err) {
      // Nothing of this attempt may still be writing when the message is retried.
      await cleaned.done().catch(() => undefined);
      throw err;
    }
    await this.publisher.publish(
      RoutingKey.Vision,
      { jobId: job.id },
      { requestId: ctx.requestId },
    );
  }

  /** The clean copy (re-encoded from the pixels, no metadata) in, the original out. */
  private async replaceOriginal(job: JobEntity, pixels: Pixels): Promise<void> {
    await this.storage.put(cleanKey(job.userId, job.id), await cleanJpeg(pixels), 'image/jpeg');
    await this.storage.delete([job.storageKey]);
  }

  @TaskHandler(RoutingKey.WasteSave)
  async save(task: SaveTask): Promise<void> {
    const part: SidePart =
      task.part === 'coaching'
        ? {
            part: 'coaching',
            coaching: task.coaching,
            schedule: task.schedule ?? null,
            coachingMs: task.coachingMs,
          }
        : { part: 'nearby', nearby: task.nearby, nearbyMs: task.nearbyMs };
    // The part the job waits for last (a photo without a location: its coaching) completes it in
    // the same UPDATE; it carries when the job was queued, for the total time.
    if (task.queuedAt) {
      if (await this.complete(task.jobId, msSince(task.queuedAt), part)) return;
    }
    // No read first: the guarded UPDATE only applies to a processing job whose part is still
    // pending (a job that ended, or a redelivered part, matches nothing), and the read below
    // is needed only when it did not apply.
    const written =
      part.part === 'coaching'
        ? await this.jobs.saveCoaching(task.jobId, part)
        : await this.jobs.saveNearby(task.jobId, part);
    const current = written ?? (await this.jobs.get(task.jobId));
    if (!current || current.status !== 'processing' || !current.result?.coaching) return;
    if (current.lat !== null && current.result.nearby === null) return; // the other part is still coming
    await this.complete(current.id, current.queuedAt ? msSince(current.queuedAt) : null);
  }

  /**
   * One PostgreSQL transaction: the guarded UPDATE to completed, the history row and the
   * analytics event. They commit together or not at all, so the job, the user's history (and
   * stats) and the daily numbers can never disagree, whatever fails when (docs/messaging.md).
   * A saver that finds the job no longer processing (another saver won, the watchdog failed it)
   * writes nothing. The snapshot and the event go out after the commit; the image cache, an
   * optimisation, is taught last and its failure costs only a future cache hit.
   */
  private async complete(
    jobId: string,
    totalMs: number | null,
    lastPart?: SidePart,
  ): Promise<JobEntity | undefined> {
    const completed = await this.jobs.complete(
      jobId,
      totalMs,
      async (done, m) => {
        await this.history.recordAnalysis(historyEntry(done), m);
        await recordJobEvents(m, [done.id]);
      },
      lastPart,
    );
    if (!completed?.result) return completed;
    const result = completed.result;
    // A miss teaches the cache; so does a near-identical hit (its own bytes become an exact entry,
    // so the next upload of this very file is an exact hit).
    if (
      result.cache.kind !== 'exact' &&
      completed.imageSha256 &&
      completed.imagePhash &&
      result.items.length
    ) {
      await this.cache
        .store(completed.imageSha256, completed.imagePhash, {
          items: this.results.classified(result.items),
          model: 'pipeline',
          visionMs: result.timings.visionMs,
          // A near-identical hit's copy keeps its origin (a consensus answer stays one).
          source: result.cache.source ?? 'vision',
        })
        .catch((err: unknown) =>
          this.logger.warn(`image cache not taught by job ${jobId}: ${String(err)}`),
        );
    }
    return completed;
  }

  /**
   * A dead-lettered message fails its job with the error's code. This must not throw: when the
   * database is what failed (the save ran out of retries during a long PostgreSQL outage), the
   * job is left as it is and the watchdog resumes it once PostgreSQL is back (every stage,
   * `saving` included), so it still ends — completed, or failed — and never half of each.
   */
  async onTaskDeadLettered(_key: string, payload: unknown, error: unknown): Promise<void> {
    const jobId = (payload as Partial<JobTask> | null)?.jobId;
    if (typeof jobId !== 'string') return;
    const code = errorCode(error);
    await failDeadLettered(this.jobs, this.logger, jobId, code, error);
  }
}
