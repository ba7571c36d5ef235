import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { JobEntity } from './job.entity';
import { Coaching, JobResult, JobStage, JobStatus, StageTimings } from './job.types';
import { prepared } from '../../../core/database/prepared';
import { rowMapper } from './row-mapper';

/** What a state change may set directly (column names and types come from JobEntity). */
const UPDATABLE = [
  'status',
  'stage',
  'progress',
  'imageSha256',
  'imagePhash',
  'result',
  'errorCode',
  'errorMessage',
  'correction',
  'queuedAt',
  'finishedAt',
  'finalizedAt',
  'imagesDeletedAt',
] as const satisfies readonly (keyof JobEntity)[];

type JobPatch = Partial<Pick<JobEntity, (typeof UPDATABLE)[number]>>;

interface UpdateOptions {
  /** Only update while the job is in one of these statuses (optimistic state machine). */
  from?: JobStatus[];
  /** Merged into `timings`. */
  timings?: StageTimings;
  /** jsonb_set edits of `result`: path → value. */
  resultSet?: Record<string, unknown>;
  /** Only while the job's stage is one of these (`null`: no stage, e.g. queued). */
  stages?: (JobStage | null)[];
  /** Only while these side steps are not in `result` yet (coaching and nearby run side by side). */
  pending?: ('coaching' | 'nearby')[];
  /**
   * Only when this side step is the last one the job waits for: coaching, when the job has no
   * location or its nearby points are in; nearby, when its coaching is in.
   */
  lastPart?: 'coaching' | 'nearby';
  /** Only if the job has not changed since this instant (nothing happened after a message was sent). */
  unchangedSince?: Date;
}

/** The coaching side step (and the district's days computed beside it). */
export interface CoachingPart {
  coaching: Coaching;
  schedule: unknown;
  coachingMs: number;
}

/** The nearby side step. */
export interface NearbyPart {
  nearby: unknown[];
  nearbyMs: number;
}

export type SidePart = ({ part: 'coaching' } & CoachingPart) | ({ part: 'nearby' } & NearbyPart);

/** How each side step is folded into `result` and `timings`. */
const coachingSet = (part: CoachingPart) => ({
  resultSet: {
    coaching: part.coaching,
    schedule: part.schedule ?? null,
    'timings,coachingMs': part.coachingMs,
  },
  timings: { coaching: part.coachingMs },
});
const nearbySet = (part: NearbyPart) => ({
  resultSet: { nearby: part.nearby },
  timings: { nearby: part.nearbyMs },
});

const FINISHED = `status IN ('completed', 'failed', 'expired')`;

/** The conditions a state change may be guarded by (fail takes them from its caller). */
export type JobGuard = Pick<UpdateOptions, 'from' | 'stages' | 'pending' | 'unchangedSince'>;

/** Where a write runs: the data source, or a transaction's EntityManager. */
export type Queryable = Pick<EntityManager, 'query'>;

/** What the fast stage learnt of the photo (image-processing's hashes). */
export interface Fingerprint {
  imageSha256: string;
  imagePhash: string;
}

/** The stages before classification, which the download step (re)starts from the photo. */
export const EARLY_STAGES: readonly JobStage[] = ['downloading', 'hashing', 'preprocessing'];

/** Progress shown for each stage (docs/api.md: stage + progress on every transition). */
export const STAGE_PROGRESS: Record<JobStage, number> = {
  downloading: 10,
  hashing: 20,
  preprocessing: 30,
  classifying: 40,
  guiding: 60,
  coaching: 70,
  saving: 90,
};

/**
 * The waste module's SQL over waste.jobs: one place that reads and writes job rows (JobsService
 * adds the snapshot, the events and the state machine's rules on top). Every state change is its
 * own method: one guarded UPDATE that returns the new row, or undefined when the guard did not
 * hold (another process moved the job on). Each takes an optional `db` so it can run inside a
 * transaction with other writes (the completion commits with the history row and analytics).
 * Rows are mapped by the entity's own metadata (row-mapper.ts).
 */
@Injectable()
export class JobsRepository {
  private readonly toEntity: (row: Record<string, unknown>) => JobEntity;
  /** Property → column (and whether it is jsonb), for the columns a change may set. */
  private readonly columns: Map<string, { name: string; json: boolean }>;
  /** The same for every column, which an insert may set. */
  private readonly insertable: Map<string, { name: string; json: boolean }>;
  /** Every column by name, for SELECT and RETURNING: never `*` in a prepared statement. */
  private readonly all: string;

