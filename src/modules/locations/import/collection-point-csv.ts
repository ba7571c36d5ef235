import { createHash } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import * as iconv from 'iconv-lite';
import type { CollectionPointInput } from '../collection-points.repository';
import { LocationType, typesFromCell } from '../location.types';

export type CsvEncoding = 'auto' | 'utf8' | 'cp949';

export interface CsvImportOptions {
  encoding?: CsvEncoding;
  /** Label stored with each row ('sample' for the bundled sample file). */
  dataset?: string | null;
  /** Types for files without a type column (e.g. a district's "폐건전지 수거함" list). */
  defaultTypes?: LocationType[];
}

export interface SkippedRow {
  /** Line number in the file (the header is line 1). */
  row: number;
  reason: string;
}

export interface ParsedCsv {
  encoding: 'utf8' | 'cp949';
  /** Data records read (header excluded). */
  total: number;
  rows: (CollectionPointInput & { row: number })[];
  skipped: SkippedRow[];
}

/** The file cannot be imported at all (no header, a required column missing, not CSV). */
export class CsvFormatError extends Error {
  override name = 'CsvFormatError';
}

type Field = 'name' | 'road' | 'jibun' | 'lat' | 'lng' | 'type' | 'hours' | 'phone' | 'id';

/** Korean district open-data headers (and plain English ones), normalised without spaces. */
const HEADERS: Record<Field, string[]> = {
  name: [
    '시설명',
    '명칭',
    '수거함명',
    '장소명',
    '설치장소명',
    '설치장소',
    '상호명',
    '업소명',
    'name',
  ],
  road: [
    '소재지도로명주소',
    '도로명주소',
    '설치위치도로명주소',
    '도로명',
    'address',
    'roadaddress',
  ],
  jibun: ['소재지지번주소', '지번주소', '주소', '설치위치', '소재지', 'jibunaddress'],
  lat: ['위도', 'latitude', 'lat', 'y좌표', 'y'],
  lng: ['경도', 'longitude', 'lng', 'lon', 'x좌표', 'x'],
  type: [
    '수거품목',
    '구분',
    '수거함종류',
    '수거함구분',
    '시설구분',
    '유형',
    '종류',
    'type',
    'types',
  ],
  hours: ['운영시간', '이용시간', '운영시간안내', 'openinghours', 'hours'],
  phone: ['전화번호', '관리기관전화번호', '연락처', 'phone'],
  id: ['관리번호', '고유번호', '시설번호', 'id', 'sourceid'],
};

const normaliseHeader = (h: string) =>
  h
    .replace(/^\uFEFF/, '')
    .replace(/\(.*?\)/g, '')
    .replace(/[\s_-]+/g, '')
    .toLowerCase();

