import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CollectionPoint } from './collection-point.entity';
import { KakaoLocalClient } from './kakao/kakao-local.client';
import { LocationsService } from './locations.service';

/**
 * The locations module (docs/architecture.md → Modules): collection points, nearby search,
 * Kakao Local. LocationsService is exported for the external worker's map.nearby task and the
 * controller; which roles serve LocationsController and load the sample points is decided in
 * src/app/app.module.ts.
 */
@Module({
  imports: [TypeOrmModule.forFeature([CollectionPoint])],
  providers: [LocationsService, KakaoLocalClient],
  exports: [LocationsService],
})
export class LocationsModule {}
