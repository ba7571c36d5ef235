import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LocationsModule } from '../locations';
import { HistoryEntity } from './history.entity';
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
  providers: [HistoryService, UsersService],
  exports: [HistoryService, UsersService],
})
export class UsersModule {}
