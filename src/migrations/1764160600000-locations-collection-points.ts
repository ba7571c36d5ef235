import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Collection points with a geographic index built on the `cube` + `earthdistance` contrib
 * extensions (they ship with PostgreSQL, are "trusted" since PG 13 and need no extra package;
 * see docs/locations.md for why not PostGIS).
 *
 * `earth` is a stored column (not an expression index on ll_to_earth(lat, lng)): ll_to_earth is a
 * SQL function whose body calls cube()/earth() unqualified, which breaks expression indexes and
 * generated columns under the empty search_path of pg_restore and autovacuum. A trigger with a
 * pinned search_path keeps it in step with lat/lng instead.
 */
export class LocationsCollectionPoints1764160600000 implements MigrationInterface {
  name = 'LocationsCollectionPoints1764160600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE EXTENSION IF NOT EXISTS cube SCHEMA public`);
    await q.query(`CREATE EXTENSION IF NOT EXISTS earthdistance SCHEMA public`);
    await q.query(`CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public`);
    await q.query(`
      CREATE TABLE locations.collection_points (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        source text NOT NULL CHECK (source IN ('public-data', 'user')),
        source_id text NOT NULL,
        dataset text,
        name text NOT NULL CHECK (length(name) > 0),
        types text[] NOT NULL CHECK (cardinality(types) > 0 AND types <@ ARRAY[
          'recycling', 'clear_pet', 'clothing', 'battery', 'lamp', 'small_appliance',
          'medicine', 'cooking_oil', 'recycling_center', 'zero_waste_shop']::text[]),
        address text NOT NULL DEFAULT '',
        lat double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
        lng double precision NOT NULL CHECK (lng BETWEEN -180 AND 180),
        earth public.earth NOT NULL,
        opening_hours text,
        phone text,
        place_url text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT collection_points_source_uq UNIQUE (source, source_id)
      )`);
    await q.query(`
      CREATE FUNCTION locations.collection_points_set_earth() RETURNS trigger
      LANGUAGE plpgsql SET search_path = public, pg_catalog AS $$
      BEGIN
        NEW.earth := ll_to_earth(NEW.lat, NEW.lng);
        RETURN NEW;
      END $$`);
    await q.query(`
      CREATE TRIGGER collection_points_earth
      BEFORE INSERT OR UPDATE OF lat, lng ON locations.collection_points
      FOR EACH ROW EXECUTE FUNCTION locations.collection_points_set_earth()`);
    await q.query(
      `CREATE INDEX collection_points_earth_gist ON locations.collection_points USING gist (earth)`,
    );
    await q.query(
      `CREATE INDEX collection_points_name_trgm ON locations.collection_points USING gin (name public.gin_trgm_ops)`,
    );
    await q.query(
      `CREATE INDEX collection_points_address_trgm ON locations.collection_points USING gin (address public.gin_trgm_ops)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS locations.collection_points`);
    await q.query(`DROP FUNCTION IF EXISTS locations.collection_points_set_earth()`);
  }
}
