/**
 * The recycling module's public surface: what other modules may import (eslint.config.mjs forbids
 * reaching into its other files; src/app, the composition root, may).
 */
export * from './recycling.module';
export * from './coaching.service';
export * from './recycling.service';
export * from './recycling.types';
export * from './schedules/schedule.dto';
export * from './schedules/schedule.service';
