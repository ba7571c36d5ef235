import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { StorageModule } from '../../core/storage/storage.module';
import { RecyclingModule } from '../recycling';
import { UsersModule } from '../users';
import { AnalysisService } from './analysis.service';
import { JobEntity } from './jobs/job.entity';
import { JobEventsEmitter } from './jobs/job-events';
import { JobImagesService } from './jobs/job-images.service';
import { JobsRepository } from './jobs/jobs.repository';
import { JobsService } from './jobs/jobs.service';
import { CorrectionSignalsRepository } from './pipeline/correction-signals.repository';
import { CorrectionSignals } from './pipeline/correction-signals.service';
import { ImageCacheService } from './pipeline/image-cache.service';
import { PipelineRelay } from './pipeline/pipeline-relay';
import { ResultBuilder } from './pipeline/result-builder';

/**
 * The analysis job (docs/architecture.md → Modules): the services its API (analyze, upload,
 * status, SSE, correction) and its pipeline stages share. Which roles serve the controllers and
 * run the fast, external and bulk handlers is decided in src/app/app.module.ts.
 */
@Module({
  imports: [TypeOrmModule.forFeature([JobEntity]), StorageModule, RecyclingModule, UsersModule],
  providers: [
    JobsRepository,
    JobsService,
    JobEventsEmitter,
    ImageCacheService,
    ResultBuilder,
    PipelineRelay,
    AnalysisService,
    CorrectionSignalsRepository,
    CorrectionSignals,
    JobImagesService,
  ],
  exports: [
    // For the handlers src/app/app.module.ts wires in (the purge and the watchdog).
    JobsRepository,
    JobImagesService,
    CorrectionSignals,
    JobsService,
    ImageCacheService,
    ResultBuilder,
    PipelineRelay,
    AnalysisService,
  ],
})
export class WasteModule {}