  constructor(@InjectDataSource() private readonly db: DataSource) {
    const { columns } = db.getMetadata(JobEntity);
    this.toEntity = rowMapper(JobEntity, columns);
    this.all = columns.map((c) => c.databaseName).join(', ');
    this.insertable = new Map(
      columns.map((c) => [c.propertyName, { name: c.databaseName, json: c.type === 'jsonb' }]),
    );
    this.columns = new Map(
      [...this.insertable].filter(([p]) => (UPDATABLE as readonly string[]).includes(p)),
    );
  }

  /**
   * One INSERT … RETURNING the row (columns left out take their defaults). TypeORM's save() cost four
   * round trips here (START TRANSACTION, INSERT, COMMIT, then the SELECT for the defaults) and
   * its query builder most of analyze's CPU.
   */
  async insert(job: Partial<JobEntity>): Promise<JobEntity> {
    const cols: string[] = [];
    const values: string[] = [];
    const params: unknown[] = [];
    for (const [k, v] of Object.entries(job)) {
      if (v === undefined) continue;
      const col = this.insertable.get(k);
      if (!col) throw new Error(`not a job column: ${k}`);
      params.push(col.json ? JSON.stringify(v) : v);
      cols.push(col.name);
      values.push(`$${params.length}${col.json ? '::jsonb' : ''}`);
    }
    const rows = (await this.db.query(
      prepared(
        `INSERT INTO waste.jobs (${cols.join(', ')}) VALUES (${values.join(', ')}) RETURNING ${this.all}`,
      ),
      params,
    )) as Record<string, unknown>[];
    return this.toEntity(rows[0]);
  }

  async get(jobId: string): Promise<JobEntity | undefined> {
    const rows = (await this.db.query(
      prepared(`SELECT ${this.all} FROM waste.jobs WHERE id = $1`),
      [jobId],
    )) as Record<string, unknown>[];
    return rows[0] ? this.toEntity(rows[0]) : undefined;
  }

