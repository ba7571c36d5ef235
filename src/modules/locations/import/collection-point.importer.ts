import { CsvImportReport, importParsed } from '../../../core/csv/public-data-csv';
import { CollectionPointsRepository } from '../collection-points.repository';
import { CsvImportOptions, parseCollectionPointsCsv } from './collection-point-csv';

export type ImportReport = CsvImportReport;

/**
 * Imports one public-data CSV: parse, then upsert on (source, source_id). Idempotent: importing
 * the same file again updates changed rows and leaves the rest alone, never duplicating.
 */
export function importCollectionPoints(
  repo: CollectionPointsRepository,
  bytes: Buffer,
  options: CsvImportOptions = {},
): Promise<ImportReport> {
  return importParsed(
    () => parseCollectionPointsCsv(bytes, options),
    (rows) => repo.upsert(rows),
  );
}
