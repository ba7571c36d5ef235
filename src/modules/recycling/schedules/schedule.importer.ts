import { CsvImportReport, importParsed } from '../../../core/csv/public-data-csv';
import { DisposalSchedulesRepository } from './disposal-schedules.repository';
import { ScheduleCsvOptions, parseScheduleCsv } from './schedule-csv';

export type ScheduleImportReport = CsvImportReport;

/**
 * Imports one 생활쓰레기배출정보 CSV: parse, then upsert on source_id. Idempotent: importing the
 * same file again updates changed rows and leaves the rest alone, never duplicating.
 */
export function importSchedules(
  repo: DisposalSchedulesRepository,
  bytes: Buffer,
  options: ScheduleCsvOptions = {},
): Promise<ScheduleImportReport> {
  return importParsed(
    () => parseScheduleCsv(bytes, options),
    (rows) => repo.upsert(rows),
  );
}
