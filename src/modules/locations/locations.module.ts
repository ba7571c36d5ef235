import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { CollectionPoint } from './collection-point.entity';
import { CollectionPointsRepository } from './collection-points.repository';
import { KakaoLocalClient } from './kakao/kakao-local.client';
import { LocationsService } from './locations.service';
import { RegionsService } from './regions/regions.service';

/**
 * The locations module (docs/architecture.md → Modules): collection points, nearby search,
 * Kakao Local, and coordinates/names → 시군구 (RegionsService, docs/schedules.md → Regions).
 * LocationsService is exported for the external worker's map.nearby task and the controller;
 * RegionsService for the schedule lookup and the profile's home region. Which roles serve
 * LocationsController and load the sample points is decided in src/app/app.module.ts.
 */
@Module({
  imports: [TypeOrmModule.forFeature([CollectionPoint])],
  providers: [
    // A plain class over a DataSource (the CSV import CLI builds one without Nest).
    {
      provide: CollectionPointsRepository,
      inject: [DataSource],
      useFactory: (ds: DataSource) => new CollectionPointsRepository(ds),
    },
    LocationsService,
    KakaoLocalClient,
    RegionsService,
  ],
  exports: [LocationsService, RegionsService],
})
export class LocationsModule {}
