import { CollectionPointsRepository, UpsertCounts } from '../collection-points.repository';
import { CsvImportOptions, SkippedRow, parseCollectionPointsCsv } from './collection-point-csv';

export interface ImportReport extends UpsertCounts {
  encoding: 'utf8' | 'cp949';
  /** Data records in the file. */
  total: number;
  skipped: SkippedRow[];
  durationMs: number;
}

/**
 * Imports one public-data CSV: parse, then upsert on (source, source_id). Idempotent: importing
 * the same file again updates changed rows and leaves the rest alone, never duplicating.
 */
export async function importCollectionPoints(
  repo: CollectionPointsRepository,
  bytes: Buffer,
  options: CsvImportOptions = {},
): Promise<ImportReport> {
  const started = performance.now();
  const parsed = parseCollectionPointsCsv(bytes, options);
  const counts = await repo.upsert(parsed.rows.map(({ row: _row, ...input }) => input));
  return {
    encoding: parsed.encoding,
    total: parsed.total,
    ...counts,
    skipped: parsed.skipped,
    durationMs: Math.round(performance.now() - started),
  };
}
