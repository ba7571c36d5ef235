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
import { JobsService } from '../jobs/jobs.service';
import { ImageCacheService } from './image-cache.service';
import { decodeAndClean, pixelFingerprint, sha256, visionCopy } from './image-processing';
import { failDeadLettered } from './job-failure';
import { PipelineRelay } from './pipeline-relay';
import { ResultBuilder } from './result-builder';
import { cleanKey, visionKey } from './storage-keys';
import { JobTask, SaveTask, USER_FAILURE_CODES } from './task-payloads';

const EARLY_STAGES = new Set(['downloading', 'hashing', 'preprocessing']);

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
    const found = await this.jobs.get(jobId);
    if (!found) return;
    const early =
      found.status === 'queued' ||
      (found.status === 'processing' && EARLY_STAGES.has(found.stage ?? ''));
    if (!early) {
      // A redelivery for a job already past download: make sure its next message was sent.
      if (ctx.redelivered || ctx.attempt > 1) await this.relay.resume(found, ctx.requestId);
      return;
    }
    const started = Date.now();
    const job = await this.jobs.startStage(jobId, 'downloading', {
      queue: found.queuedAt ? started - new Date(found.queuedAt).getTime() : 0,
    });
    if (!job) return;
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

  private async process(job: JobEntity, ctx: TaskContext, started: number): Promise<void> {
    const t = { download: 0, validate: 0, hash: 0, cache: 0, preprocess: 0 };
    let mark = started;
    const lap = (k: keyof typeof t) => {
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
    const image = await decodeAndClean(bytes, this.config.MAX_IMAGE_PIXELS);
    lap('validate');
    await this.storage.put(cleanKey(job.userId, job.id), image.clean, 'image/jpeg');
    // EXIF (GPS included) must not survive in our storage: only the clean copy is kept.
    await this.storage.delete([job.storageKey]);

    await this.jobs.startStage(job.id, 'hashing');
    const sha = sha256(bytes);
    const phash = await pixelFingerprint(image.pixels);
    lap('hash');

    const hit = await this.cache.lookup(sha, phash);
    lap('cache');
    if (hit) {
      const result = this.jobs.emptyResult();
      result.items = this.results.items(hit.value.items, job.locale);
      result.cache = { hit: true, kind: hit.kind, source: hit.value.source ?? 'vision' };
      await this.jobs.recordCachedGuidance(
        job.id,
        result,
        { imageSha256: sha, imagePhash: phash },
        t,
      );
      await this.relay.afterGuidance({ ...job, result } as JobEntity, ctx.requestId);
      return;
    }

    await this.jobs.startStage(job.id, 'preprocessing', t);
    mark = Date.now();
    const vision = await visionCopy(image.pixels);
    await this.storage.put(visionKey(job.userId, job.id), vision.image, 'image/jpeg');
    lap('preprocess');
    await this.jobs.markClassifying(
      job.id,
      { imageSha256: sha, imagePhash: phash },
      { preprocess: t.preprocess },
    );
    await this.publisher.publish(
      RoutingKey.Vision,
      { jobId: job.id },
      { requestId: ctx.requestId },
    );
  }

  @TaskHandler(RoutingKey.WasteSave)
  async save(task: SaveTask): Promise<void> {
    // No read first: the guarded UPDATE only applies to a processing job whose part is still
    // pending (a job that ended, or a redelivered part, matches nothing), and the read below
    // is needed only when it did not apply.
    const written =
      task.part === 'coaching'
        ? await this.jobs.saveCoaching(task.jobId, {
            coaching: task.coaching,
            schedule: task.schedule ?? null,
            coachingMs: task.coachingMs,
          })
        : await this.jobs.saveNearby(task.jobId, { nearby: task.nearby, nearbyMs: task.nearbyMs });
    const current = written ?? (await this.jobs.get(task.jobId));
    if (!current || current.status !== 'processing' || !current.result?.coaching) return;
    if (current.lat !== null && current.result.nearby === null) return; // the other part is still coming
    await this.complete(current);
  }

  /**
   * One PostgreSQL transaction: the guarded UPDATE to completed, the history row and the
   * analytics event. They commit together or not at all, so the job, the user's history (and
   * stats) and the daily numbers can never disagree, whatever fails when (docs/messaging.md).
   * A saver that finds the job no longer processing (another saver won, the watchdog failed it)
   * writes nothing. The snapshot and the event go out after the commit; the image cache, an
   * optimisation, is taught last and its failure costs only a future cache hit.
   */
  private async complete(job: JobEntity): Promise<void> {
    const result = job.result!;
    const totalMs = job.queuedAt ? Date.now() - new Date(job.queuedAt).getTime() : null;
    const completed = await this.jobs.complete(job.id, totalMs, async (done, m) => {
      await this.history.recordAnalysis(historyEntry(done), m);
      await recordJobEvents(m, [done.id]);
    });
    if (!completed) return;
    // A miss teaches the cache; so does a near-identical hit (its own bytes become an exact entry,
    // so the next upload of this very file is an exact hit).
    if (result.cache.kind !== 'exact' && job.imageSha256 && job.imagePhash && result.items.length) {
      await this.cache
        .store(job.imageSha256, job.imagePhash, {
          items: this.results.classified(result.items),
          model: 'pipeline',
          visionMs: result.timings.visionMs,
          // A near-identical hit's copy keeps its origin (a consensus answer stays one).
          source: result.cache.source ?? 'vision',
        })
        .catch((err: unknown) =>
          this.logger.warn(`image cache not taught by job ${job.id}: ${String(err)}`),
        );
    }
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
