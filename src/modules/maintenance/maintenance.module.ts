import { Module } from '@nestjs/common';
import { AnalyticsRepository } from './analytics/analytics.repository';
import { DailyStatsService } from './analytics/daily-stats.service';
import { OpsModule } from './ops.module';

/**
 * The back office over the database (docs/operations.md): daily statistics for the admin
 * endpoints and the bulk tasks. Which roles serve the admin controllers and run analytics and
 * cleanup is decided in src/app/app.module.ts.
 */
@Module({
  imports: [OpsModule],
  providers: [AnalyticsRepository, DailyStatsService],
  exports: [DailyStatsService, OpsModule],
})
export class MaintenanceModule {}
