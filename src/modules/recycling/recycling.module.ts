import { Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../core/config/app-config';
import { CoachingService } from './coaching.service';
import { llmCoachProvider } from './coaching/llm-coach.factory';
import { loadKnowledgeBase } from './knowledge/knowledge-base.loader';
import { KNOWLEDGE_BASE, RecyclingService } from './recycling.service';
import { LocationsModule } from '../locations';
import { DataSource } from 'typeorm';
import { HomeRegionRepository } from '../users';
import { DisposalSchedulesRepository } from './schedules/disposal-schedules.repository';
import { ScheduleService } from './schedules/schedule.service';

/**
 * The recycling module (docs/architecture.md → Modules): the knowledge base (validated at boot;
 * a bad data file or ROBOFLOW_LABEL_MAP stops the process), item search, label mapping,
 * coaching, and district disposal days (ScheduleService, docs/schedules.md). RecyclingService,
 * CoachingService and ScheduleService are exported for the waste pipeline.
 */
@Module({
  imports: [LocationsModule],
  providers: [
    {
      provide: KNOWLEDGE_BASE,
      inject: [APP_CONFIG],
      useFactory: (cfg: AppConfig) =>
        loadKnowledgeBase({
          operatorMap: cfg.ROBOFLOW_LABEL_MAP
            ? { path: cfg.ROBOFLOW_LABEL_MAP, model: cfg.ROBOFLOW_MODEL }
            : undefined,
        }),
    },
    RecyclingService,
    llmCoachProvider,
    CoachingService,
    // Plain classes over a DataSource (the CSV import CLI builds the first without Nest); the
    // home region is the users module's row, read through the class it exports.
    {
      provide: DisposalSchedulesRepository,
      inject: [DataSource],
      useFactory: (ds: DataSource) => new DisposalSchedulesRepository(ds),
    },
    {
      provide: HomeRegionRepository,
      inject: [DataSource],
      useFactory: (ds: DataSource) => new HomeRegionRepository(ds),
    },
    ScheduleService,
  ],
  exports: [RecyclingService, CoachingService, ScheduleService],
})
export class RecyclingModule {}
