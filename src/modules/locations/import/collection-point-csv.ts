import { createHash } from 'node:crypto';
import {
  CsvEncoding,
  SkippedRow,
  eachRecord,
  readColumns,
} from '../../../core/csv/public-data-csv';
import type { CollectionPointInput } from '../collection-points.repository';
import { LocationType, typesFromCell } from '../location.types';

export { CsvFormatError, detectEncoding } from '../../../core/csv/public-data-csv';
export type { CsvEncoding, SkippedRow } from '../../../core/csv/public-data-csv';

export interface CsvImportOptions {
  encoding?: CsvEncoding;
  /** Label stored with each row ('sample' for the bundled sample file). */
  dataset?: string | null;
  /** Types for files without a type column (e.g. a district's "폐건전지 수거함" list). */
  defaultTypes?: LocationType[];
}

export interface ParsedCsv {
  encoding: 'utf8' | 'cp949';
  /** Data records read (header excluded). */
  total: number;
  rows: (CollectionPointInput & { row: number })[];
  skipped: SkippedRow[];
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
  const file = readColumns(bytes, options.encoding ?? 'auto', HEADERS, (col) => {
    const missing: string[] = [];
    if (col.name === undefined) missing.push('name (시설명/명칭)');
    if (col.lat === undefined) missing.push('latitude (위도)');
    if (col.lng === undefined) missing.push('longitude (경도)');
    if (col.type === undefined && !options.defaultTypes?.length) {
      missing.push('type (수거품목/구분), or pass a default type');
    }
    if (col.road === undefined && col.jibun === undefined) missing.push('address (도로명주소)');
    return missing;
  });

  const rows: ParsedCsv['rows'] = [];
  const seen = new Map<string, number>();
  const skipped = eachRecord(file, (get, skip, row) => {
    const name = get('name');
    if (!name) {
      skip('missing name');
      return;
    }
    const latText = get('lat');
    const lngText = get('lng');
    const lat = parseCoordinate(latText);
    const lng = parseCoordinate(lngText);
    if (!Number.isFinite(lat) || !Number.isFinite(lng)) {
      skip(`bad coordinates: latitude "${latText}", longitude "${lngText}" are not numbers`);
      return;
    }
    if (lat < -90 || lat > 90 || lng < -180 || lng > 180) {
      skip(`bad coordinates: latitude ${lat}, longitude ${lng} out of range`);
      return;
    }
    if (lat === 0 && lng === 0) {
      skip('bad coordinates: 0, 0 (missing)');
      return;
    }
    const typeCell = get('type');
    let types: LocationType[];
    if (typeCell) {
      const parsed = typesFromCell(typeCell);
      if (!parsed.types.length) {
        skip(`unknown type "${typeCell}"`);
        return;
      }
      types = parsed.types;
    } else if (options.defaultTypes?.length) {
      types = options.defaultTypes;
    } else {
      skip('missing type');
      return;
    }
    const address = get('road') || get('jibun');
    const sourceId = deriveSourceId(get('id'), name, address);
    const first = seen.get(sourceId);
    if (first !== undefined) {
      skip(`duplicate of line ${first} (same ${get('id') ? '관리번호' : 'name and address'})`);
      return;
    }
    seen.set(sourceId, row);
    rows.push({
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
  });
  return { encoding: file.encoding, total: file.records.length, rows, skipped };
}
