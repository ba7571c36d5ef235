import { Inject, Injectable, Logger } from '@nestjs/common';
import sharp from 'sharp';
import {
  TaskContext,
  TaskFailureListener,
  TaskHandler,
} from '../../../core/messaging/task-handler.decorator';
import { TaskPublisher } from '../../../core/messaging/task-publisher';
import { PermanentTaskError, errorCode } from '../../../core/messaging/task.errors';
import { RoutingKey } from '../../../core/messaging/topology';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { STORAGE_DRIVER, StorageDriver } from '../../../core/storage/storage.driver';
import { LocationsService } from '../../locations';
import { CoachingService } from '../../recycling';
import { ScheduleService } from '../../recycling';
import { LocationType } from '../../recycling';
import { ClassifiedItem } from '../jobs/job.types';
import { JobsService } from '../jobs/jobs.service';
import { VISION_PROVIDER, VisionProvider } from '../vision/vision.driver';
import { failDeadLettered } from './job-failure';
import { PipelineRelay } from './pipeline-relay';
import { ResultBuilder } from './result-builder';
import { visionKey } from './storage-keys';
import { isoOrUndefined, JobTask, SaveTask, USER_FAILURE_CODES } from './task-payloads';

const NEARBY_RADIUS_M = 3000;
const NEARBY_LIMIT = 5;

/** The external role: vision, coaching, map lookups (I/O-bound calls to third parties). */
@Injectable()
export class ExternalPipelineHandlers implements TaskFailureListener {
  private readonly logger = new Logger(ExternalPipelineHandlers.name);

  constructor(
    private readonly jobs: JobsService,
    private readonly results: ResultBuilder,
    private readonly coaching: CoachingService,
    private readonly locations: LocationsService,
    private readonly schedules: ScheduleService,
    private readonly publisher: TaskPublisher,
    private readonly relay: PipelineRelay,
    @Inject(VISION_PROVIDER) private readonly vision: VisionProvider,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @TaskHandler(RoutingKey.Vision)
  async classify({ jobId }: JobTask, ctx: TaskContext): Promise<void> {
    const job = await this.jobs.get(jobId);
    if (!job) return;
    if (job.status !== 'processing' || job.stage !== 'classifying') {
      // A redelivery after guidance was written: make sure coaching (and nearby) were asked for.
      if ((ctx.redelivered || ctx.attempt > 1) && job.status === 'processing') {
        await this.relay.resume(job, ctx.requestId);
      }
      return;
    }
    const started = Date.now();
    let items: ClassifiedItem[];
    let visionMs: number | null = null;
    try {
      const image = await this.storage.get(
        visionKey(job.userId, job.id),
        this.config.MAX_UPLOAD_BYTES,
      );
      if (!image)
        throw new PermanentTaskError('UPLOAD_MISSING', 'the preprocessed image is missing');
      const meta = await sharp(image).metadata();
      const detections = await this.vision
        .classify(image, meta.width ?? 0, meta.height ?? 0)
        .catch((err: unknown) => {
          // VISION_PROVIDER=none: its driver has no model, and says so.
          if (err instanceof PermanentTaskError && err.code === 'VISION_NOT_CONFIGURED')
            return null;
          throw err;
        });
      if (detections === null) {
        const fromHint = this.results.fromHint(job.hint);
        if (!fromHint) {
          throw new PermanentTaskError(
            'VISION_NOT_CONFIGURED',
            'no vision provider is configured; send a hint (e.g. "페트병") to get guidance without one',
          );
        }
        items = [fromHint];
      } else {
        visionMs = Date.now() - started;
        items = this.results.map(this.vision.model, detections);
        // Nothing recognisable, but the user told us what it is.
        const fromHint = items.length ? undefined : this.results.fromHint(job.hint);
        if (fromHint) items = [fromHint];
      }
    } catch (err) {
      if (err instanceof PermanentTaskError && USER_FAILURE_CODES.has(err.code)) {
        await this.jobs.fail(jobId, err.code, err.message);
        return;
      }
      throw err;
    }
    const result = this.jobs.emptyResult();
    result.items = this.results.items(items, job.locale);
    result.timings.visionMs = visionMs;
    const updated = await this.jobs.recordVisionGuidance(jobId, result, {
      vision: visionMs ?? 0,
      guidance: Date.now() - started - (visionMs ?? 0),
    });
    if (!updated) return;
    await this.relay.afterGuidance(updated, ctx.requestId);
  }

  @TaskHandler(RoutingKey.Feedback)
  async coach({ jobId }: JobTask, ctx: TaskContext): Promise<void> {
    const job = await this.jobs.get(jobId);
    if (!job || job.status !== 'processing' || !job.result || job.result.coaching) return;
    const started = Date.now();
    // The district's days for the items' kinds ride along: every job passes here, with or
    // without coordinates (then the user's home region). It never fails the step (null instead).
    const [answer, schedule] = await Promise.all([
      this.coaching.coach({
        items: job.result.items.map((i) => ({ categoryId: i.category.id, label: i.label })),
        hint: job.hint ?? undefined,
        locale: job.locale,
      }),
      this.schedules.forAnalysis(
        job,
        job.result.items.map((i) => i.category.id),
      ),
    ]);
    const task: SaveTask = {
      jobId,
      part: 'coaching',
      coaching: { message: answer.message, source: answer.source },
      coachingMs: Date.now() - started,
      schedule: schedule as unknown as Record<string, unknown> | null,
      queuedAt: isoOrUndefined(job.queuedAt),
    };
    await this.publisher.publish(RoutingKey.WasteSave, task, { requestId: ctx.requestId });
  }

  @TaskHandler(RoutingKey.MapNearby)
  async nearby({ jobId }: JobTask, ctx: TaskContext): Promise<void> {
    const job = await this.jobs.get(jobId);
    if (
      !job ||
      job.status !== 'processing' ||
      !job.result ||
      job.result.nearby ||
      job.lat === null ||
      job.lng === null
    ) {
      return;
    }
    const started = Date.now();
    const types = [...new Set(job.result.items.flatMap((i) => i.dropOff))] as LocationType[];
    const nearby = types.length
      ? await this.locations.nearby({
          lat: job.lat,
          lng: job.lng,
          radiusM: NEARBY_RADIUS_M,
          types,
          limit: NEARBY_LIMIT,
        })
      : [];
    await this.publishNearby(jobId, nearby, Date.now() - started, ctx.requestId, job.queuedAt);
  }

  private async publishNearby(
    jobId: string,
    nearby: unknown[],
    ms: number,
    requestId?: string,
    queuedAt?: Date | null,
  ): Promise<void> {
    const task: SaveTask = {
      jobId,
      part: 'nearby',
      nearby,
      nearbyMs: ms,
      queuedAt: isoOrUndefined(queuedAt),
    };
    await this.publisher.publish(RoutingKey.WasteSave, task, { requestId });
  }

  async onTaskDeadLettered(key: string, payload: unknown, error: unknown): Promise<void> {
    const jobId = (payload as Partial<JobTask> | null)?.jobId;
    if (typeof jobId !== 'string') return;
    if (key === RoutingKey.MapNearby) {
      // Nearby points are a bonus: without them the job still completes (with an empty list).
      // If even that publish fails, the watchdog resumes the job (it asks for nearby again).
      await this.publishNearby(jobId, [], 0).catch((err: unknown) =>
        this.logger.warn(`job ${jobId}: empty nearby not sent (${String(err)})`),
      );
      return;
    }
    await failDeadLettered(this.jobs, this.logger, jobId, errorCode(error), error);
  }
}
