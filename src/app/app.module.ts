import { DynamicModule, Module, ModuleMetadata } from '@nestjs/common';
import { AppConfig } from '../core/config/app-config';
import { ConfigModule } from '../core/config/config.module';
import { servesHttp, runsWorker } from '../core/config/roles';
import { DatabaseModule } from '../core/database/database.module';
import { MessagingModule } from '../core/messaging/messaging.module';
import { HealthController } from '../core/observability/health.controller';
import { LoggingModule } from '../core/observability/logging.module';
import { ObservabilityModule } from '../core/observability/observability.module';
import { RedisModule } from '../core/redis/redis.module';
import { AuthModule } from '../modules/auth/auth.module';
import { LocationsModule } from '../modules/locations/locations.module';
import { BeatModule } from '../modules/maintenance/beat.module';
import { OpsModule } from '../modules/maintenance/ops.module';
import { RecyclingModule } from '../modules/recycling/recycling.module';
import { UsersModule } from '../modules/users/users.module';
import { WasteModule } from '../modules/waste/waste.module';

export interface AppModuleExtras {
  /** Extra modules/providers (tests register probe handlers this way). */
  imports?: ModuleMetadata['imports'];
  providers?: ModuleMetadata['providers'];
  /** Boot the infrastructure only, without the feature modules (foundation tests use probes). */
  withoutFeatures?: boolean;
}

/**
 * The root module of a role, assembled from the same shared lists: infrastructure every role
 * uses, then each feature module's own `forRole`, which adds controllers only for HTTP roles
 * and task handlers only for the worker roles that own their queue.
 */
@Module({})
export class AppModule {
  static forRole(config: AppConfig, extras: AppModuleExtras = {}): DynamicModule {
    const role = config.APP_ROLE;
    const usesDatabase = role !== 'beat';
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule,
        ObservabilityModule,
        RedisModule,
        MessagingModule.forRole(role),
        ...(usesDatabase ? [DatabaseModule.forRoot()] : []),
        ...(role === 'beat' || extras.withoutFeatures
          ? []
          : [
              AuthModule.forRole(config),
              UsersModule.forRole(config),
              WasteModule.forRole(config),
              RecyclingModule.forRole(config),
              LocationsModule.forRole(config),
            ]),
        ...(runsWorker(role, 'beat') ? [BeatModule] : []),
        ...(extras.withoutFeatures ? [] : [OpsModule.forRole(config)]),
        ...(extras.imports ?? []),
      ],
      controllers: servesHttp(role) ? [HealthController] : [],
      providers: [...(extras.providers ?? [])],
    };
  }
}
