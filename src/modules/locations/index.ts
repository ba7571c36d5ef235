/**
 * The locations module's public surface: what other modules may import (eslint.config.mjs forbids
 * reaching into its other files; src/app, the composition root, may).
 */
export * from './locations.module';
export * from './dto/location-queries.dto';
export * from './locations.service';
export * from './regions/region-names';
export * from './regions/regions.service';
