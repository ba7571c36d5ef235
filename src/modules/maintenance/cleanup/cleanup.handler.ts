import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { TaskHandler } from '../../../core/messaging/task-handler.decorator';
import { RoutingKey } from '../../../core/messaging/topology';
import { TokenService } from '../../auth';
import { ImageCacheService, JobImagesService } from '../../waste';

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
    private readonly imageCache: ImageCacheService,
    private readonly jobImages: JobImagesService,
    private readonly tokens: TokenService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @TaskHandler(RoutingKey.SchedCleanupImages)
  async images(): Promise<ImageCleanupReport> {
    // Past retention, and (the account purge's safety net) finished jobs whose account is gone.
    const retained = await this.jobImages.deletePastRetention(
      this.config.IMAGE_RETENTION_DAYS,
      MAX_BATCHES,
    );
    const orphaned = await this.jobImages.deleteOfMissingAccounts(MAX_BATCHES);
    if (retained || orphaned) {
      this.logger.log(
        `images: ${retained} job(s) past ${this.config.IMAGE_RETENTION_DAYS} days, ${orphaned} job(s) of deleted accounts`,
      );
    }
    return { retained, orphaned };
  }

  @TaskHandler(RoutingKey.SchedCleanupCache)
  async cache(): Promise<CacheCleanupReport> {
    // Band sets are refreshed on every store, so they outlive the entries they point at.
    const bandMembers = await this.imageCache.pruneBands();
    // Spent and revoked refresh tokens, once they cannot matter (the auth module's rule).
    const refreshTokens = await this.tokens.pruneRefreshTokens();
    if (bandMembers || refreshTokens) {
      this.logger.log(
        `cache: ${bandMembers} stale image-cache band member(s), ${refreshTokens} refresh token(s)`,
      );
    }
    return { bandMembers, refreshTokens };
  }
}
