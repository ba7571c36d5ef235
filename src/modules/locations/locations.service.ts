import { Injectable } from '@nestjs/common';
import { CollectionPointsRepository } from './collection-points.repository';
import { haversineM, validLatLng } from './geo.util';
import { CsvImportOptions } from './import/collection-point-csv';
import { ImportReport, importCollectionPoints } from './import/collection-point.importer';
import { KakaoLocalClient, KakaoPlace } from './kakao/kakao-local.client';
import {
  DEFAULT_LIMIT,
  LocationDto,
  LocationType,
  MAX_LIMIT,
  MAX_RADIUS_M,
  NearbyQuery,
  typeFromLabel,
} from './location.types';

export type { LocationDto, LocationType, NearbyQuery } from './location.types';

/** Results closer than this are the same place (docs/api.md → Locations). */
export const MERGE_DISTANCE_M = 50;

export interface SearchQuery {
  q: string;
  lat?: number;
  lng?: number;
  radiusM?: number;
  limit?: number;
}

/** Into [min, max]; NaN/Infinity/undefined give the fallback. */
const clamp = (v: number | undefined, min: number, max: number, fallback: number) =>
  v !== undefined && Number.isFinite(v) ? Math.min(max, Math.max(min, v)) : fallback;

/**
 * Collection points: nearby search (our table, geo-indexed), keyword search (ours plus Kakao
 * Local, merged), lookup and CSV import. Also what the pipeline's external.map.nearby task calls.
 */
@Injectable()
export class LocationsService {
  constructor(
    readonly points: CollectionPointsRepository,
    private readonly kakao: KakaoLocalClient,
  ) {}

  /**
   * Nearest first, within radiusM (clamped to 1..20000; limit to 1..50, default 20). A point
   * matches `types` when it accepts any of them. Invalid coordinates give an empty list rather
   * than an error: the pipeline passes what the phone sent, and "nothing nearby" is the honest
   * answer (the HTTP API rejects them with 400 before they get here).
   */
  async nearby(q: NearbyQuery): Promise<LocationDto[]> {
    if (!validLatLng(q.lat, q.lng)) return [];
    return this.points.nearby({
      lat: q.lat,
      lng: q.lng,
      radiusM: clamp(q.radiusM, 1, MAX_RADIUS_M, 1000),
      types: q.types,
      limit: Math.floor(clamp(q.limit, 1, MAX_LIMIT, DEFAULT_LIMIT)),
    });
  }

  async findById(id: string): Promise<LocationDto | null> {
    return this.points.findById(id);
  }

  /**
   * Our rows matching the text plus Kakao Local's keyword results (when a key is configured).
   * A Kakao place within 50 m of one already listed is merged into it (ours wins, Kakao fills
   * phone/placeUrl we lack). A Kakao failure only costs its results (the client logs and counts).
   */
  async search(q: SearchQuery): Promise<LocationDto[]> {
    const limit = Math.floor(clamp(q.limit, 1, MAX_LIMIT, DEFAULT_LIMIT));
    const hasPoint = q.lat !== undefined && q.lng !== undefined;
    const radiusM = clamp(q.radiusM, 1, MAX_RADIUS_M, MAX_RADIUS_M);
    const [own, places] = await Promise.all([
      this.points.search({ text: q.q, lat: q.lat, lng: q.lng, radiusM, limit }),
      this.kakao.keyword({ query: q.q, lat: q.lat, lng: q.lng, radiusM }),
    ]);
    const merged = [...own];
    for (const place of places ?? []) {
      const near = merged.find(
        (m) => haversineM(m.lat, m.lng, place.lat, place.lng) <= MERGE_DISTANCE_M,
      );
      if (near) {
        near.phone ??= place.phone;
        near.placeUrl ??= place.placeUrl;
        continue;
      }
      const distanceM = hasPoint
        ? Math.round(haversineM(q.lat!, q.lng!, place.lat, place.lng))
        : null;
      if (distanceM !== null && distanceM > radiusM) continue;
      merged.push(fromKakao(place, distanceM));
    }
    if (hasPoint) merged.sort((a, b) => (a.distanceM ?? Infinity) - (b.distanceM ?? Infinity));
    return merged.slice(0, limit);
  }

  async importCsv(bytes: Buffer, options: CsvImportOptions = {}): Promise<ImportReport> {
    return importCollectionPoints(this.points, bytes, options);
  }
}

function fromKakao(place: KakaoPlace, distanceM: number | null): LocationDto {
  const types: LocationType[] = [];
  for (const label of [place.name, ...place.categoryName.split('>')]) {
    const t = typeFromLabel(label);
    if (t && !types.includes(t)) types.push(t);
  }
  return {
    id: `kakao:${place.id}`,
    name: place.name,
    types,
    address: place.address,
    lat: place.lat,
    lng: place.lng,
    distanceM,
    openingHours: null,
    phone: place.phone,
    source: 'kakao',
    placeUrl: place.placeUrl,
  };
}
