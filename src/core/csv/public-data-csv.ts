import { parse } from 'csv-parse/sync';
import * as iconv from 'iconv-lite';

/**
 * Reading Korean public-data CSV files (data.go.kr standard data, district open data): UTF-8 or
 * CP949, Korean headers. Shared by the collection-point and disposal-schedule importers
 * (docs/locations.md → Importing public-data CSV, docs/schedules.md → Importing).
 */
export type CsvEncoding = 'auto' | 'utf8' | 'cp949';

/** The file cannot be imported at all (no header, a required column missing, not CSV). */
export class CsvFormatError extends Error {
  override name = 'CsvFormatError';
}

export interface SkippedRow {
  /** Line number in the file (the header is line 1). */
  row: number;
  reason: string;
}

export interface CsvRecord {
  record: string[];
  /** The line the record ends on (the header is line 1). */
  line: number;
}

/** UTF-8 (with or without BOM) when the bytes are valid UTF-8, CP949 otherwise. */
export function detectEncoding(bytes: Buffer): 'utf8' | 'cp949' {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return 'utf8';
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return 'utf8';
  } catch {
    return 'cp949';
  }
}

/** Header cells compared without BOM, parenthesised notes, spaces, underscores and case. */
export const normaliseHeader = (h: string) =>
  h
    .replace(/^\uFEFF/, '')
    .replace(/\(.*?\)/g, '')
    .replace(/[\s_-]+/g, '')
    .toLowerCase();

/** Each field's column index: the first header cell that is one of its names. */
export function mapHeader<F extends string>(
  header: string[],
  names: Record<F, string[]>,
): Partial<Record<F, number>> {
  const found: Partial<Record<F, number>> = {};
  header.forEach((raw, index) => {
    const h = normaliseHeader(raw);
    for (const field of Object.keys(names) as F[]) {
      if (found[field] === undefined && names[field].includes(h)) {
        found[field] = index;
        return;
      }
    }
  });
  return found;
}

/** Decodes and splits the file; the first record is the header. Throws CsvFormatError. */
export function readCsv(
  bytes: Buffer,
  encoding: CsvEncoding = 'auto',
): { encoding: 'utf8' | 'cp949'; header: string[]; records: CsvRecord[] } {
  const used = encoding === 'auto' ? detectEncoding(bytes) : encoding;
  const text = (used === 'utf8' ? bytes.toString('utf8') : iconv.decode(bytes, 'cp949')).replace(
    /^\uFEFF/,
    '',
  );
  let parsed: { record: string[]; info: { lines: number } }[];
  try {
    parsed = parse(text, {
      info: true,
      skip_empty_lines: true,
      relax_column_count: true,
      relax_quotes: true,
    }) as { record: string[]; info: { lines: number } }[];
  } catch (err) {
    throw new CsvFormatError(`not a readable CSV file: ${(err as Error).message}`);
  }
  if (!parsed.length) throw new CsvFormatError('the file is empty');
  return {
    encoding: used,
    header: parsed[0].record,
    records: parsed.slice(1).map((r) => ({ record: r.record, line: r.info.lines })),
  };
}

/** Whitespace runs collapsed, trimmed. */
export const cleanCell = (v: string | undefined) => (v ?? '').replace(/\s+/g, ' ').trim();

export interface UpsertCounts {
  inserted: number;
  updated: number;
  unchanged: number;
}

/**
 * Adds one batch's outcome: `returned` are the RETURNING (xmax = 0) AS inserted rows of an
 * INSERT … ON CONFLICT DO UPDATE … WHERE changed; rows that changed nothing return nothing.
 */
export function addUpsertBatch(
  counts: UpsertCounts,
  returned: { inserted: boolean }[],
  batchSize: number,
): void {
  const inserted = returned.filter((r) => r.inserted).length;
  counts.inserted += inserted;
  counts.updated += returned.length - inserted;
  counts.unchanged += batchSize - returned.length;
}

export interface CsvImportReport extends UpsertCounts {
  encoding: 'utf8' | 'cp949';
  /** Data records in the file. */
  total: number;
  skipped: SkippedRow[];
  durationMs: number;
}

/** Parse, then upsert the rows (their line numbers dropped), timed: the importers' report. */
export async function importParsed<R extends { row: number }>(
  parse: () => { encoding: 'utf8' | 'cp949'; total: number; rows: R[]; skipped: SkippedRow[] },
  upsert: (rows: Omit<R, 'row'>[]) => Promise<UpsertCounts>,
): Promise<CsvImportReport> {
  const started = performance.now();
  const parsed = parse();
  const counts = await upsert(parsed.rows.map(({ row: _row, ...input }) => input));
  return {
    encoding: parsed.encoding,
    total: parsed.total,
    ...counts,
    skipped: parsed.skipped,
    durationMs: Math.round(performance.now() - started),
  };
}

/**
 * Decodes the file and maps its header; `missing` names what the importer cannot do without,
 * and then the whole file is refused (CsvFormatError naming the columns and the header read).
 */
export function readColumns<F extends string>(
  bytes: Buffer,
  encoding: CsvEncoding,
  names: Record<F, string[]>,
  missing: (col: Partial<Record<F, number>>) => string[],
): {
  encoding: 'utf8' | 'cp949';
  header: string[];
  col: Partial<Record<F, number>>;
  records: CsvRecord[];
} {
  const { encoding: used, header, records } = readCsv(bytes, encoding);
  const col = mapHeader(header, names);
  const absent = missing(col);
  if (absent.length) {
    throw new CsvFormatError(
      `required columns not found: ${absent.join(', ')} (header read as ${used}: ${header.join(', ')})`,
    );
  }
  return { encoding: used, header, col, records };
}

/**
 * Visits each record with the right number of columns; `get(field)` is its cleaned cell ('' when
 * the file lacks the column) and `skip(reason)` reports the record by line. Returns the skips.
 */
export function eachRecord<F extends string>(
  file: { header: string[]; col: Partial<Record<F, number>>; records: CsvRecord[] },
  visit: (get: (f: F) => string, skip: (reason: string) => void, line: number) => void,
): SkippedRow[] {
  const skipped: SkippedRow[] = [];
  const width = file.header.length;
  for (const { record, line } of file.records) {
    const skip = (reason: string) => void skipped.push({ row: line, reason });
    if (record.length !== width) {
      skip(`expected ${width} columns, found ${record.length}`);
      continue;
    }
    const get = (f: F) => {
      const i = file.col[f];
      return i === undefined ? '' : cleanCell(record[i]);
    };
    visit(get, skip, line);
  }
  return skipped;
}
