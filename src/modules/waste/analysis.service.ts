import { Inject, Injectable } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { APP_CONFIG, AppConfig } from '../../core/config/app-config';
import { ProblemException } from '../../core/http/problem';
import { PublishFailedError, TaskPublisher } from '../../core/messaging/task-publisher';
import { RoutingKey } from '../../core/messaging/topology';
import { RedisService } from '../../core/redis/redis.service';
import { STORAGE_DRIVER, StorageDriver } from '../../core/storage/storage.driver';
import { HistoryService } from '../users';
import { CoachingService } from '../recycling';
import { ScheduleService } from '../recycling';
import { RecyclingService } from '../recycling';
import { ACCEPTED_TYPES, AnalyzeDto } from './dto/analyze.dto';
import { CorrectionDto } from './dto/correction.dto';
import { JobEntity } from './jobs/job.entity';
import { JobView } from './jobs/job.types';
import { historyEntry } from './jobs/history-entry';
import { JobsService, toView } from './jobs/jobs.service';
import { CorrectionSignals } from './pipeline/correction-signals.service';
import { AuthUser } from '../auth';
import { ResultBuilder } from './pipeline/result-builder';
import { originalKey } from './pipeline/storage-keys';

export interface AnalyzeResponse {
  jobId: string;
  status: 'awaiting_upload';
  upload: { method: 'PUT'; url: string; headers: Record<string, string>; expiresAt: string };
  statusUrl: string;
  eventsUrl: string;
}

const IDEMPOTENCY_TTL_S = 24 * 3600;

