import { DataSource } from 'typeorm';
import { UpsertCounts, addUpsertBatch } from '../../core/csv/public-data-csv';
import { BOX_WIDENING, EARTH_MEAN_RADIUS_M } from './geo.util';
import { DEFAULT_LIMIT, LocationDto, LocationType, NearbyQuery } from './location.types';

/** A row as the importer (or a future user submission) hands it over. */
export interface CollectionPointInput {
  source: 'public-data' | 'user';
  sourceId: string;
  dataset: string | null;
  name: string;
  types: LocationType[];
  address: string;
  lat: number;
  lng: number;
  openingHours: string | null;
  phone: string | null;
}

export type { UpsertCounts } from '../../core/csv/public-data-csv';

interface Row {
  id: string;
  name: string;
  types: LocationType[];
  address: string;
  lat: number;
  lng: number;
  opening_hours: string | null;
  phone: string | null;
  source: 'public-data' | 'user';
  place_url: string | null;
  distance_m: number | null;
}

const COLUMNS = `p.id, p.name, p.types, p.address, p.lat, p.lng, p.opening_hours, p.phone,
  p.source, p.place_url`;

/** Haversine on the mean sphere, in SQL; $1 = lat, $2 = lng of the query point. */
const DISTANCE = `(2 * ${EARTH_MEAN_RADIUS_M} * asin(least(1, sqrt(
  power(sin(radians(p.lat - $1::float8) / 2), 2) +
  cos(radians($1::float8)) * cos(radians(p.lat)) * power(sin(radians(p.lng - $2::float8) / 2), 2)))))`;

const UPSERT_BATCH = 1000;
const UPSERT_FIELDS = 10;

/**
 * All SQL over locations.collection_points. Takes a plain DataSource so the CLI importer and the
 * benchmark use exactly the queries the API runs.
 */
export class CollectionPointsRepository {
  constructor(private readonly ds: DataSource) {}

  /**
   * Nearest first within radiusM. The GiST index on `earth` answers both the bounding-box
   * pre-filter (`earth_box @> earth`) and the ordering (`<->` is a KNN operator of the cube
   * opclass; chord order equals great-circle order), so the scan visits points in distance order
   * and stops after `limit` matches. The haversine test then trims the box to the exact circle.
   *
   * The planner estimates every `@>` box at a fixed 0.1% of the table whatever its size, so with a
   * types filter (or a limit above that guess) it expects fewer rows than the limit and prefers
   * reading the whole box and sorting it: 40 ms instead of 1 ms for a 20 km radius in Seoul.
   * `enable_sort = off` for this one statement makes it keep the ordered index scan, which is never
   * worse (it reads at most the same box). See docs/locations.md → Numbers.
   */
  async nearby(q: NearbyQuery): Promise<LocationDto[]> {
    const { sql, params } = nearbySql(q);
    const rows: Row[] = await this.withKnnPlan((run) => run(sql, params));
    return rows.map(toDto);
  }

  /** The plan PostgreSQL picks for nearby(q) (tests and bench/ check that it uses the index). */
  async explainNearby(q: NearbyQuery, analyze = false): Promise<string> {
    const { sql, params } = nearbySql(q);
    const rows: { 'QUERY PLAN': string }[] = await this.withKnnPlan((run) =>
      run(`EXPLAIN ${analyze ? '(ANALYZE, BUFFERS) ' : ''}${sql}`, params),
    );
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  }

  private withKnnPlan<T>(
    fn: (run: (sql: string, params: unknown[]) => Promise<T>) => Promise<T>,
  ): Promise<T> {
    return this.ds.transaction(async (em) => {
      await em.query('SET LOCAL enable_sort = off');
      return fn((sql, params) => em.query(sql, params));
    });
  }

