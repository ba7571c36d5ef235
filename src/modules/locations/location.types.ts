/** docs/api.md → Locations (`locationType`). */
export { LOCATION_TYPES, type LocationType } from '../../core/domain/location-type';
import { LOCATION_TYPES, type LocationType } from '../../core/domain/location-type';

export const LOCATION_SOURCES = ['public-data', 'kakao', 'user'] as const;
export type LocationSource = (typeof LOCATION_SOURCES)[number];

/** The `Location` object of docs/api.md; also what the pipeline's external.map.nearby task stores. */
export interface LocationDto {
  id: string;
  name: string;
  types: LocationType[];
  address: string;
  lat: number;
  lng: number;
  /** Metres from the query point (great-circle), or null when the query had no point. */
  distanceM: number | null;
  openingHours: string | null;
  phone: string | null;
  source: LocationSource;
  placeUrl: string | null;
}

export interface NearbyQuery {
  lat: number;
  lng: number;
  /** 1..20000 */
  radiusM: number;
  /** A point matches when it accepts any of these. */
  types?: LocationType[];
  /** 1..50, default 20 */
  limit?: number;
}

export const MAX_RADIUS_M = 20_000;
export const MAX_LIMIT = 50;
export const DEFAULT_LIMIT = 20;

export function isLocationType(value: string): value is LocationType {
  return (LOCATION_TYPES as readonly string[]).includes(value);
}

/**
 * Korean words used by district open data (수거품목, 구분 columns) and by Kakao place names,
 * most specific first: "재활용센터" must win over "재활용", "투명페트병" over "페트".
 */
const KOREAN_TYPE_WORDS: [string, LocationType][] = [
  ['재활용센터', 'recycling_center'],
  ['자원순환센터', 'recycling_center'],
  ['자원순환', 'recycling_center'],
  ['재사용센터', 'recycling_center'],
  ['제로웨이스트', 'zero_waste_shop'],
  ['리필스테이션', 'zero_waste_shop'],
  ['리필샵', 'zero_waste_shop'],
  ['투명페트', 'clear_pet'],
  ['페트병', 'clear_pet'],
  ['건전지', 'battery'],
  ['배터리', 'battery'],
  ['형광등', 'lamp'],
  ['의류', 'clothing'],
  ['헌옷', 'clothing'],
  ['소형가전', 'small_appliance'],
  ['소형폐가전', 'small_appliance'],
  ['폐가전', 'small_appliance'],
  ['의약품', 'medicine'],
  ['폐의약품', 'medicine'],
  ['식용유', 'cooking_oil'],
  ['폐식용유', 'cooking_oil'],
  ['재활용', 'recycling'],
  ['분리수거', 'recycling'],
  ['분리배출', 'recycling'],
];

/** One label ("폐건전지", "소형 폐가전", "battery") → a type, or undefined when unknown. */
export function typeFromLabel(label: string): LocationType | undefined {
  const plain = label.replace(/\s+/g, '').toLowerCase();
  if (!plain) return undefined;
  if (isLocationType(plain)) return plain;
  for (const [word, type] of KOREAN_TYPE_WORDS) {
    if (plain.includes(word)) return type;
  }
  return undefined;
}

/**
 * A type cell may list several items ("폐건전지, 폐형광등", "폐건전지/폐형광등"). Returns the
 * recognised types (deduplicated, in order) and the labels that matched nothing.
 */
export function typesFromCell(cell: string): { types: LocationType[]; unknown: string[] } {
  const types: LocationType[] = [];
  const unknown: string[] = [];
  for (const part of cell.split(/[,/·|;+]|\s및\s/)) {
    const label = part.trim();
    if (!label) continue;
    const type = typeFromLabel(label);
    if (!type) unknown.push(label);
    else if (!types.includes(type)) types.push(type);
  }
  return { types, unknown };
}
