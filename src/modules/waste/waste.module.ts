import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig } from '../../core/config/app-config';

/** The waste module (see DESIGN.md → Modules). */
@Module({})
export class WasteModule {
  static forRole(_config: AppConfig): DynamicModule {
    return { module: WasteModule };
  }
}
