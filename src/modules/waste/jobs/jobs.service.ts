import { Inject, Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { EntityManager } from 'typeorm';
import { ProblemException } from '../../../core/http/problem';
import { Metrics } from '../../../core/observability/metrics';
import { RedisService } from '../../../core/redis/redis.service';
import { STORAGE_DRIVER, StorageDriver } from '../../../core/storage/storage.driver';
import { JobEntity } from './job.entity';
import {
  CoachingPart,
  Fingerprint,
  JobGuard,
  JobsRepository,
  NearbyPart,
  SidePart,
  STAGE_PROGRESS,
} from './jobs.repository';
import { JobEventsEmitter } from './job-events';
import {
  emptyJobResult,
  JobResult,
  JobStage,
  JobStatus,
  JobView,
  StageTimings,
  TERMINAL,
} from './job.types';

export type { Fingerprint, JobGuard, SidePart };
export { STAGE_PROGRESS };

/** How long a job's end waits for its raw upload's deletion (docs/pipeline.md → Storage). */
const ORIGINAL_DELETE_MS = 3_000;

const SNAPSHOT_TTL_S = 24 * 3600;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A job id as ParseUUIDPipe takes it (any version), for reads that check it themselves. */
export const isJobId = (v: unknown): v is string => typeof v === 'string' && UUID.test(v);
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

/** The main connection with SET_IF_NEWER defined on it (EVALSHA; EVAL once per Redis). */
type WithSetIfNewer = RedisService['client'] & {
  wasteSnapshotSetIfNewer(
    key: string,
    snapshot: string,
    version: number,
    ttlSeconds: number,
  ): Promise<number>;
};

/**
 * The start of a snapshot as publish() writes it: JSON.stringify of { userId, version, job } with
 * job in toView's key order. Matched, it gives the fields a status poll checks without parsing
 * the whole job (its result is most of the text).
 */
const SNAPSHOT_HEAD =
  /^\{"userId":"([^"\\]*)","version":(\d+),"job":\{"jobId":"[^"\\]*","status":"([a-z_]+)","stage":(?:null|"[a-z]+"),"progress":\d+,"createdAt":"[^"\\]*","updatedAt":"([^"\\]*)",/;

/**
 * How much of a stored snapshot's bytes is decoded to match SNAPSHOT_HEAD (~220 bytes of ASCII;
 * latin1 keeps one character per byte, so its offsets are byte offsets).
 */
const HEAD_BYTES = 400;

export interface SnapshotHead {
  userId: string;
  version: number;
  status: JobStatus;
  updatedAt: string;
  /** The job as the API's JSON (the stored text as it is, when the head matched). */
  jobJson(): string;
  /** The same JSON as the route sends it: the stored bytes themselves, when the head matched. */
  jobBody(): string | Buffer;
}

/**
 * Reads a stored snapshot (as Redis gave it: text or bytes): by its head when it has publish()'s
 * layout, else parsed whole. From bytes, only the head is decoded and the job's bytes are sent as
 * they are: a status poll no longer turns the snapshot into a string (UTF-16 when the result has
 * Korean text) and back into bytes (docs/benchmarks.md → Per request, round 3).
 */
export function snapshotHead(raw: string | Buffer): SnapshotHead {
  const text = typeof raw === 'string' ? raw : raw.toString('latin1', 0, HEAD_BYTES);
  const m = SNAPSHOT_HEAD.exec(text);
  if (m) {
    // `"job":` first follows the head matched above; the text ends with the outer brace.
    const start = text.indexOf(',"job":') + 7;
    const body = () =>
      typeof raw === 'string' ? raw.slice(start, -1) : raw.subarray(start, raw.length - 1);
    return {
      userId: m[1],
      version: Number(m[2]),
      status: m[3] as JobStatus,
      updatedAt: m[4],
      jobJson: () => body().toString(),
      jobBody: body,
    };
  }
  const snap = JSON.parse(raw.toString()) as { userId: string; version?: number; job: JobView };
  const json = () => JSON.stringify(snap.job);
  return {
    userId: snap.userId,
    version: Number(snap.version ?? 0),
    status: snap.job.status,
    updatedAt: snap.job.updatedAt,
    jobJson: json,
    jobBody: json,
  };
}

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
  private readonly forgetListeners: ((jobId: string) => void)[] = [];

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
    // By SHA on every state change instead of sending (and hashing) the script's text.
    this.redis.client.defineCommand('wasteSnapshotSetIfNewer', {
      numberOfKeys: 1,
      lua: SET_IF_NEWER,
    });
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
  async readView(
    jobId: string,
    userId: string,
    prefetched?: Promise<Buffer | SnapshotHead | null>,
  ): Promise<string | Buffer> {
    try {
      const raw = await (prefetched ?? this.redis.client.getBuffer(this.snapshotKey(jobId)));
      if (raw) {
        // A snapshot kept in memory comes already read (StatusSnapshots).
        const head = Buffer.isBuffer(raw) ? snapshotHead(raw) : raw;
        if (head.userId !== userId) throw ProblemException.notFound('Job');
        const age = Date.now() - Date.parse(head.updatedAt);
        if (
          TERMINAL.includes(head.status) ||
          !(age > this.config.JOB_SNAPSHOT_RECHECK_MS) ||
          this.rechecked.has(jobId)
        ) {
          return head.jobBody();
        }
        const view = JSON.parse(head.jobJson()) as JobView;
        return JSON.stringify(await this.recheck(view, head.version, userId));
      }
    } catch (err) {
      if (err instanceof ProblemException) throw err;
      this.logger.warn(
        `status snapshot unavailable, reading PostgreSQL: ${(err as Error).message}`,
      );
    }
    return JSON.stringify(toView(await this.getOwned(jobId, userId)));
  }

  /**
   * Starts the snapshot read of a status poll alongside the guard's deny-list check (one Redis
   * round trip for both: JwtAuthGuard → PrefetchWithAuth); `readView` takes the result. Nothing
   * for a job id that is not a UUID (the route answers 404 without reading).
   */
  prefetchView(jobId: unknown): Promise<Buffer | null> | undefined {
    if (!isJobId(jobId)) return undefined;
    const read = this.redis.client.getBuffer(this.snapshotKey(jobId));
    read.catch(() => undefined); // awaited (and its error handled) by readView, if it runs
    return read;
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

  /** queued (or processing before classification) → processing at downloading. */
  async startDownload(jobId: string): Promise<JobEntity | undefined> {
    return this.announced(await this.repo.startDownload(jobId), 'processing');
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
  async saveCoaching(jobId: string, part: CoachingPart): Promise<JobEntity | undefined> {
    return this.announced(await this.repo.saveCoaching(jobId, part));
  }

  /** The nearby part folded in once. */
  async saveNearby(jobId: string, part: NearbyPart): Promise<JobEntity | undefined> {
    return this.announced(await this.repo.saveNearby(jobId, part));
  }

  /**
   * processing → completed in one PostgreSQL transaction with `alongside`'s writes (the history
   * row, the analytics event), which run only when the guarded UPDATE matched; they commit
   * together or not at all. The snapshot and the event go out after the commit, so no client
   * ever sees a state that was rolled back. With `lastPart`, that side step is folded into the
   * same UPDATE, which then only applies while it is the last one the job waits for.
   */
  async complete(
    jobId: string,
    totalMs: number | null,
    alongside: (job: JobEntity, m: EntityManager) => Promise<void>,
    lastPart?: SidePart,
  ): Promise<JobEntity | undefined> {
    const now = new Date();
    const completed = await this.repo.transaction(async (m) => {
      const done = lastPart
        ? await this.repo.completeWith(jobId, lastPart, now, totalMs, m)
        : await this.repo.complete(jobId, now, totalMs, m);
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
    // Only a newer version replaces the snapshot: concurrent stages may finish out of order.
    const write = (this.redis.client as WithSetIfNewer).wasteSnapshotSetIfNewer(
      this.snapshotKey(job.id),
      JSON.stringify({ userId: job.userId, version: job.version, job: view }),
      job.version,
      SNAPSHOT_TTL_S,
    );
    // Same tick, same connection: the event rides in the snapshot's write, right after it.
    const emitted = this.events.emit({ userId: job.userId, version: job.version, job: view });
    try {
      await write;
    } catch (err) {
      this.logger.warn(`snapshot for ${job.id} not written: ${(err as Error).message}`);
      if (this.unpublished.size < MAX_UNPUBLISHED) this.unpublished.add(job.id);
    }
    await emitted;
  }

  /**
   * Deletes the job's snapshot and says so on the events channel, so that no API process keeps
   * answering it from memory (StatusSnapshots; this process's own at once).
   */
  async forgetSnapshot(jobId: string): Promise<void> {
    for (const listener of this.forgetListeners) {
      try {
        listener(jobId);
      } catch (err) {
        this.logger.warn(`forget listener failed for ${jobId}: ${(err as Error).message}`);
      }
    }
    const deleted = this.redis.client.del(this.snapshotKey(jobId));
    await Promise.all([deleted, this.events.forgotten(jobId)]);
  }

  /** Called with the id of every job whose snapshot this process deletes. */
  onForget(listener: (jobId: string) => void): void {
    this.forgetListeners.push(listener);
  }

  emptyResult(): JobResult {
    return emptyJobResult();
  }
}
