import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { TaskHandler } from '../../../core/messaging/task-handler.decorator';
import { RoutingKey } from '../../../core/messaging/topology';
import { STORAGE_DRIVER, StorageDriver } from '../../../core/storage/storage.driver';
import { ImageCacheService } from '../../waste';
import { allKeys } from '../../waste';

const BATCH = 500;
/** Bounds one run; the next tick continues where this one stopped. */
const MAX_BATCHES = 200;

export interface ImageCleanupReport {
  /** Jobs whose images passed IMAGE_RETENTION_DAYS. */
  retained: number;
  /** Jobs of accounts that no longer exist (deleted, or a guest merged into another account). */
  orphaned: number;
}

export interface CacheCleanupReport {
  bandMembers: number;
  refreshTokens: number;
}

/** Scheduled housekeeping on the bulk role: what TTLs and the message paths do not cover. */
@Injectable()
export class CleanupHandlers {
  private readonly logger = new Logger(CleanupHandlers.name);

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly imageCache: ImageCacheService,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @TaskHandler(RoutingKey.SchedCleanupImages)
  async images(): Promise<ImageCleanupReport> {
    const report: ImageCleanupReport = { retained: 0, orphaned: 0 };
    // Past retention, and (the account purge's safety net) finished jobs whose account is gone.
    // Rows stay, marked images_deleted_at: the account purge removes a deleted account's rows.
    const due = [
      [
        'retained',
        `j.created_at < now() - make_interval(days => ${this.config.IMAGE_RETENTION_DAYS})`,
      ],
      [
        'orphaned',
        `j.status IN ('completed', 'failed', 'expired')
         AND NOT EXISTS (SELECT 1 FROM auth.users u WHERE u.id = j.user_id)`,
      ],
    ] as const;
    for (const [counter, condition] of due) {
      for (let i = 0; i < MAX_BATCHES; i++) {
        const rows = (await this.db.query(
          `SELECT j.id, j.user_id FROM waste.jobs j
            WHERE j.images_deleted_at IS NULL AND ${condition}
            ORDER BY j.created_at LIMIT ${BATCH}`,
        )) as { id: string; user_id: string }[];
        if (!rows.length) break;
        // Storage first: a crash in between leaves the rows unmarked and the next run retries.
        await this.storage.delete(rows.flatMap((r) => allKeys(r.user_id, r.id)));
        await this.db.query(
          `UPDATE waste.jobs SET images_deleted_at = now() WHERE id = ANY($1::uuid[])`,
          [rows.map((r) => r.id)],
        );
        report[counter] += rows.length;
      }
    }
    if (report.retained || report.orphaned) {
      this.logger.log(
        `images: ${report.retained} job(s) past ${this.config.IMAGE_RETENTION_DAYS} days, ${report.orphaned} job(s) of deleted accounts`,
      );
    }
    return report;
  }

  @TaskHandler(RoutingKey.SchedCleanupCache)
  async cache(): Promise<CacheCleanupReport> {
    // Band sets are refreshed on every store, so they outlive the entries they point at.
    const bandMembers = await this.imageCache.pruneBands();
    // Expired tokens stop mattering a day later (account deletion looks back one day); revoked
    // ones once the access tokens of their family have expired too.
    const [, refreshTokens] = (await this.db.query(
      `DELETE FROM auth.refresh_tokens
        WHERE expires_at < now() - interval '1 day'
           OR revoked_at < now() - make_interval(secs => greatest(86400, $1))`,
      [this.config.JWT_ACCESS_TTL],
    )) as [unknown, number];
    if (bandMembers || refreshTokens) {
      this.logger.log(
        `cache: ${bandMembers} stale image-cache band member(s), ${refreshTokens} refresh token(s)`,
      );
    }
    return { bandMembers, refreshTokens };
  }
}
