/**
 * The auth module's public surface: what other modules may import (eslint.config.mjs forbids
 * reaching into its other files; src/app, the composition root, may).
 */
export * from './auth.module';
export * from './account-events';
export * from './accounts.service';
export * from './auth.guard';
export * from './current-user.decorator';
export * from './dto/user.dto';
export * from './token-deny-list';
export * from './token.service';
