import { MigrationInterface, QueryRunner } from 'typeorm';

/** One schema per module (docs/architecture.md → Data). Each module's own migrations create its tables. */
export class CreateSchemas1764150000000 implements MigrationInterface {
  name = 'CreateSchemas1764150000000';

  async up(q: QueryRunner): Promise<void> {
    for (const schema of ['auth', 'users', 'waste', 'recycling', 'locations', 'analytics']) {
      await q.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const schema of ['analytics', 'locations', 'recycling', 'waste', 'users', 'auth']) {
      await q.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  }
}
