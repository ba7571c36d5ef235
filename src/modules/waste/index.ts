/**
 * The waste module's public surface: what other modules may import (eslint.config.mjs forbids
 * reaching into its other files; src/app, the composition root, may).
 */
export * from './waste.module';
export * from './pipeline/image-cache.service';
export * from './pipeline/storage-keys';
export * from './jobs/job-images.service';
