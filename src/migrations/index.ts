import { MigrationInterface } from 'typeorm';
import { CreateSchemas1764150000000 } from './1764150000000-create-schemas';

type MigrationClass = new () => MigrationInterface;

/**
 * Every migration, in order. Listed explicitly (not globbed) so the compiled image and the
 * tests load exactly the same set. Append new ones at the end.
 */
export const MIGRATIONS: MigrationClass[] = [CreateSchemas1764150000000];
