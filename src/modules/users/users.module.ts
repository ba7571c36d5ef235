import { DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../../core/config/app-config';
import { servesHttp } from '../../core/config/roles';
import { LocationsModule } from '../locations/locations.module';
import { HistoryEntity } from './history.entity';
import { HistoryService } from './history.service';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

/**
 * The users module (see DESIGN.md → Modules): profile, history, stats, deletion. HistoryService
 * is exported for the pipeline's save stage (every role but beat, which does not load modules).
 */
@Module({})
export class UsersModule {
  static forRole(config: AppConfig): DynamicModule {
    const http = servesHttp(config.APP_ROLE) && config.API_MODULES.includes('users');
    return {
      module: UsersModule,
      // Regions validate the profile's homeRegion (PATCH /users/me).
      imports: [
        TypeOrmModule.forFeature([HistoryEntity]),
        ...(http ? [LocationsModule.forRole(config)] : []),
      ],
      controllers: http ? [UsersController] : [],
      providers: [HistoryService, ...(http ? [UsersService] : [])],
      exports: [HistoryService],
    };
  }
}
