import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * District disposal days and hours (전국생활쓰레기배출정보표준데이터), one row per source row.
 * In the recycling schema: it is disposal guidance ("when"), read next to the knowledge base's
 * "how", not a place on the map (docs/schedules.md → Data). Days and hours are kept as the
 * district wrote them (times normalised to HH:MM) and interpreted at read time, so a better
 * parser needs no re-import.
 */
export class RecyclingDisposalSchedules1764216000000 implements MigrationInterface {
  name = 'RecyclingDisposalSchedules1764216000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE recycling.disposal_schedules (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        source_id text NOT NULL CONSTRAINT disposal_schedules_source_uq UNIQUE,
        dataset text,
        sido text NOT NULL,
        sigungu text NOT NULL,
        sido_code text NOT NULL CHECK (sido_code ~ '^[0-9]{2}$'),
        sigungu_key text NOT NULL CHECK (length(sigungu_key) > 0),
        zone_name text,
        target_area text,
        place_type text,
        place text,
        general_method text,
        food_method text,
        recyclable_method text,
        bulky_method text,
        bulky_place text,
        general_days text,
        food_days text,
        recyclable_days text,
        general_start text,
        general_end text,
        food_start text,
        food_end text,
        recyclable_start text,
        recyclable_end text,
        bulky_start text,
        bulky_end text,
        no_collection text,
        department text,
        phone text,
        data_date date,
        provider_code text,
        provider_name text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(
      `CREATE INDEX disposal_schedules_region ON recycling.disposal_schedules (sido_code, sigungu_key)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS recycling.disposal_schedules`);
  }
}
