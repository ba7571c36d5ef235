import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { Metrics } from '../../../core/observability/metrics';
import { AuthUser } from '../../auth';
import { JobEntity } from '../jobs/job.entity';
import { ClassifiedItem } from '../jobs/job.types';
import { ImageCacheService } from './image-cache.service';

export interface CorrectionGroup {
  imageSha256: string;
  categoryIds: string[];
  /** Distinct registered accounts that gave this answer (what the consensus counts). */
  accounts: number;
  /** Every correction with this answer, guests' included. */
  signals: number;
  lastAt: string;
  /** The most recent job with this answer (what `accept` takes). */
  jobId: string;
}

/**
 * Corrections are signals, not writes to what everyone gets (docs/pipeline.md → Corrections).
 * Each correction is stored per job; the shared image cache takes a corrected answer only once
 * CORRECTION_CONSENSUS_ACCOUNTS distinct registered accounts gave that same answer for the same
 * photo, or an operator accepts one (`POST /admin/corrections/{jobId}/accept`). Guests never
 * count: one client can mint guests by the dozen (30 a minute per IP).
 */
@Injectable()
export class CorrectionSignals {
  private readonly logger = new Logger(CorrectionSignals.name);
  private readonly promoted;

  constructor(
    private readonly db: DataSource,
    private readonly cache: ImageCacheService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    metrics: Metrics,
  ) {
    this.promoted = metrics.counter(
      'waste_correction_consensus_total',
      'Corrected answers that reached consensus and replaced the shared image-cache entry',
      [],
    );
  }

  /** Answers given for photos, grouped, most agreed first (the operators' review list). */
  async pending(limit: number): Promise<CorrectionGroup[]> {
    const rows = (await this.db.query(
      `SELECT image_sha256, answer,
              count(DISTINCT user_id) FILTER (WHERE counts)::int AS accounts,
              count(*)::int AS signals,
              max(created_at) AS last_at,
              (array_agg(job_id ORDER BY created_at DESC))[1] AS job_id
         FROM waste.correction_signals
        GROUP BY image_sha256, answer
        ORDER BY accounts DESC, last_at DESC
        LIMIT $1`,
      [limit],
    )) as {
      image_sha256: string;
      answer: string;
      accounts: number;
      signals: number;
      last_at: Date;
      job_id: string;
    }[];
    return rows.map((r) => ({
      imageSha256: r.image_sha256,
      categoryIds: r.answer.split(','),
      accounts: r.accounts,
      signals: r.signals,
      lastAt: new Date(r.last_at).toISOString(),
      jobId: r.job_id,
    }));
  }

  /** An operator's review: the correction of `jobId` becomes the answer everyone gets. */
  async accept(jobId: string): Promise<CorrectionGroup | undefined> {
    const [row] = (await this.db.query(
      `SELECT image_sha256, image_phash, answer, items FROM waste.correction_signals WHERE job_id = $1`,
      [jobId],
    )) as { image_sha256: string; image_phash: string; answer: string; items: ClassifiedItem[] }[];
    if (!row) return undefined;
    await this.cache.store(row.image_sha256, row.image_phash, {
      items: row.items,
      model: 'correction',
      visionMs: null,
      source: 'operator',
    });
    this.logger.log(`image ${row.image_sha256.slice(0, 12)}: operator accepted "${row.answer}"`);
    const [group] = (await this.pending(1_000)).filter(
      (g) => g.imageSha256 === row.image_sha256 && g.categoryIds.join(',') === row.answer,
    );
    return group;
  }

  /** Stores the signal; true when it completed a consensus and the shared entry now carries it. */
  async record(job: JobEntity, user: AuthUser, items: ClassifiedItem[]): Promise<boolean> {
    if (!job.imageSha256 || !job.imagePhash) return false;
    const answer = items.map((i) => i.categoryId).join(',');
    const counts = !user.isGuest;
    await this.db.query(
      `INSERT INTO waste.correction_signals (job_id, user_id, image_sha256, image_phash, answer, items, counts)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
       ON CONFLICT (job_id) DO UPDATE SET answer = EXCLUDED.answer, items = EXCLUDED.items,
         counts = EXCLUDED.counts, created_at = now()`,
      [job.id, user.id, job.imageSha256, job.imagePhash, answer, JSON.stringify(items), counts],
    );
    const needed = this.config.CORRECTION_CONSENSUS_ACCOUNTS;
    if (!needed || !counts) return false;
    const [{ accounts }] = (await this.db.query(
      `SELECT count(DISTINCT user_id)::int AS accounts FROM waste.correction_signals
        WHERE image_sha256 = $1 AND answer = $2 AND counts`,
      [job.imageSha256, answer],
    )) as { accounts: number }[];
    if (accounts < needed) return false;
    await this.cache.store(job.imageSha256, job.imagePhash, {
      items,
      model: 'correction',
      visionMs: null,
      source: 'consensus',
    });
    this.promoted.inc();
    this.logger.log(
      `image ${job.imageSha256.slice(0, 12)}: ${accounts} accounts agree on "${answer}"; shared answer replaced`,
    );
    return true;
  }
}
