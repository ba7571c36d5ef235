import { DataSource } from 'typeorm';
import { RunningApp } from '../../src/app/bootstrap';
import { bootRole } from '../support/app';
import { Isolation, isolate } from '../support/isolation';

/**
 * The CI check that entities and migrations agree: on a fresh database migrated to the end,
 * TypeORM's schema builder (what `migration:generate` would write) must have nothing to add.
 * A new entity column without its migration, or a migration the entities do not describe, fails.
 */
/**
 * What the migrations own and the entities do not describe, by design: foreign keys, CHECK
 * constraints, plain/GiST/trigram indexes, and the generated `earth` column of the geo index.
 * The schema builder would drop them; that is not a pending migration. Everything else it would
 * do (a table, column, type, default, unique or index the entities declare and the database
 * lacks) is.
 */
const MIGRATION_ONLY = [
  /^ALTER TABLE "[a-z_]+"\."[a-z_]+" DROP CONSTRAINT "[a-z_]+_(fkey|check|chk)"$/,
  /^DROP INDEX "[a-z_]+"\."[a-z_]+"$/,
  /^ALTER TABLE "locations"\."collection_points" DROP COLUMN "earth"$/,
];

describe('entities and migrations agree (no pending migration)', () => {
  let iso: Isolation;
  let app: RunningApp;
  beforeAll(async () => {
    iso = await isolate('migrations');
    // `all` migrates its database on boot, and loads every module's entities.
    app = await bootRole(iso, { APP_ROLE: 'all', LOCATIONS_SAMPLE_DATA: 'false' });
  });
  afterAll(async () => {
    await app?.close();
    await iso?.cleanup();
  });

  it('the schema builder finds nothing to change', async () => {
    const ds = app.app.get(DataSource);
    expect(await ds.showMigrations()).toBe(false);
    const { upQueries } = await ds.driver.createSchemaBuilder().log();
    expect(
      upQueries.map((q) => q.query).filter((q) => !MIGRATION_ONLY.some((r) => r.test(q))),
    ).toEqual([]);
  });
});