  /** Runs `fn` in one PostgreSQL transaction (the state change and the writes that go with it). */
  transaction<T>(fn: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  // ---- state changes (docs/pipeline.md → State) ----

  /** awaiting_upload → expired: the upload link ran out before a photo arrived. */
  expireUpload(jobId: string, at: Date, db: Queryable = this.db) {
    return this.update(
      db,
      jobId,
      { status: 'expired', finishedAt: at },
      { from: ['awaiting_upload'] },
    );
  }

  /** awaiting_upload → queued: the photo is in, the download message is next. */
  markQueued(jobId: string, at: Date, db: Queryable = this.db) {
    return this.update(
      db,
      jobId,
      { status: 'queued', progress: 5, queuedAt: at },
      { from: ['awaiting_upload'] },
    );
  }

  /** queued → awaiting_upload: the broker refused the download message; the app may retry. */
  unqueue(jobId: string, db: Queryable = this.db) {
    return this.update(
      db,
      jobId,
      { status: 'awaiting_upload', progress: 0, queuedAt: null },
      { from: ['queued'] },
    );
  }

  /** queued|processing → processing at `stage`, with the stage's progress; `timings` merged. */
  startStage(jobId: string, stage: JobStage, timings?: StageTimings, db: Queryable = this.db) {
    return this.update(
      db,
      jobId,
      { status: 'processing', stage, progress: STAGE_PROGRESS[stage] },
      { from: ['queued', 'processing'], timings },
    );
  }

  /**
   * queued (or processing before classification: a redelivery) → processing at downloading. The
   * download step's own guard, so it needs no read first: a job past its early stages, ended or
   * gone matches nothing.
   */
  startDownload(jobId: string, db: Queryable = this.db) {
    return this.update(
      db,
      jobId,
      { status: 'processing', stage: 'downloading', progress: STAGE_PROGRESS.downloading },
      { from: ['queued', 'processing'], stages: [null, ...EARLY_STAGES] },
    );
  }

  /** processing → classifying: the fingerprint is known, the vision copy is stored. */
  markClassifying(
    jobId: string,
    fingerprint: Fingerprint,
    timings: StageTimings,
    db: Queryable = this.db,
  ) {
    return this.update(
      db,
      jobId,
      { stage: 'classifying', progress: STAGE_PROGRESS.classifying, ...fingerprint },
      { from: ['processing'], timings },
    );
  }

  /** processing → coaching with the guidance of a cached answer for the same (or a similar) photo. */
  recordCachedGuidance(
    jobId: string,
    result: JobResult,
    fingerprint: Fingerprint,
    timings: StageTimings,
    db: Queryable = this.db,
  ) {
    return this.update(
      db,
      jobId,
      { stage: 'coaching', progress: STAGE_PROGRESS.coaching, ...fingerprint, result },
      { from: ['processing'], timings },
    );
  }

  /** classifying → coaching with the guidance of what vision saw. */
  recordVisionGuidance(
    jobId: string,
    result: JobResult,
    timings: StageTimings,
    db: Queryable = this.db,
  ) {
    return this.update(
      db,
      jobId,
      { stage: 'coaching', progress: STAGE_PROGRESS.coaching, result },
      { from: ['processing'], stages: ['classifying'], timings },
    );
  }

  /** The coaching part arrived (once: only while the result has none) → saving. */
  saveCoaching(jobId: string, part: CoachingPart, db: Queryable = this.db) {
    return this.update(
      db,
      jobId,
      { stage: 'saving', progress: STAGE_PROGRESS.saving },
      { from: ['processing'], pending: ['coaching'], ...coachingSet(part) },
    );
  }

  /** The nearby part arrived (once: only while the result has none); stage unchanged. */
  saveNearby(jobId: string, part: NearbyPart, db: Queryable = this.db) {
    return this.update(
      db,
      jobId,
      {},
      { from: ['processing'], pending: ['nearby'], ...nearbySet(part) },
    );
  }

  /** processing → completed (finished and finalized at `at`), with the total time if known. */
  complete(jobId: string, at: Date, totalMs: number | null, db: Queryable = this.db) {
    return this.update(
      db,
      jobId,
      { status: 'completed', stage: null, progress: 100, finishedAt: at, finalizedAt: at },
      {
        from: ['processing'],
        resultSet: { 'timings,totalMs': totalMs },
        timings: totalMs === null ? undefined : { total: totalMs },
      },
    );
  }

  /**
   * processing → completed with the last side step folded in, in the same UPDATE (a saveCoaching
   * or saveNearby and then complete, without the write in between): only while that part is
   * still pending and the job waits for nothing else. Undefined otherwise — the part is then
   * saved on its own and the job completes when the other one arrives.
   */
  completeWith(
    jobId: string,
    part: SidePart,
    at: Date,
    totalMs: number | null,
    db: Queryable = this.db,
  ) {
    const folded = part.part === 'coaching' ? coachingSet(part) : nearbySet(part);
    return this.update(
      db,
      jobId,
      { status: 'completed', stage: null, progress: 100, finishedAt: at, finalizedAt: at },
      {
        from: ['processing'],
        pending: [part.part],
        lastPart: part.part,
        resultSet: { ...folded.resultSet, 'timings,totalMs': totalMs },
        timings: { ...folded.timings, ...(totalMs === null ? {} : { total: totalMs }) },
      },
    );
  }

  /** Any unfinished status → failed with a machine-readable code, while `guard` also holds. */
  fail(
    jobId: string,
    error: { code: string; message: string },
    at: Date,
    guard: JobGuard = {},
    db: Queryable = this.db,
  ) {
    return this.update(
      db,
      jobId,
      {
        status: 'failed',
        stage: null,
        errorCode: error.code,
        errorMessage: error.message.slice(0, 500),
        finishedAt: at,
      },
      { from: ['awaiting_upload', 'queued', 'processing'], ...guard },
    );
  }

  /** A completed job's user correction: its new result and what was corrected. */
  correct(jobId: string, result: JobResult, correction: unknown, db: Queryable = this.db) {
    return this.update(db, jobId, { result, correction }, { from: ['completed'] });
  }

  /**
   * One guarded UPDATE on `db`: the patch, merged timings and result edits, only while the guard
   * holds; the version is bumped. Undefined when the guard did not hold.
   */
  private async update(
    db: Queryable,
    jobId: string,
    patch: JobPatch,
    opts: UpdateOptions = {},
  ): Promise<JobEntity | undefined> {
    const sets: string[] = ['version = version + 1', 'updated_at = now()'];
    const params: unknown[] = [jobId];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    for (const [k, v] of Object.entries(patch)) {
      const col = this.columns.get(k);
      if (!col) throw new Error(`not an updatable job column: ${k}`);
      sets.push(
        col.json ? `${col.name} = ${p(JSON.stringify(v))}::jsonb` : `${col.name} = ${p(v)}`,
      );
    }
    if (opts.timings) sets.push(`timings = timings || ${p(JSON.stringify(opts.timings))}::jsonb`);
    if (opts.resultSet) {
      let expr = 'result';
      for (const [path, value] of Object.entries(opts.resultSet)) {
        expr = `jsonb_set(${expr}, ${p(`{${path}}`)}::text[], ${p(JSON.stringify(value))}::jsonb, true)`;
      }
      sets.push(`result = ${expr}`);
    }
    const where = ['id = $1'];
    if (opts.from) where.push(`status = ANY(${p(opts.from)}::text[])`);
    if (opts.stages) {
      const named = opts.stages.filter((x): x is JobStage => x !== null);
      const orNull = opts.stages.includes(null) ? 'stage IS NULL OR ' : '';
      where.push(`(${orNull}stage = ANY(${p(named)}::text[]))`);
    }
    for (const part of opts.pending ?? []) {
      // A fixed key from the union above, never caller text.
      where.push(`result->'${part === 'coaching' ? 'coaching' : 'nearby'}' = 'null'::jsonb`);
    }
    if (opts.lastPart === 'coaching') {
      where.push(`(lat IS NULL OR result->'nearby' <> 'null'::jsonb)`);
    } else if (opts.lastPart === 'nearby') {
      where.push(`result->'coaching' <> 'null'::jsonb`);
    }
    if (opts.unchangedSince) where.push(`updated_at <= ${p(opts.unchangedSince)}::timestamptz`);
    const rows = (await db.query(
      prepared(
        `UPDATE waste.jobs SET ${sets.join(', ')} WHERE ${where.join(' AND ')} RETURNING ${this.all}`,
      ),
      params,
    )) as [Record<string, unknown>[], number];
    const row = rows[0]?.[0];
    return row ? this.toEntity(row) : undefined;
  }

  /** Up to `limit` job ids of one account (the account purge, batch by batch). */
  async idsOfUser(userId: string, limit: number): Promise<string[]> {
    const rows = (await this.db.query('SELECT id FROM waste.jobs WHERE user_id = $1 LIMIT $2', [
      userId,
      limit,
    ])) as { id: string }[];
    return rows.map((r) => r.id);
  }

  async delete(ids: string[]): Promise<void> {
    await this.db.query('DELETE FROM waste.jobs WHERE id = ANY($1::uuid[])', [ids]);
  }

  /** Jobs still waiting for an upload whose link expired over a minute ago. */
  async uploadsExpired(limit: number): Promise<string[]> {
    const rows = (await this.db.query(
      `SELECT id FROM waste.jobs WHERE status = 'awaiting_upload' AND upload_expires_at < now() - interval '1 minute' LIMIT $1`,
      [limit],
    )) as { id: string }[];
    return rows.map((r) => r.id);
  }

  /**
   * Storage keys of jobs that ended before their upload link expired, the expiry now between a
   * minute and `minutes` ago: a PUT straight to object storage after the end may have written
   * their original again (docs/pipeline.md → Storage drivers). The window spans several
   * watchdog ticks so a missed tick still catches each job.
   */
  async linksOutlivedJob(minutes: number, limit: number): Promise<string[]> {
    const rows = (await this.db.query(
      `SELECT storage_key FROM waste.jobs WHERE ${FINISHED} AND finished_at < upload_expires_at
          AND upload_expires_at < now() - interval '1 minute'
          AND upload_expires_at > now() - make_interval(mins => $1) LIMIT $2`,
      [minutes, limit],
    )) as { storage_key: string }[];
    return rows.map((r) => r.storage_key);
  }

  /** Queued or processing jobs without a change for `seconds`. */
  async unchangedFor(seconds: number, limit: number): Promise<string[]> {
    const rows = (await this.db.query(
      `SELECT id FROM waste.jobs WHERE status IN ('queued', 'processing')
          AND updated_at < now() - make_interval(secs => $1) LIMIT $2`,
      [seconds, limit],
    )) as { id: string }[];
    return rows.map((r) => r.id);
  }

  /** Accounts with finished jobs whose images are still stored. */
  async usersWithStoredImages(): Promise<string[]> {
    const rows = (await this.db.query(
      `SELECT DISTINCT user_id FROM waste.jobs WHERE images_deleted_at IS NULL AND ${FINISHED}`,
    )) as { user_id: string }[];
    return rows.map((r) => r.user_id);
  }

  /** Up to `limit` jobs with stored images, oldest first: older than `days`, or finished ones of `users`. */
  async withStoredImages(
    rule: { olderThanDays: number } | { finishedOf: string[] },
    limit: number,
  ): Promise<{ id: string; userId: string }[]> {
    const [condition, param] =
      'olderThanDays' in rule
        ? [`created_at < now() - make_interval(days => $1)`, rule.olderThanDays]
        : [`${FINISHED} AND user_id = ANY($1::uuid[])`, rule.finishedOf];
    const rows = (await this.db.query(
      `SELECT id, user_id FROM waste.jobs
        WHERE images_deleted_at IS NULL AND ${condition}
        ORDER BY created_at LIMIT $2`,
      [param, limit],
    )) as { id: string; user_id: string }[];
    return rows.map((r) => ({ id: r.id, userId: r.user_id }));
  }

  async markImagesDeleted(ids: string[]): Promise<void> {
    await this.db.query(
      `UPDATE waste.jobs SET images_deleted_at = now() WHERE id = ANY($1::uuid[])`,
      [ids],
    );
  }
}