  /** Name/address substring search (trigram-indexed), nearest first when a point is given. */
  async search(q: {
    text: string;
    lat?: number;
    lng?: number;
    radiusM?: number;
    limit: number;
  }): Promise<LocationDto[]> {
    const pattern = `%${q.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    if (q.lat === undefined || q.lng === undefined) {
      const rows: Row[] = await this.ds.query(
        `SELECT ${COLUMNS}, NULL::float8 AS distance_m
           FROM locations.collection_points p
          WHERE p.name ILIKE $1 OR p.address ILIKE $1
          ORDER BY p.name, p.id
          LIMIT $2`,
        [pattern, q.limit],
      );
      return rows.map(toDto);
    }
    const radius = q.radiusM ?? 20_000;
    const rows: Row[] = await this.ds.query(
      `SELECT ${COLUMNS}, ${DISTANCE} AS distance_m
         FROM locations.collection_points p
        WHERE (p.name ILIKE $3 OR p.address ILIKE $3)
          AND earth_box(ll_to_earth($1, $2), $4) @> p.earth
          AND ${DISTANCE} <= $5
        ORDER BY distance_m, p.id
        LIMIT $6`,
      [q.lat, q.lng, pattern, radius * BOX_WIDENING, radius, q.limit],
    );
    return rows.map(toDto);
  }

  async findById(id: string): Promise<LocationDto | null> {
    const rows: Row[] = await this.ds.query(
      `SELECT ${COLUMNS}, NULL::float8 AS distance_m
         FROM locations.collection_points p WHERE p.id = $1`,
      [id],
    );
    return rows.length ? toDto(rows[0]) : null;
  }

  async count(): Promise<number> {
    const [{ n }] = (await this.ds.query(
      `SELECT count(*)::int AS n FROM locations.collection_points`,
    )) as { n: number }[];
    return n;
  }

  /**
   * Insert or update on (source, source_id); a row whose values did not change is left alone
   * (no dead tuple, updated_at kept). `rows` must not repeat a key (the importer deduplicates).
   */
  async upsert(rows: CollectionPointInput[]): Promise<UpsertCounts> {
    const counts: UpsertCounts = { inserted: 0, updated: 0, unchanged: 0 };
    for (let start = 0; start < rows.length; start += UPSERT_BATCH) {
      const batch = rows.slice(start, start + UPSERT_BATCH);
      const params: unknown[] = [];
      const values = batch.map((r, i) => {
        params.push(
          r.source,
          r.sourceId,
          r.dataset,
          r.name,
          r.types,
          r.address,
          r.lat,
          r.lng,
          r.openingHours,
          r.phone,
        );
        const b = i * UPSERT_FIELDS;
        return `(${Array.from({ length: UPSERT_FIELDS }, (_, k) => `$${b + k + 1}`).join(', ')})`;
      });
      const result: { inserted: boolean }[] = await this.ds.query(
        `INSERT INTO locations.collection_points AS t
           (source, source_id, dataset, name, types, address, lat, lng, opening_hours, phone)
         VALUES ${values.join(', ')}
         ON CONFLICT (source, source_id) DO UPDATE SET
           dataset = EXCLUDED.dataset, name = EXCLUDED.name, types = EXCLUDED.types,
           address = EXCLUDED.address, lat = EXCLUDED.lat, lng = EXCLUDED.lng,
           opening_hours = EXCLUDED.opening_hours, phone = EXCLUDED.phone, updated_at = now()
         WHERE (t.dataset, t.name, t.types, t.address, t.lat, t.lng, t.opening_hours, t.phone)
           IS DISTINCT FROM (EXCLUDED.dataset, EXCLUDED.name, EXCLUDED.types, EXCLUDED.address,
                             EXCLUDED.lat, EXCLUDED.lng, EXCLUDED.opening_hours, EXCLUDED.phone)
         RETURNING (xmax = 0) AS inserted`,
        params,
      );
      addUpsertBatch(counts, result, batch.length);
    }
    return counts;
  }
}

function nearbySql(q: NearbyQuery): { sql: string; params: unknown[] } {
  return {
    sql: `SELECT ${COLUMNS}, ${DISTANCE} AS distance_m
            FROM locations.collection_points p
           WHERE earth_box(ll_to_earth($1, $2), $3) @> p.earth
             AND ${DISTANCE} <= $4
             AND ($5::text[] IS NULL OR p.types && $5::text[])
           ORDER BY p.earth <-> ll_to_earth($1, $2)
           LIMIT $6`,
    params: [
      q.lat,
      q.lng,
      q.radiusM * BOX_WIDENING,
      q.radiusM,
      q.types?.length ? q.types : null,
      q.limit ?? DEFAULT_LIMIT,
    ],
  };
}

function toDto(r: Row): LocationDto {
  return {
    id: r.id,
    name: r.name,
    types: r.types,
    address: r.address,
    lat: r.lat,
    lng: r.lng,
    distanceM: r.distance_m === null ? null : Math.round(r.distance_m),
    openingHours: r.opening_hours,
    phone: r.phone,
    source: r.source,
    placeUrl: r.place_url,
  };
}
