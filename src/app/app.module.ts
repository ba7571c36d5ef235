import { DynamicModule, Module, ModuleMetadata, Provider, Type } from '@nestjs/common';
import { AppConfig } from '../core/config/app-config';
import { ConfigModule } from '../core/config/config.module';
import {
  API_MODULES,
  ApiModuleName,
  runsWorker,
  servesHttp,
  WorkerCapability,
} from '../core/config/roles';
import { DatabaseModule } from '../core/database/database.module';
import { MessageSchemas } from '../core/messaging/messages';
import { MessagingModule } from '../core/messaging/messaging.module';
import { HealthController } from '../core/observability/health.controller';
import { LoggingModule } from '../core/observability/logging.module';
import { ObservabilityModule } from '../core/observability/observability.module';
import { RedisModule } from '../core/redis/redis.module';
import { AuthController } from '../modules/auth/auth.controller';
import { AuthModule } from '../modules/auth/auth.module';
import { LocationsController } from '../modules/locations/locations.controller';
import { LocationsModule } from '../modules/locations/locations.module';
import { SampleDataLoader } from '../modules/locations/sample-data.loader';
import { AdminGuard } from '../modules/maintenance/admin.guard';
import { AnalyticsHandlers } from '../modules/maintenance/analytics/analytics.handler';
import { DailyStatsController } from '../modules/maintenance/analytics/daily-stats.controller';
import { DailyStatsMetrics } from '../modules/maintenance/analytics/daily-stats.metrics';
import { BeatModule } from '../modules/maintenance/beat.module';
import { CleanupHandlers } from '../modules/maintenance/cleanup/cleanup.handler';
import { DlqController } from '../modules/maintenance/dlq/dlq.controller';
import { MaintenanceModule } from '../modules/maintenance/maintenance.module';
import { OpsModule } from '../modules/maintenance/ops.module';
import { RecyclingController } from '../modules/recycling/recycling.controller';
import { RecyclingModule } from '../modules/recycling/recycling.module';
import { SampleScheduleLoader } from '../modules/recycling/schedules/sample-schedule.loader';
import { ScheduleController } from '../modules/recycling/schedules/schedule.controller';
import { UsersController } from '../modules/users/users.controller';
import { UsersModule } from '../modules/users/users.module';
import { CorrectionsAdminController } from '../modules/waste/corrections-admin.controller';
import { JobEventsHub } from '../modules/waste/jobs/job-events';
import { StatusSnapshots } from '../modules/waste/jobs/status-snapshots';
import { WasteBulkHandlers } from '../modules/waste/pipeline/bulk.handler';
import { PipelineExpiryHandler } from '../modules/waste/pipeline/expiry.handler';
import { ExternalPipelineHandlers } from '../modules/waste/pipeline/external.handler';
import { FastPipelineHandlers } from '../modules/waste/pipeline/fast.handler';
import { UploadsController } from '../modules/waste/uploads.controller';
import { visionProvider } from '../modules/waste/vision/vision.factory';
import { WasteController } from '../modules/waste/waste.controller';
import { WasteModule } from '../modules/waste/waste.module';

export interface AppModuleExtras {
  /** Extra modules/providers (tests register probe handlers this way). */
  imports?: ModuleMetadata['imports'];
  providers?: ModuleMetadata['providers'];
  /** Boot the infrastructure only, without the feature modules (foundation tests use probes). */
  withoutFeatures?: boolean;
  /** The payload schema of each routing key, instead of MESSAGES (probe handlers take their own). */
  messages?: MessageSchemas;
  /**
   * The `all` role's API half: its worker capabilities run in a worker thread as the `workers`
   * role (ALL_ROLE_THREADS, src/app/threads.ts), so this application consumes no work queue.
   * What `all` does once (migrations, sample data) stays here.
   */
  withoutWorkers?: boolean;
}

interface Parts {
  controllers?: Type[];
  providers?: Provider[];
  imports?: NonNullable<ModuleMetadata['imports']>;
}

/**
 * The feature modules: static, each imported here once (Nest keys a static module by its class,
 * so a module that another one imports too is still built once). They hold the services every
 * role shares and run nothing by themselves; what runs is chosen below.
 */
