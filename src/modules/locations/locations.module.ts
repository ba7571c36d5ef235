import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig } from '../../core/config/app-config';

/** The locations module (see DESIGN.md → Modules). */
@Module({})
export class LocationsModule {
  static forRole(_config: AppConfig): DynamicModule {
    return { module: LocationsModule };
  }
}
