/**
 * The maintenance module's public surface: what other modules may import (eslint.config.mjs forbids
 * reaching into its other files; src/app, the composition root, may).
 */
export * from './maintenance.module';
export * from './admin.guard';
export * from './analytics/daily-stats.service';
