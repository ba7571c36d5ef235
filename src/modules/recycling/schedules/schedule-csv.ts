import { createHash } from 'node:crypto';
import {
  CsvEncoding,
  SkippedRow,
  eachRecord,
  readColumns,
} from '../../../core/csv/public-data-csv';
import { nameKey, sidoCodeOf, sidoNameOf } from '../../locations';
import { formatClock, parseClock } from './put-out-window';

/** One row of recycling.disposal_schedules as the importer hands it over. */
export interface ScheduleInput {
  sourceId: string;
  dataset: string | null;
  sido: string;
  sigungu: string;
  sidoCode: string;
  sigunguKey: string;
  zoneName: string | null;
  targetArea: string | null;
  placeType: string | null;
  place: string | null;
  generalMethod: string | null;
  foodMethod: string | null;
  recyclableMethod: string | null;
  bulkyMethod: string | null;
  bulkyPlace: string | null;
  generalDays: string | null;
  foodDays: string | null;
  recyclableDays: string | null;
  generalStart: string | null;
  generalEnd: string | null;
  foodStart: string | null;
  foodEnd: string | null;
  recyclableStart: string | null;
  recyclableEnd: string | null;
  bulkyStart: string | null;
  bulkyEnd: string | null;
  noCollection: string | null;
  department: string | null;
  phone: string | null;
  /** YYYY-MM-DD. */
  dataDate: string | null;
  providerCode: string | null;
  providerName: string | null;
}

export interface ScheduleCsvOptions {
  encoding?: CsvEncoding;
  /** Label stored with each row ('sample' for the bundled sample file). */
  dataset?: string | null;
}

export interface ParsedScheduleCsv {
  encoding: 'utf8' | 'cp949';
  total: number;
  rows: (ScheduleInput & { row: number })[];
  skipped: SkippedRow[];
}

type TextField = Exclude<
  keyof ScheduleInput,
  'sourceId' | 'dataset' | 'sidoCode' | 'sigunguKey' | 'sido' | 'sigungu'
>;
type Field = TextField | 'sido' | 'sigungu' | 'id';

/**
 * 전국생활쓰레기배출정보표준데이터 headers (the data portal's standard, and the 행정안전부 file
 * that adds 관리번호/개방자치단체코드), normalised without spaces. docs/schedules.md → Data.
 */
const HEADERS: Record<Field, string[]> = {
  sido: ['시도명', '시도'],
  sigungu: ['시군구명', '시군구'],
  zoneName: ['관리구역명'],
  targetArea: ['관리구역대상지역명', '관리구역대상지역'],
  placeType: ['배출장소유형'],
  place: ['배출장소'],
  generalMethod: ['생활쓰레기배출방법'],
  foodMethod: ['음식물쓰레기배출방법'],
  recyclableMethod: ['재활용품배출방법'],
  bulkyMethod: ['일시적다량폐기물배출방법'],
  bulkyPlace: ['일시적다량폐기물배출장소'],
  generalDays: ['생활쓰레기배출요일'],
  foodDays: ['음식물쓰레기배출요일'],
  recyclableDays: ['재활용품배출요일'],
  generalStart: ['생활쓰레기배출시작시각'],
  generalEnd: ['생활쓰레기배출종료시각'],
  foodStart: ['음식물쓰레기배출시작시각'],
  foodEnd: ['음식물쓰레기배출종료시각'],
  recyclableStart: ['재활용품배출시작시각'],
  recyclableEnd: ['재활용품배출종료시각'],
  bulkyStart: ['일시적다량폐기물배출시작시각'],
  bulkyEnd: ['일시적다량폐기물배출종료시각'],
  noCollection: ['미수거일'],
  department: ['관리부서명'],
  phone: ['관리부서전화번호'],
  dataDate: ['데이터기준일자'],
  providerCode: ['제공기관코드', '개방자치단체코드'],
  providerName: ['제공기관명'],
  id: ['관리번호'],
};

const TIME_FIELDS = [
  'generalStart',
  'generalEnd',
  'foodStart',
  'foodEnd',
  'recyclableStart',
  'recyclableEnd',
  'bulkyStart',
  'bulkyEnd',
] as const;

/** What a row must tell at least one of, or it says nothing we can use. */
const CONTENT_FIELDS: TextField[] = [
  'generalMethod',
  'foodMethod',
  'recyclableMethod',
  'bulkyMethod',
  'generalDays',
  'foodDays',
  'recyclableDays',
  'place',
];

const orNull = (v: string) => (v === '' ? null : v);

