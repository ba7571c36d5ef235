import { DynamicModule, Module, Provider } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../../core/config/app-config';
import { servesHttp } from '../../core/config/roles';
import { CollectionPoint } from './collection-point.entity';
import { KakaoLocalClient } from './kakao/kakao-local.client';
import { LocationsController } from './locations.controller';
import { LocationsService } from './locations.service';
import { RegionsService } from './regions/regions.service';
import { SampleDataLoader } from './sample-data.loader';

/**
 * The locations module (see DESIGN.md → Modules): collection points, nearby search, Kakao Local.
 * LocationsService and RegionsService (coordinates/names → 시군구) are exported for every
 * database role (the external worker's map.nearby and coaching tasks use them); the controller
 * only where the HTTP API is served.
 */
@Module({})
export class LocationsModule {
  static forRole(config: AppConfig): DynamicModule {
    if (config.APP_ROLE === 'beat') return { module: LocationsModule };
    const providers: Provider[] = [LocationsService, KakaoLocalClient, RegionsService];
    if (config.APP_ROLE === 'all' && config.LOCATIONS_SAMPLE_DATA) providers.push(SampleDataLoader);
    return {
      module: LocationsModule,
      imports: [TypeOrmModule.forFeature([CollectionPoint])],
      controllers:
        servesHttp(config.APP_ROLE) && config.API_MODULES.includes('locations')
          ? [LocationsController]
          : [],
      providers,
      exports: [LocationsService, RegionsService],
    };
  }
}
