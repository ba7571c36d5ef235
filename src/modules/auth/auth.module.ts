import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig } from '../../core/config/app-config';

/** The auth module (see DESIGN.md → Modules). */
@Module({})
export class AuthModule {
  static forRole(_config: AppConfig): DynamicModule {
    return { module: AuthModule };
  }
}
