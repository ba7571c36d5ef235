import { DataSource } from 'typeorm';
import { UpsertCounts, addUpsertBatch } from '../../../core/csv/public-data-csv';
import type { ScheduleInput } from './schedule-csv';

/** ScheduleInput field → column, in insert order (everything but id and timestamps). */
const COLUMNS: [keyof ScheduleInput, string][] = [
  ['sourceId', 'source_id'],
  ['dataset', 'dataset'],
  ['sido', 'sido'],
  ['sigungu', 'sigungu'],
  ['sidoCode', 'sido_code'],
  ['sigunguKey', 'sigungu_key'],
  ['zoneName', 'zone_name'],
  ['targetArea', 'target_area'],
  ['placeType', 'place_type'],
  ['place', 'place'],
  ['generalMethod', 'general_method'],
  ['foodMethod', 'food_method'],
  ['recyclableMethod', 'recyclable_method'],
  ['bulkyMethod', 'bulky_method'],
  ['bulkyPlace', 'bulky_place'],
  ['generalDays', 'general_days'],
  ['foodDays', 'food_days'],
  ['recyclableDays', 'recyclable_days'],
  ['generalStart', 'general_start'],
  ['generalEnd', 'general_end'],
  ['foodStart', 'food_start'],
  ['foodEnd', 'food_end'],
  ['recyclableStart', 'recyclable_start'],
  ['recyclableEnd', 'recyclable_end'],
  ['bulkyStart', 'bulky_start'],
  ['bulkyEnd', 'bulky_end'],
  ['noCollection', 'no_collection'],
  ['department', 'department'],
  ['phone', 'phone'],
  ['dataDate', 'data_date'],
  ['providerCode', 'provider_code'],
  ['providerName', 'provider_name'],
];
const UPDATED = COLUMNS.filter(([, c]) => c !== 'source_id').map(([, c]) => c);
/** The columns a ScheduleRow reads, aliased to its field names (rows come back in its shape). */
const ROW_SELECT = COLUMNS.filter(([f]) => f !== 'sourceId' && f !== 'dataset')
  .map(([f, c]) => `${c === 'data_date' ? `to_char(data_date, 'YYYY-MM-DD')` : c} AS "${f}"`)
  .join(', ');
/** 32 parameters a row: 1,000 rows stay under PostgreSQL's 65,535 bind parameters. */
const UPSERT_BATCH = 1000;

/** A stored row, as the schedule service reads it (data_date as YYYY-MM-DD). */
export type ScheduleRow = Omit<ScheduleInput, 'sourceId' | 'dataset'> & { id: string };

/** All SQL over recycling.disposal_schedules (the CLI importer and the API use the same). */
export class DisposalSchedulesRepository {
  constructor(private readonly ds: DataSource) {}

  async count(): Promise<number> {
    const [{ n }] = (await this.ds.query(
      `SELECT count(*)::int AS n FROM recycling.disposal_schedules`,
    )) as { n: number }[];
    return n;
  }

  /** Rows of one 시도 whose 시군구 key is one of `keys` (the region, its city or its 구). */
  async forRegion(sidoCode: string, keys: string[]): Promise<ScheduleRow[]> {
    return (await this.ds.query(
      `SELECT id, ${ROW_SELECT}
         FROM recycling.disposal_schedules
        WHERE sido_code = $1 AND sigungu_key = ANY($2::text[])
        ORDER BY zone_name NULLS FIRST, target_area NULLS FIRST, id`,
      [sidoCode, keys],
    )) as ScheduleRow[];
  }

  /**
   * Insert or update on source_id; a row whose values did not change is left alone (no write).
   * `rows` must not repeat a key (the parser deduplicates).
   */
  async upsert(rows: ScheduleInput[]): Promise<UpsertCounts> {
    const counts: UpsertCounts = { inserted: 0, updated: 0, unchanged: 0 };
    const n = COLUMNS.length;
    for (let start = 0; start < rows.length; start += UPSERT_BATCH) {
      const batch = rows.slice(start, start + UPSERT_BATCH);
      const params: unknown[] = [];
      const values = batch.map((r, i) => {
        for (const [field] of COLUMNS) params.push(r[field]);
        return `(${COLUMNS.map(([, c], k) => `$${i * n + k + 1}${c === 'data_date' ? '::date' : ''}`).join(', ')})`;
      });
      const result: { inserted: boolean }[] = await this.ds.query(
        `INSERT INTO recycling.disposal_schedules AS t (${COLUMNS.map(([, c]) => c).join(', ')})
         VALUES ${values.join(', ')}
         ON CONFLICT (source_id) DO UPDATE SET
           ${UPDATED.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}, updated_at = now()
         WHERE (${UPDATED.map((c) => `t.${c}`).join(', ')})
           IS DISTINCT FROM (${UPDATED.map((c) => `EXCLUDED.${c}`).join(', ')})
         RETURNING (xmax = 0) AS inserted`,
        params,
      );
      addUpsertBatch(counts, result, batch.length);
    }
    return counts;
  }
}
