import { DynamicModule, Module, Provider } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../../core/config/app-config';
import { servesHttp } from '../../core/config/roles';
import { CollectionPoint } from './collection-point.entity';
import { KakaoLocalClient } from './kakao/kakao-local.client';
import { LocationsController } from './locations.controller';
import { LocationsService } from './locations.service';
import { SampleDataLoader } from './sample-data.loader';

/**
 * The locations module (see DESIGN.md → Modules): collection points, nearby search, Kakao Local.
 * LocationsService is exported for every database role (the external worker's map.nearby task
 * uses it); the controller only where the HTTP API is served.
 */
@Module({})
export class LocationsModule {
  static forRole(config: AppConfig): DynamicModule {
    if (config.APP_ROLE === 'beat') return { module: LocationsModule };
    const providers: Provider[] = [LocationsService, KakaoLocalClient];
    if (config.APP_ROLE === 'all' && config.LOCATIONS_SAMPLE_DATA) providers.push(SampleDataLoader);
    return {
      module: LocationsModule,
      imports: [TypeOrmModule.forFeature([CollectionPoint])],
      controllers:
        servesHttp(config.APP_ROLE) && config.API_MODULES.includes('locations')
          ? [LocationsController]
          : [],
      providers,
      exports: [LocationsService],
    };
  }
}
