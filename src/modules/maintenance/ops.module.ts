import { DynamicModule, Module, Provider, Type } from '@nestjs/common';
import { AppConfig } from '../../core/config/app-config';
import { runsWorker, servesHttp } from '../../core/config/roles';
import { StorageModule } from '../../core/storage/storage.module';
import { ImageCacheService } from '../waste/pipeline/image-cache.service';
import { AdminGuard } from './admin.guard';
import { AnalyticsHandlers } from './analytics/analytics.handlers';
import { DailyStatsController } from './analytics/daily-stats.controller';
import { DailyStatsMetrics } from './analytics/daily-stats.metrics';
import { DailyStatsService } from './analytics/daily-stats.service';
import { CleanupHandlers } from './cleanup/cleanup.handlers';
import { DlqController } from './dlq/dlq.controller';
import { DlqMetrics, dlqServiceProvider } from './dlq/dlq.provider';

/**
 * The back office: the q.dlq gauge in every role; the admin endpoints (dead letters, daily
 * stats) on HTTP roles serving API_MODULES `admin`; analytics, daily stats and scheduled cleanup
 * on the bulk role. The clock itself is BeatModule.
 */
@Module({})
export class OpsModule {
  static forRole(config: AppConfig): DynamicModule {
    const role = config.APP_ROLE;
    const http = servesHttp(role) && config.API_MODULES.includes('admin');
    const bulk = runsWorker(role, 'bulk');
    const providers = new Set<Provider>([dlqServiceProvider, DlqMetrics]);
    const controllers: Type[] = [];
    if (http) {
      controllers.push(DlqController, DailyStatsController);
      [AdminGuard, DailyStatsService].forEach((p) => providers.add(p));
    }
    if (bulk) {
      [
        DailyStatsService,
        DailyStatsMetrics,
        AnalyticsHandlers,
        CleanupHandlers,
        ImageCacheService,
      ].forEach((p) => providers.add(p));
    }
    return {
      module: OpsModule,
      imports: bulk ? [StorageModule] : [],
      controllers,
      providers: [...providers],
    };
  }
}
