/**
 * The users module's public surface: what other modules may import (eslint.config.mjs forbids
 * reaching into its other files; src/app, the composition root, may).
 */
export * from './users.module';
export * from './history.service';
export * from './home-region.repository';
