import { MigrationInterface } from 'typeorm';
import { CreateSchemas1764150000000 } from './1764150000000-create-schemas';
import { AuthAccounts1764152000000 } from './1764152000000-auth-accounts';
import { UsersHistory1764152100000 } from './1764152100000-users-history';
import { LocationsCollectionPoints1764160600000 } from './1764160600000-locations-collection-points';
import { WasteJobs1764170000000 } from './1764170000000-waste-jobs';
import { AnalyticsTables1764180000000 } from './1764180000000-analytics-tables';
import { WasteImageFingerprint1764190000000 } from './1764190000000-waste-image-fingerprint';
import { WasteCorrectionSignals1764215000000 } from './1764215000000-waste-correction-signals';
import { RecyclingDisposalSchedules1764216000000 } from './1764216000000-recycling-disposal-schedules';
import { UsersHomeRegion1764216100000 } from './1764216100000-users-home-region';
import { WasteJobFacts1764217000000 } from './1764217000000-waste-job-facts';
import { AuthRevokedFamilies1764218000000 } from './1764218000000-auth-revoked-families';

type MigrationClass = new () => MigrationInterface;

/**
 * Every migration, in order. Listed explicitly (not globbed) so the compiled image and the
 * tests load exactly the same set. Append new ones at the end.
 */
export const MIGRATIONS: MigrationClass[] = [
  CreateSchemas1764150000000,
  AuthAccounts1764152000000,
  UsersHistory1764152100000,
  LocationsCollectionPoints1764160600000,
  WasteJobs1764170000000,
  AnalyticsTables1764180000000,
  WasteImageFingerprint1764190000000,
  WasteCorrectionSignals1764215000000,
  RecyclingDisposalSchedules1764216000000,
  UsersHomeRegion1764216100000,
  WasteJobFacts1764217000000,
  AuthRevokedFamilies1764218000000,
];
