import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig } from '../../core/config/app-config';

/** The users module (see DESIGN.md → Modules). */
@Module({})
export class UsersModule {
  static forRole(_config: AppConfig): DynamicModule {
    return { module: UsersModule };
  }
}
