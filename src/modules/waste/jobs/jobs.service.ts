import { Inject, Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { EntityManager } from 'typeorm';
import { ProblemException } from '../../../core/http/problem';
import { Metrics } from '../../../core/observability/metrics';
import { RedisService } from '../../../core/redis/redis.service';
import { STORAGE_DRIVER, StorageDriver } from '../../../core/storage/storage.driver';
import { JobEntity } from './job.entity';
import { Fingerprint, JobGuard, JobsRepository, STAGE_PROGRESS } from './jobs.repository';
import { JobEventsEmitter } from './job-events';
import {
  Coaching,
  emptyJobResult,
  JobResult,
  JobStage,
  JobStatus,
  JobView,
  StageTimings,
  TERMINAL,
} from './job.types';

export type { Fingerprint, JobGuard };
export { STAGE_PROGRESS };

/** How long a job's end waits for its raw upload's deletion (docs/pipeline.md → Storage). */
const ORIGINAL_DELETE_MS = 3_000;

const SNAPSHOT_TTL_S = 24 * 3600;
/** Jobs whose snapshot write failed, kept to re-publish when Redis is back (bounded memory). */
const MAX_UNPUBLISHED = 10_000;
const SET_IF_NEWER = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, old = pcall(cjson.decode, cur)
  if ok and old.version and tonumber(old.version) >= tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1`;

export function toView(j: JobEntity): JobView {
  return {
    jobId: j.id,
    status: j.status,
    stage: j.stage,
    progress: j.progress,
    createdAt: new Date(j.createdAt).toISOString(),
    updatedAt: new Date(j.updatedAt).toISOString(),
    result: j.result,
    error: j.errorCode ? { code: j.errorCode, message: j.errorMessage ?? j.errorCode } : null,
  };
}

/**
 * The job's state machine. PostgreSQL is the source of truth; every change also refreshes the
 * Redis snapshot that status polling reads and emits an event for the SSE streams.
 */
@Injectable()
export class JobsService {
  private readonly logger = new Logger(JobsService.name);
  private readonly finished;
  private readonly rechecked: LRUCache<string, true>;
  private readonly unpublished = new Set<string>();

  constructor(
    private readonly repo: JobsRepository,
    private readonly redis: RedisService,
    private readonly events: JobEventsEmitter,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    metrics: Metrics,
  ) {
    // A job that really waits long (a backlog) is re-read at most once per interval per
    // process, not on every poll of every phone.
    this.rechecked = new LRUCache({ max: 100_000, ttl: config.JOB_SNAPSHOT_RECHECK_MS });
    this.finished = metrics.counter(
      'waste_jobs_total',
      'Analysis jobs that ended, by status and error code',
      ['status', 'code'],
    );
    // Back from a blip that kept Redis's data: the snapshots (and events, best-effort) of jobs
    // that changed meanwhile are written again at once, not only on the next stale read.
    this.redis.client.on('ready', () => void this.republish());
  }

  private async republish(): Promise<void> {
    const ids = [...this.unpublished];
    this.unpublished.clear();
    for (const id of ids) {
      try {
        const job = await this.repo.get(id);
        if (job) await this.publish(job);
      } catch (err) {
        this.logger.warn(`snapshot for ${id} not re-published: ${(err as Error).message}`);
      }
    }
  }

  snapshotKey(jobId: string): string {
    return this.redis.key('waste', 'job', jobId);
  }

  async insert(job: Partial<JobEntity>): Promise<JobEntity> {
    const fresh = await this.repo.insert(job);
    await this.publish(fresh);
    return fresh;
  }

  async get(jobId: string): Promise<JobEntity | undefined> {
    return this.repo.get(jobId);
  }

  /** The job if it belongs to the user; otherwise 404 (never 403: no existence leaks). */
  async getOwned(jobId: string, userId: string): Promise<JobEntity> {
    const job = await this.get(jobId);
    if (!job || job.userId !== userId) throw ProblemException.notFound('Job');
    return job;
  }

  /**
   * Cheap read for polling: the Redis snapshot, falling back to PostgreSQL. A snapshot that is
   * not final and older than JOB_SNAPSHOT_RECHECK_MS is checked against PostgreSQL: its write is
   * best-effort, so a job that ended while Redis was unreachable would otherwise answer its old
   * state until the snapshot expires (docs/messaging.md → What a client sees).
   */
  async readView(jobId: string, userId: string): Promise<JobView> {
    try {
      const raw = await this.redis.client.get(this.snapshotKey(jobId));
      if (raw) {
        const snap = JSON.parse(raw) as { userId: string; version?: number; job: JobView };
        if (snap.userId !== userId) throw ProblemException.notFound('Job');
        const age = Date.now() - Date.parse(snap.job.updatedAt);
        if (
          TERMINAL.includes(snap.job.status) ||
          !(age > this.config.JOB_SNAPSHOT_RECHECK_MS) ||
          this.rechecked.has(jobId)
        ) {
          return snap.job;
        }
        return await this.recheck(snap.job, Number(snap.version ?? 0), userId);
      }
    } catch (err) {
      if (err instanceof ProblemException) throw err;
      this.logger.warn(
        `status snapshot unavailable, reading PostgreSQL: ${(err as Error).message}`,
      );
    }
    return toView(await this.getOwned(jobId, userId));
  }

  /** PostgreSQL's state if it is newer than the snapshot (re-published); the snapshot if down. */
  private async recheck(view: JobView, version: number, userId: string): Promise<JobView> {
    let job: JobEntity;
    try {
      job = await this.getOwned(view.jobId, userId);
    } catch (err) {
      if (err instanceof ProblemException && err.status === 404) throw err;
      return view; // PostgreSQL down: the snapshot is the best answer there is
    }
    this.rechecked.set(view.jobId, true);
    if (job.version > version) await this.publish(job);
    return toView(job);
  }

  // ---- state changes: one guarded UPDATE each (JobsRepository), then the snapshot and the
  // event. Each returns the new job, or undefined when its guard did not hold (another process
  // moved the job on first). ----

  /** awaiting_upload → expired (the upload link ran out). */
  async expireUpload(jobId: string): Promise<JobEntity | undefined> {
    return this.announced(await this.repo.expireUpload(jobId, new Date()), 'expired');
  }

  /** awaiting_upload → queued (the photo is in). */
  async markQueued(jobId: string): Promise<JobEntity | undefined> {
    return this.announced(await this.repo.markQueued(jobId, new Date()), 'queued');
  }

  /** queued → awaiting_upload (the download message was refused; the app retries). */
  async unqueue(jobId: string): Promise<JobEntity | undefined> {
    return this.announced(await this.repo.unqueue(jobId), 'awaiting_upload');
  }

  /** queued|processing → processing at `stage`; `timings` merged into the job's. */
  async startStage(
    jobId: string,
    stage: JobStage,
    timings?: StageTimings,
  ): Promise<JobEntity | undefined> {
    return this.announced(await this.repo.startStage(jobId, stage, timings), 'processing');
  }

  /** processing → classifying, with the photo's fingerprint. */
  async markClassifying(
    jobId: string,
    fingerprint: Fingerprint,
    timings: StageTimings,
  ): Promise<JobEntity | undefined> {
    return this.announced(await this.repo.markClassifying(jobId, fingerprint, timings));
  }

  /** processing → coaching with a cached answer's guidance. */
  async recordCachedGuidance(
    jobId: string,
    result: JobResult,
    fingerprint: Fingerprint,
    timings: StageTimings,
  ): Promise<JobEntity | undefined> {
    return this.announced(
      await this.repo.recordCachedGuidance(jobId, result, fingerprint, timings),
    );
  }

  /** classifying → coaching with vision's guidance. */
  async recordVisionGuidance(
    jobId: string,
    result: JobResult,
    timings: StageTimings,
  ): Promise<JobEntity | undefined> {
    return this.announced(await this.repo.recordVisionGuidance(jobId, result, timings));
  }

  /** The coaching part (and the district's days) folded in once → saving. */
  async saveCoaching(
    jobId: string,
    part: { coaching: Coaching; schedule: unknown; coachingMs: number },
  ): Promise<JobEntity | undefined> {
    return this.announced(await this.repo.saveCoaching(jobId, part));
  }

  /** The nearby part folded in once. */
  async saveNearby(
    jobId: string,
    part: { nearby: unknown[]; nearbyMs: number },
  ): Promise<JobEntity | undefined> {
    return this.announced(await this.repo.saveNearby(jobId, part));
  }

  /**
   * processing → completed in one PostgreSQL transaction with `alongside`'s writes (the history
   * row, the analytics event), which run only when the guarded UPDATE matched; they commit
   * together or not at all. The snapshot and the event go out after the commit, so no client
   * ever sees a state that was rolled back.
   */
  async complete(
    jobId: string,
    totalMs: number | null,
    alongside: (job: JobEntity, m: EntityManager) => Promise<void>,
  ): Promise<JobEntity | undefined> {
    const now = new Date();
    const completed = await this.repo.transaction(async (m) => {
      const done = await this.repo.complete(jobId, now, totalMs, m);
      if (done) await alongside(done, m);
      return done;
    });
    return this.announced(completed, 'completed');
  }

  /** A completed job's correction by its user (stays completed). */
  async correct(
    jobId: string,
    result: JobResult,
    correction: unknown,
  ): Promise<JobEntity | undefined> {
    return this.announced(await this.repo.correct(jobId, result, correction));
  }

  /**
   * Ends a job as failed with a machine-readable code, unless it already ended (or `guard` does
   * not hold).
   */
  async fail(
    jobId: string,
    code: string,
    message: string,
    guard: JobGuard = {},
  ): Promise<JobEntity | undefined> {
    return this.announced(
      await this.repo.fail(jobId, { code, message }, new Date(), guard),
      'failed',
    );
  }

  private async announced(
    job: JobEntity | undefined,
    status?: JobStatus,
  ): Promise<JobEntity | undefined> {
    if (job) await this.announce(job, status);
    return job;
  }

  /**
   * After a committed change: the ended-jobs counter, the status snapshot and the SSE event. A job
   * that failed or expired loses its raw upload first (EXIF/GPS included: docs/pipeline.md →
   * Storage), so no client sees it ended while the original is still stored; a completed job's
   * was deleted as soon as the clean copy existed.
   */
  private async announce(job: JobEntity, status?: JobStatus): Promise<void> {
    if (status && TERMINAL.includes(status)) {
      this.finished.labels(status, job.errorCode ?? '').inc();
    }
    if (status === 'failed' || status === 'expired') {
      // Bounded: a hung store must not keep the job's end from its client (the retention sweep
      // removes an original whose delete did not finish).
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out after 3 s')), ORIGINAL_DELETE_MS);
      });
      await Promise.race([this.storage.delete([job.storageKey]), deadline])
        .catch((err: unknown) =>
          this.logger.warn(`upload of ended job ${job.id} not deleted: ${String(err)}`),
        )
        .finally(() => clearTimeout(timer));
    }
    await this.publish(job);
  }

  async publish(job: JobEntity): Promise<void> {
    const view = toView(job);
    try {
      // Only a newer version replaces the snapshot: concurrent stages may finish out of order.
      await this.redis.client.eval(
        SET_IF_NEWER,
        1,
        this.snapshotKey(job.id),
        JSON.stringify({ userId: job.userId, version: job.version, job: view }),
        job.version,
        SNAPSHOT_TTL_S,
      );
    } catch (err) {
      this.logger.warn(`snapshot for ${job.id} not written: ${(err as Error).message}`);
      if (this.unpublished.size < MAX_UNPUBLISHED) this.unpublished.add(job.id);
    }
    await this.events.emit({ userId: job.userId, version: job.version, job: view });
  }

  async forgetSnapshot(jobId: string): Promise<void> {
    await this.redis.client.del(this.snapshotKey(jobId));
  }

  emptyResult(): JobResult {
    return emptyJobResult();
  }
}
