import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig } from '../../core/config/app-config';

/** The recycling module (see DESIGN.md → Modules). */
@Module({})
export class RecyclingModule {
  static forRole(_config: AppConfig): DynamicModule {
    return { module: RecyclingModule };
  }
}