const FEATURE_MODULES = [
  AuthModule,
  UsersModule,
  WasteModule,
  RecyclingModule,
  LocationsModule,
  MaintenanceModule,
];

/** What an HTTP role serves for each API_MODULES route group. */
const API_PARTS: Record<ApiModuleName, Parts> = {
  auth: { controllers: [AuthController] },
  users: { controllers: [UsersController] },
  // The hub listens for job events on Redis and feeds this process's SSE streams.
  waste: {
    controllers: [WasteController, UploadsController],
    providers: [JobEventsHub, StatusSnapshots],
  },
  recycling: { controllers: [RecyclingController, ScheduleController] },
  locations: { controllers: [LocationsController] },
  admin: {
    controllers: [DlqController, DailyStatsController, CorrectionsAdminController],
    providers: [AdminGuard],
  },
};

/** What each worker capability runs: the task handlers of its queues, or the clock. */
const WORKER_PARTS: Record<WorkerCapability, Parts> = {
  fast: { providers: [FastPipelineHandlers] },
  external: { providers: [ExternalPipelineHandlers, visionProvider] },
  bulk: {
    providers: [WasteBulkHandlers, AnalyticsHandlers, CleanupHandlers, DailyStatsMetrics],
  },
  // The schedule itself is SCHEDULE in src/modules/maintenance/schedule.ts.
  beat: { imports: [BeatModule] },
};

/** The parts a role runs, from the lists above. */
export function roleParts(
  config: AppConfig,
  { withoutWorkers = false }: Pick<AppModuleExtras, 'withoutWorkers'> = {},
): Required<Parts> {
  const role = config.APP_ROLE;
  const chosen: Parts[] = [];
  if (servesHttp(role)) {
    chosen.push({ controllers: [HealthController] });
    for (const name of API_MODULES) {
      if (config.API_MODULES.includes(name)) chosen.push(API_PARTS[name]);
    }
  }
  // Expired pipeline messages fail their jobs in every role with a database, so whichever role
  // is down, the others still do it (docs/messaging.md → Expired messages).
  if (role !== 'beat') chosen.push({ providers: [PipelineExpiryHandler] });
  for (const worker of ['fast', 'external', 'bulk', 'beat'] as const) {
    if (runsWorker(role, worker) && !withoutWorkers) chosen.push(WORKER_PARTS[worker]);
  }
  // The one-process developer role loads the sample collection points on boot.
  if (role === 'all' && config.LOCATIONS_SAMPLE_DATA)
    chosen.push({ providers: [SampleDataLoader] });
  // … and the sample disposal schedules (docs/schedules.md → Sample data).
  if (role === 'all' && config.SCHEDULES_SAMPLE_DATA)
    chosen.push({ providers: [SampleScheduleLoader] });
  return {
    controllers: chosen.flatMap((p) => p.controllers ?? []),
    providers: chosen.flatMap((p) => p.providers ?? []),
    imports: chosen.flatMap((p) => p.imports ?? []),
  };
}

/**
 * The root module of a role, and the one place that decides what the role runs: infrastructure
 * every role uses, the static feature modules (every role with a database), then the
 * controllers, task handlers and clock of the role from the shared lists above.
 */
@Module({})
export class AppModule {
  static forRole(config: AppConfig, extras: AppModuleExtras = {}): DynamicModule {
    const role = config.APP_ROLE;
    const usesDatabase = role !== 'beat';
    const features = usesDatabase && !extras.withoutFeatures;
    const parts = roleParts(config, extras);
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule,
        ObservabilityModule,
        RedisModule,
        // The API half of a threaded `all` consumes what `api` consumes: no work queue.
        MessagingModule.forRole(extras.withoutWorkers ? 'api' : role, extras.messages),
        ...(usesDatabase ? [DatabaseModule.forRoot()] : []),
        ...(features ? FEATURE_MODULES : []),
        ...(extras.withoutFeatures ? [] : [OpsModule]),
        ...parts.imports,
        ...(extras.imports ?? []),
      ],
      controllers: features
        ? parts.controllers
        : parts.controllers.filter((c) => c === HealthController),
      providers: [...(features ? parts.providers : []), ...(extras.providers ?? [])],
    };
  }
}
