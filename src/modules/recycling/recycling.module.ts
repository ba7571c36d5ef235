import { DynamicModule, Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../core/config/app-config';
import { servesHttp } from '../../core/config/roles';
import { CoachingService } from './coaching.service';
import { LlmCoachClient } from './coaching/llm-coach.client';
import { loadKnowledgeBase } from './knowledge/knowledge-base.loader';
import { RecyclingController } from './recycling.controller';
import { KNOWLEDGE_BASE, RecyclingService } from './recycling.service';
import { LocationsModule } from '../locations/locations.module';
import { SampleScheduleLoader } from './schedules/sample-schedule.loader';
import { ScheduleController } from './schedules/schedule.controller';
import { ScheduleService } from './schedules/schedule.service';

/**
 * The recycling module (see DESIGN.md → Modules): the knowledge base (validated at boot; a bad
 * data file or ROBOFLOW_LABEL_MAP stops the process), item search, label mapping and coaching.
 * RecyclingService, CoachingService and ScheduleService (district disposal days, docs/schedules.md)
 * are exported for the waste pipeline in every role but beat.
 */
@Module({})
export class RecyclingModule {
  static forRole(config: AppConfig): DynamicModule {
    const http = servesHttp(config.APP_ROLE) && config.API_MODULES.includes('recycling');
    return {
      module: RecyclingModule,
      imports: [LocationsModule.forRole(config)],
      controllers: http ? [RecyclingController, ScheduleController] : [],
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
        LlmCoachClient,
        CoachingService,
        ScheduleService,
        ...(config.APP_ROLE === 'all' && config.SCHEDULES_SAMPLE_DATA
          ? [SampleScheduleLoader]
          : []),
      ],
      exports: [RecyclingService, CoachingService, ScheduleService],
    };
  }
}