/** The API side of an analysis: create, confirm the upload, correct. */
@Injectable()
export class AnalysisService {
  constructor(
    private readonly jobs: JobsService,
    private readonly publisher: TaskPublisher,
    private readonly redis: RedisService,
    private readonly results: ResultBuilder,
    private readonly recycling: RecyclingService,
    private readonly coaching: CoachingService,
    private readonly schedules: ScheduleService,
    private readonly signals: CorrectionSignals,
    private readonly history: HistoryService,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async analyze(
    userId: string,
    dto: AnalyzeDto,
    idempotencyKey?: string,
  ): Promise<AnalyzeResponse> {
    if (!(ACCEPTED_TYPES as readonly string[]).includes(dto.contentType)) {
      throw new ProblemException(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        `contentType must be one of ${ACCEPTED_TYPES.join(', ')}`,
      );
    }
    if (dto.contentLength > this.config.MAX_UPLOAD_BYTES) {
      throw new ProblemException(
        413,
        'PAYLOAD_TOO_LARGE',
        `the photo may be at most ${this.config.MAX_UPLOAD_BYTES} bytes`,
      );
    }
    if ((dto.lat === undefined) !== (dto.lng === undefined)) {
      throw ProblemException.validation([
        { field: dto.lat === undefined ? 'lat' : 'lng', message: 'lat and lng go together' },
      ]);
    }
    const jobId = randomUUID();
    if (idempotencyKey !== undefined) {
      if (!/^[\x21-\x7e]{1,200}$/.test(idempotencyKey)) {
        throw ProblemException.validation([
          { field: 'Idempotency-Key', message: 'must be 1–200 visible ASCII characters' },
        ]);
      }
      const key = this.redis.key(
        'waste',
        'idem',
        userId,
        createHash('sha256').update(idempotencyKey).digest('hex'),
      );
      const won = await this.redis.client.set(key, jobId, 'EX', IDEMPOTENCY_TTL_S, 'NX');
      if (!won) {
        const existing = await this.redis.client.get(key);
        if (existing) return this.replay(existing, userId);
      }
    }
    const expiresAt = new Date(Date.now() + this.config.UPLOAD_URL_TTL_SECONDS * 1000);
    const key = originalKey(userId, jobId);
    const job = await this.jobs.insert({
      id: jobId,
      userId,
      status: 'awaiting_upload',
      stage: null,
      progress: 0,
      contentType: dto.contentType,
      contentLength: dto.contentLength,
      hint: dto.hint?.trim() || null,
      locale: dto.locale ?? 'ko',
      lat: dto.lat ?? null,
      lng: dto.lng ?? null,
      storageKey: key,
      uploadExpiresAt: expiresAt,
      timings: {},
    });
    return this.response(job);
  }

  /** Same Idempotency-Key again: the same job (with a fresh upload link while it still waits). */
  private async replay(jobId: string, userId: string): Promise<AnalyzeResponse> {
    // The first request may still be inserting the job it claimed the key for.
    for (let i = 0; i < 30; i++) {
      const job = await this.jobs.get(jobId);
      if (job) {
        if (job.userId !== userId) throw ProblemException.notFound('Job');
        return this.response(job);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw ProblemException.unavailable(
      'the earlier request with this Idempotency-Key is still being processed',
    );
  }

  private async response(job: JobEntity): Promise<AnalyzeResponse> {
    const upload = await this.storage.presignUpload(
      job.storageKey,
      job.contentType,
      job.contentLength,
      new Date(job.uploadExpiresAt),
    );
    const base = `${this.config.PUBLIC_BASE_URL.replace(/\/$/, '')}/api/v1/waste`;
    return {
      jobId: job.id,
      status: 'awaiting_upload',
      upload: { ...upload, expiresAt: upload.expiresAt.toISOString() },
      statusUrl: `${base}/status/${job.id}`,
      eventsUrl: `${base}/jobs/${job.id}/events`,
    };
  }

  async uploadComplete(jobId: string, userId: string, requestId?: string): Promise<JobView> {
    const job = await this.jobs.getOwned(jobId, userId);
    if (job.status === 'expired')
      throw new ProblemException(
        410,
        'UPLOAD_EXPIRED',
        'the upload link expired; start a new analysis',
      );
    if (job.status !== 'awaiting_upload') return toView(job); // repeated call: same answer
    const object = await this.storage.head(job.storageKey);
    if (!object) {
      if (new Date(job.uploadExpiresAt).getTime() < Date.now()) {
        await this.jobs.expireUpload(jobId);
        throw new ProblemException(
          410,
          'UPLOAD_EXPIRED',
          'the upload link expired before a photo arrived',
        );
      }
      throw new ProblemException(
        409,
        'UPLOAD_MISSING',
        'no photo has been uploaded for this job yet',
      );
    }
    if (object.size !== job.contentLength) {
      throw new ProblemException(
        409,
        'UPLOAD_MISMATCH',
        `the uploaded photo is ${object.size} bytes, not the declared ${job.contentLength}`,
      );
    }
    if (object.contentType && object.contentType.split(';')[0].trim() !== job.contentType) {
      throw new ProblemException(
        409,
        'UPLOAD_MISMATCH',
        `the upload's type is ${object.contentType}, not ${job.contentType}`,
      );
    }
    const queued = await this.jobs.markQueued(jobId);
    if (!queued) return toView((await this.jobs.get(jobId))!); // a concurrent call won
    try {
      await this.publisher.publish(RoutingKey.WasteDownload, { jobId }, { requestId });
    } catch (err) {
      if (!(err instanceof PublishFailedError)) throw err;
      // Not accepted by the broker: put the job back so the app can simply retry.
      await this.jobs.unqueue(jobId);
      throw ProblemException.unavailable(
        'the analysis queue is not accepting work right now; try again shortly',
      );
    }
    return toView(queued);
  }

  async correct(jobId: string, user: AuthUser, dto: CorrectionDto): Promise<JobView> {
    const job = await this.jobs.getOwned(jobId, user.id);
    if (job.status !== 'completed' || !job.result) {
      throw new ProblemException(
        409,
        'JOB_NOT_COMPLETED',
        'only a completed analysis can be corrected',
      );
    }
    const classified = this.results.classified(job.result.items);
    const errors: { field: string; message: string }[] = [];
    dto.items.forEach((c, n) => {
      if (c.index >= classified.length)
        errors.push({ field: `items.${n}.index`, message: 'no such item in the result' });
      if (!this.recycling.getCategory(c.categoryId))
        errors.push({
          field: `items.${n}.categoryId`,
          message: 'not a known category id',
        });
    });
    if (errors.length) throw ProblemException.validation(errors);
    for (const c of dto.items)
      classified[c.index] = { ...classified[c.index], categoryId: c.categoryId, confidence: 1 };
    const started = Date.now();
    // New categories may be new kinds of waste: their district days come with the new coaching.
    const [coaching, schedule] = await Promise.all([
      this.coaching.coach({
        items: classified.map((i) => ({ categoryId: i.categoryId, label: i.label })),
        hint: job.hint ?? undefined,
        locale: job.locale,
      }),
      this.schedules.forAnalysis(
        job,
        classified.map((i) => i.categoryId),
      ),
    ]);
    const result = {
      ...job.result,
      items: this.results.items(classified, job.locale),
      coaching: { message: coaching.message, source: coaching.source },
      schedule,
      timings: { ...job.result.timings, coachingMs: Date.now() - started },
    };
    const updated = await this.jobs.correct(jobId, result, {
      items: dto.items,
      at: new Date().toISOString(),
    });
    // The job left `completed` meanwhile (an account purge, a concurrent change).
    if (!updated)
      throw new ProblemException(
        409,
        'JOB_NOT_COMPLETED',
        'the analysis changed while it was being corrected',
      );
    // Only the corrector's own job changes; the shared answer waits for consensus.
    await this.signals.record(updated, user, classified);
    await this.history.recordAnalysis(historyEntry(updated));
    return toView(updated);
  }
}