/** YYYY-MM-DD from "2024-05-01", "2024.05.01", "2024/5/1", "20240501"; null when absent. */
export function parseDataDate(text: string): string | null | typeof NaN {
  if (!text) return null;
  const m = /^(\d{4})[-./]?(\d{1,2})[-./]?(\d{1,2})\.?$/.exec(text);
  if (!m) return NaN;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) {
    return NaN;
  }
  return `${m[1]}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

/**
 * 관리번호 when the file has one; otherwise a hash of what identifies a 관리구역's row: 시도,
 * 시군구, 관리구역명, 대상지역, 배출장소유형, 배출장소. Stable across re-imports of the same file
 * and of the next month's file, so a changed time updates the row rather than adding one.
 */
export function scheduleSourceId(managementNo: string, parts: string[]): string {
  if (managementNo) return `no:${managementNo}`;
  return `h:${createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 24)}`;
}

/**
 * Parses a 생활쓰레기배출정보 CSV (UTF-8 or CP949) into rows ready for the upsert, and lists every
 * row it will not import with its line number and the reason.
 */
export function parseScheduleCsv(
  bytes: Buffer,
  options: ScheduleCsvOptions = {},
): ParsedScheduleCsv {
  const file = readColumns(bytes, options.encoding ?? 'auto', HEADERS, (col) => {
    const missing: string[] = [];
    if (col.sido === undefined) missing.push('시도명');
    if (col.sigungu === undefined) missing.push('시군구명');
    if (!CONTENT_FIELDS.some((f) => col[f] !== undefined)) {
      missing.push('any of 생활쓰레기배출방법/…배출요일/배출장소');
    }
    return missing;
  });
  const { header, col } = file;
  const rows: ParsedScheduleCsv['rows'] = [];
  const seen = new Map<string, number>();
  const skipped = eachRecord(file, (get, skip, row) => {
    const sidoText = get('sido');
    const sigunguText = get('sigungu');
    if (!sidoText || !sigunguText) {
      skip(`missing ${!sidoText ? '시도명' : '시군구명'}`);
      return;
    }
    const sidoCode = sidoCodeOf(sidoText);
    if (!sidoCode) {
      skip(`unknown 시도명 "${sidoText}"`);
      return;
    }
    // "서울특별시 강남구" in the 시군구 column: the 시도 part is dropped.
    const sigungu = sigunguText.replace(/^\S+\s+(?=\S)/, (p) => (sidoCodeOf(p) ? '' : p));
    if (!CONTENT_FIELDS.some((f) => get(f))) {
      skip('no disposal method, day or place for any kind of waste');
      return;
    }
    const times: Partial<Record<(typeof TIME_FIELDS)[number], string | null>> = {};
    const badTime = TIME_FIELDS.find((f) => {
      const minutes = parseClock(get(f));
      if (minutes === undefined) times[f] = null;
      else if (Number.isNaN(minutes)) return true;
      else times[f] = formatClock(minutes);
      return false;
    });
    if (badTime) {
      skip(`bad time "${get(badTime)}" in ${header[col[badTime]!]}`);
      return;
    }
    const dataDate = parseDataDate(get('dataDate'));
    if (Number.isNaN(dataDate)) {
      skip(`bad 데이터기준일자 "${get('dataDate')}"`);
      return;
    }
    const sourceId = scheduleSourceId(get('id'), [
      sidoCode,
      nameKey(sigungu),
      get('zoneName'),
      get('targetArea'),
      get('placeType'),
      get('place'),
    ]);
    const first = seen.get(sourceId);
    if (first !== undefined) {
      skip(
        `duplicate of line ${first} (same ${get('id') ? '관리번호' : '시군구, 관리구역 and 배출장소'})`,
      );
      return;
    }
    seen.set(sourceId, row);
    const text = (f: TextField) => orNull(get(f));
    rows.push({
      row,
      sourceId,
      dataset: options.dataset ?? null,
      sido: sidoNameOf(sidoCode)!,
      sigungu,
      sidoCode,
      sigunguKey: nameKey(sigungu),
      zoneName: text('zoneName'),
      targetArea: text('targetArea'),
      placeType: text('placeType'),
      place: text('place'),
      generalMethod: text('generalMethod'),
      foodMethod: text('foodMethod'),
      recyclableMethod: text('recyclableMethod'),
      bulkyMethod: text('bulkyMethod'),
      bulkyPlace: text('bulkyPlace'),
      generalDays: text('generalDays'),
      foodDays: text('foodDays'),
      recyclableDays: text('recyclableDays'),
      generalStart: times.generalStart ?? null,
      generalEnd: times.generalEnd ?? null,
      foodStart: times.foodStart ?? null,
      foodEnd: times.foodEnd ?? null,
      recyclableStart: times.recyclableStart ?? null,
      recyclableEnd: times.recyclableEnd ?? null,
      bulkyStart: times.bulkyStart ?? null,
      bulkyEnd: times.bulkyEnd ?? null,
      noCollection: text('noCollection'),
      department: text('department'),
      phone: text('phone'),
      dataDate: dataDate as string | null,
      providerCode: text('providerCode'),
      providerName: text('providerName'),
    });
  });
  return { encoding: file.encoding, total: file.records.length, rows, skipped };
}
