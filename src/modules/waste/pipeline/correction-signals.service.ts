import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { Metrics } from '../../../core/observability/metrics';
import { AuthUser } from '../../auth';
import { JobEntity } from '../jobs/job.entity';
import { ClassifiedItem } from '../jobs/job.types';
import { CorrectionSignalsRepository } from './correction-signals.repository';
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
    private readonly repo: CorrectionSignalsRepository,
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
    const rows = await this.repo.groups(limit);
    return rows.map((r) => ({
      imageSha256: r.imageSha256,
      categoryIds: r.answer.split(','),
      accounts: r.accounts,
      signals: r.signals,
      lastAt: new Date(r.lastAt).toISOString(),
      jobId: r.jobId,
    }));
  }

  /** An operator's review: the correction of `jobId` becomes the answer everyone gets. */
  async accept(jobId: string): Promise<CorrectionGroup | undefined> {
    const row = await this.repo.ofJob(jobId);
    if (!row) return undefined;
    await this.cache.store(row.imageSha256, row.imagePhash, {
      items: row.items,
      model: 'correction',
      visionMs: null,
      source: 'operator',
    });
    this.logger.log(`image ${row.imageSha256.slice(0, 12)}: operator accepted "${row.answer}"`);
    const [group] = (await this.pending(1_000)).filter(
      (g) => g.imageSha256 === row.imageSha256 && g.categoryIds.join(',') === row.answer,
    );
    return group;
  }

  /** Stores the signal; true when it completed a consensus and the shared entry now carries it. */
  async record(job: JobEntity, user: AuthUser, items: ClassifiedItem[]): Promise<boolean> {
    if (!job.imageSha256 || !job.imagePhash) return false;
    const answer = items.map((i) => i.categoryId).join(',');
    const counts = !user.isGuest;
    await this.repo.upsert({
      jobId: job.id,
      userId: user.id,
      imageSha256: job.imageSha256,
      imagePhash: job.imagePhash,
      answer,
      items,
      counts,
    });
    const needed = this.config.CORRECTION_CONSENSUS_ACCOUNTS;
    if (!needed || !counts) return false;
    const accounts = await this.repo.accountsAgreeing(job.imageSha256, answer);
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