function mapHeader(header: string[]): Partial<Record<Field, number>> {
  const found: Partial<Record<Field, number>> = {};
  header.forEach((raw, index) => {
    const h = normaliseHeader(raw);
    for (const field of Object.keys(HEADERS) as Field[]) {
      if (found[field] === undefined && HEADERS[field].includes(h)) {
        found[field] = index;
        return;
      }
    }
  });
  return found;
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

function decode(bytes: Buffer, encoding: CsvEncoding): { text: string; used: 'utf8' | 'cp949' } {
  const used = encoding === 'auto' ? detectEncoding(bytes) : encoding;
  const text = used === 'utf8' ? bytes.toString('utf8') : iconv.decode(bytes, 'cp949');
  return { text: text.replace(/^\uFEFF/, ''), used };
}

const clean = (v: string | undefined) => (v ?? '').replace(/\s+/g, ' ').trim();
const orNull = (v: string) => (v === '' ? null : v);

function parseCoordinate(v: string): number {
  return v.trim() === '' ? NaN : Number(v.trim());
}

/** 관리번호 when the file has one, otherwise a hash of name + address (stable across re-imports). */
export function deriveSourceId(managementNo: string, name: string, address: string): string {
  if (managementNo) return `no:${managementNo}`;
  const h = createHash('sha256').update(`${name}\u0000${address}`).digest('hex').slice(0, 24);
  return `h:${h}`;
}

/**
 * Parses a district open-data CSV (Korean headers, UTF-8 or CP949) into rows ready for the
 * upsert, and lists every row it will not import with its line number and the reason.
 */
export function parseCollectionPointsCsv(bytes: Buffer, options: CsvImportOptions = {}): ParsedCsv {
  const { text, used } = decode(bytes, options.encoding ?? 'auto');
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      info: true,
      skip_empty_lines: true,
      relax_column_count: true,
      relax_quotes: true,
    }) as { record: string[]; info: { lines: number } }[];
  } catch (err) {
    throw new CsvFormatError(`not a readable CSV file: ${(err as Error).message}`);
  }
  if (!records.length) throw new CsvFormatError('the file is empty');
  const header = records[0].record;
  const col = mapHeader(header);
  const missing: string[] = [];
  if (col.name === undefined) missing.push('name (시설명/명칭)');
  if (col.lat === undefined) missing.push('latitude (위도)');
  if (col.lng === undefined) missing.push('longitude (경도)');
  if (col.type === undefined && !options.defaultTypes?.length) {
    missing.push('type (수거품목/구분), or pass a default type');
  }
  if (col.road === undefined && col.jibun === undefined) missing.push('address (도로명주소)');
  if (missing.length) {
    throw new CsvFormatError(
      `required columns not found: ${missing.join(', ')} (header read as ${used}: ${header.join(', ')})`,
    );
  }

  const result: ParsedCsv = { encoding: used, total: records.length - 1, rows: [], skipped: [] };
  const seen = new Map<string, number>();
  for (const { record, info } of records.slice(1)) {
    const row = info.lines;
    const skip = (reason: string) => result.skipped.push({ row, reason });
    if (record.length !== header.length) {
      skip(`expected ${header.length} columns, found ${record.length}`);
      continue;
    }
    const get = (f: Field) => (col[f] === undefined ? '' : clean(record[col[f]]));
    const name = get('name');
    if (!name) {
      skip('missing name');
      continue;
    }
    const latText = get('lat');
    const lngText = get('lng');
    const lat = parseCoordinate(latText);
    const lng = parseCoordinate(lngText);
    if (!Number.isFinite(lat) || !Number.isFinite(lng)) {
      skip(`bad coordinates: latitude "${latText}", longitude "${lngText}" are not numbers`);
      continue;
    }
    if (lat < -90 || lat > 90 || lng < -180 || lng > 180) {
      skip(`bad coordinates: latitude ${lat}, longitude ${lng} out of range`);
      continue;
    }
    if (lat === 0 && lng === 0) {
      skip('bad coordinates: 0, 0 (missing)');
      continue;
    }
    const typeCell = get('type');
    let types: LocationType[];
    if (typeCell) {
      const parsed = typesFromCell(typeCell);
      if (!parsed.types.length) {
        skip(`unknown type "${typeCell}"`);
        continue;
      }
      types = parsed.types;
    } else if (options.defaultTypes?.length) {
      types = options.defaultTypes;
    } else {
      skip('missing type');
      continue;
    }
    const address = get('road') || get('jibun');
    const sourceId = deriveSourceId(get('id'), name, address);
    const first = seen.get(sourceId);
    if (first !== undefined) {
      skip(`duplicate of line ${first} (same ${get('id') ? '관리번호' : 'name and address'})`);
      continue;
    }
    seen.set(sourceId, row);
    result.rows.push({
      row,
      source: 'public-data',
      sourceId,
      dataset: options.dataset ?? null,
      name,
      types,
      address,
      lat,
      lng,
      openingHours: orNull(get('hours')),
      phone: orNull(get('phone')),
    });
  }
  return result;
}
