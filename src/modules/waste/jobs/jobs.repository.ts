import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { JobEntity } from './job.entity';
import { JobStage, JobStatus, StageTimings } from './job.types';

const COLUMNS: Record<string, string> = {
  status: 'status',
  stage: 'stage',
  progress: 'progress',
  imageSha256: 'image_sha256',
  imagePhash: 'image_phash',
  result: 'result',
  errorCode: 'error_code',
  errorMessage: 'error_message',
  correction: 'correction',
  queuedAt: 'queued_at',
  finishedAt: 'finished_at',
  finalizedAt: 'finalized_at',
  imagesDeletedAt: 'images_deleted_at',
};

/** Every column an insert may set (the rest of COLUMNS plus the creation-time ones). */
const INSERT_COLUMNS: Record<string, string> = {
  ...COLUMNS,
  id: 'id',
  userId: 'user_id',
  version: 'version',
  contentType: 'content_type',
  contentLength: 'content_length',
  hint: 'hint',
  locale: 'locale',
  lat: 'lat',
  lng: 'lng',
  storageKey: 'storage_key',
  uploadExpiresAt: 'upload_expires_at',
  timings: 'timings',
};
/** jsonb columns (property and column names are the same). */
const JSONB = new Set(['result', 'correction', 'timings']);

export type JobPatch = Partial<Pick<JobEntity, keyof typeof COLUMNS & keyof JobEntity>>;

export interface UpdateOptions {
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
  /** Only if the job has not changed since this instant (nothing happened after a message was sent). */
  unchangedSince?: Date;
}

/** The conditions a state change may be guarded by, besides its own `from` statuses. */
const FINISHED = `status IN ('completed', 'failed', 'expired')`;

export type JobGuard = Pick<UpdateOptions, 'from' | 'stages' | 'pending' | 'unchangedSince'>;

function rowToEntity(r: Record<string, unknown>): JobEntity {
  const e = new JobEntity();
  Object.assign(e, {
    id: r.id,
    userId: r.user_id,
    status: r.status,
    stage: r.stage,
    progress: Number(r.progress),
    version: Number(r.version),
    contentType: r.content_type,
    contentLength: Number(r.content_length),
    hint: r.hint,
    locale: r.locale,
    lat: r.lat === null ? null : Number(r.lat),
    lng: r.lng === null ? null : Number(r.lng),
    storageKey: r.storage_key,
    uploadExpiresAt: r.upload_expires_at,
    imageSha256: r.image_sha256,
    imagePhash: r.image_phash,
    result: r.result,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    timings: r.timings ?? {},
    correction: r.correction,
    queuedAt: r.queued_at,
    finishedAt: r.finished_at,
    finalizedAt: r.finalized_at,
    imagesDeletedAt: r.images_deleted_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  });
  return e;
}

/**
 * The waste module's SQL over waste.jobs: one place that reads and writes job rows (JobsService
 * adds the snapshot, the events and the state machine's rules on top).
 */
@Injectable()
export class JobsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * One INSERT … RETURNING * (columns left out take their defaults). TypeORM's save() cost four
   * round trips here (START TRANSACTION, INSERT, COMMIT, then the SELECT for the defaults) and
   * its query builder most of analyze's CPU.
   */
  async insert(job: Partial<JobEntity>): Promise<JobEntity> {
    const cols: string[] = [];
    const params: unknown[] = [];
    for (const [k, v] of Object.entries(job)) {
      if (v === undefined) continue;
      const col = INSERT_COLUMNS[k];
      if (!col) throw new Error(`not an insertable job column: ${k}`);
      const json = JSONB.has(k);
      params.push(json ? JSON.stringify(v) : v);
      cols.push(col);
    }
    const values = cols.map((c, i) => `$${i + 1}${JSONB.has(c) ? '::jsonb' : ''}`);
    const rows = (await this.db.query(
      `INSERT INTO waste.jobs (${cols.join(', ')}) VALUES (${values.join(', ')}) RETURNING *`,
      params,
    )) as Record<string, unknown>[];
    return rowToEntity(rows[0]);
  }

  async get(jobId: string): Promise<JobEntity | undefined> {
    const rows = (await this.db.query('SELECT * FROM waste.jobs WHERE id = $1', [jobId])) as Record<
      string,
      unknown
    >[];
    return rows[0] ? rowToEntity(rows[0]) : undefined;
  }

  /**
   * One guarded UPDATE on `db` (the data source, or a transaction's EntityManager): the patch,
   * merged timings and result edits, only while the guard holds. Undefined when it did not.
   */
  async update(
    db: Pick<EntityManager, 'query'>,
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
      const col = COLUMNS[k];
      if (!col) throw new Error(`not an updatable job column: ${k}`);
      sets.push(
        `${col} = ${p(k === 'result' || k === 'correction' ? JSON.stringify(v) : v)}${k === 'result' || k === 'correction' ? '::jsonb' : ''}`,
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
    if (opts.unchangedSince) where.push(`updated_at <= ${p(opts.unchangedSince)}::timestamptz`);
    const rows = (await db.query(
      `UPDATE waste.jobs SET ${sets.join(', ')} WHERE ${where.join(' AND ')} RETURNING *`,
      params,
    )) as [Record<string, unknown>[], number];
    const row = rows[0]?.[0];
    return row ? rowToEntity(row) : undefined;
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
