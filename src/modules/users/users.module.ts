import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LocationsModule } from '../locations';
import { DataSource } from 'typeorm';
import { HistoryEntity } from './history.entity';
import { HistoryRepository } from './history.repository';
import { HomeRegionRepository } from './home-region.repository';
import { HistoryService } from './history.service';
import { UsersService } from './users.service';

/**
 * The users module (docs/architecture.md → Modules): profile, history, stats, deletion.
 * HistoryService is exported for the pipeline's save stage; which roles serve UsersController
 * is decided in src/app/app.module.ts.
 */
@Module({
  // RegionsService validates the profile's homeRegion (PATCH /users/me).
  imports: [TypeOrmModule.forFeature([HistoryEntity]), LocationsModule],
  providers: [
    HistoryRepository,
    // A plain class (recycling's schedule lookup builds its own over the same DataSource).
    {
      provide: HomeRegionRepository,
      inject: [DataSource],
      useFactory: (ds: DataSource) => new HomeRegionRepository(ds),
    },
    HistoryService,
    UsersService,
  ],
  exports: [HistoryService, UsersService],
})
export class UsersModule {}
