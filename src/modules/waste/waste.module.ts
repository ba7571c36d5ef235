import { DynamicModule, Module, Provider } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { APP_CONFIG, AppConfig } from '../../core/config/app-config';
import { runsWorker, servesHttp } from '../../core/config/roles';
import { StorageModule } from '../../core/storage/storage.module';
import { LocationsModule } from '../locations/locations.module';
import { RecyclingModule } from '../recycling/recycling.module';
import { RecyclingService } from '../recycling/recycling.service';
import { UsersModule } from '../users/users.module';
import { AnalysisService } from './analysis.service';
import { JobEntity } from './jobs/job.entity';
import { JobEventsEmitter, JobEventsHub } from './jobs/job-events';
import { JobsService } from './jobs/jobs.service';
import { WasteBulkHandlers } from './pipeline/bulk.handlers';
import { ExternalPipelineHandlers } from './pipeline/external.handlers';
import { FastPipelineHandlers } from './pipeline/fast.handlers';
import { ImageCacheService } from './pipeline/image-cache.service';
import { PipelineRelay } from './pipeline/pipeline-relay';
import { ResultBuilder } from './pipeline/result-builder';
import { UploadsController } from './uploads.controller';
import { VISION_PROVIDER } from './vision/vision.provider';
import { createVisionProvider } from './vision/vision.factory';
import { WasteController } from './waste.controller';

/**
 * The analysis job: API (analyze, upload, status, SSE, correction) on HTTP roles; the pipeline
 * stages on the fast and external roles; purge and watchdog on bulk.
 */
@Module({})
export class WasteModule {
  static forRole(config: AppConfig): DynamicModule {
    const role = config.APP_ROLE;
    const api = servesHttp(role) && config.API_MODULES.includes('waste');
    const providers: Provider[] = [
      JobsService,
      JobEventsEmitter,
      ImageCacheService,
      ResultBuilder,
      PipelineRelay,
    ];
    if (api) providers.push(AnalysisService, JobEventsHub);
    if (runsWorker(role, 'fast')) providers.push(FastPipelineHandlers);
    if (runsWorker(role, 'external')) {
      providers.push(ExternalPipelineHandlers, {
        provide: VISION_PROVIDER,
        inject: [APP_CONFIG, RecyclingService],
        useFactory: (c: AppConfig, r: RecyclingService) => createVisionProvider(c, r.categoryIds),
      });
    }
    if (runsWorker(role, 'bulk')) providers.push(WasteBulkHandlers);
    return {
      module: WasteModule,
      imports: [
        TypeOrmModule.forFeature([JobEntity]),
        StorageModule,
        RecyclingModule.forRole(config),
        UsersModule.forRole(config),
        LocationsModule.forRole(config),
      ],
      controllers: api ? [WasteController, UploadsController] : [],
      providers,
      exports: [JobsService],
    };
  }
}
