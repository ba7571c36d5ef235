import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Counter, Histogram } from 'prom-client';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { Metrics } from '../../../core/observability/metrics';
import { RedisService } from '../../../core/redis/redis.service';
import { HttpCallError, HttpClient } from '../../../core/http-client/http-client';

/** One document of Kakao Local's keyword search, with x/y/distance parsed from their strings. */
export interface KakaoPlace {
  id: string;
  name: string;
  categoryName: string;
  phone: string | null;
  address: string;
  lat: number;
  lng: number;
  placeUrl: string | null;
  distanceM: number | null;
}

/** Wire format (docs/locations.md → Kakao Local): x, y and distance are strings. */
interface KakaoDocument {
  id: string;
  place_name: string;
  category_name?: string;
  phone?: string;
  address_name?: string;
  road_address_name?: string;
  x: string;
  y: string;
  place_url?: string;
  distance?: string;
}

/** One document of coord2regioncode (docs/architecture.md → Third parties): B = 법정동, H = 행정동. */
export interface KakaoRegionDocument {
  region_type: 'B' | 'H';
  address_name: string;
  region_1depth_name: string;
  region_2depth_name: string;
  region_3depth_name: string;
  region_4depth_name: string;
  /** 10 digits; the first five are the 시군구. */
  code: string;
  x: number;
  y: number;
}

export type KakaoOutcome =
  | 'ok'
  | 'cache_hit'
  | 'skipped_throttled'
  | 'throttled'
  | 'unauthorized'
  | 'bad_request'
  | 'server_error'
  | 'timeout'
  | 'network_error'
  | 'bad_response';

const CACHE_TTL_SECONDS = 86_400;
/** Districts change by law, a few times a decade: a point's region is cached for 30 days. */
const REGION_CACHE_TTL_SECONDS = 30 * 86_400;
/** Kakao's own limits: radius 0–20000 m, size 1–15. */
const KAKAO_MAX_RADIUS = 20_000;
const KAKAO_PAGE_SIZE = 15;
/** After a 429 without Retry-After, leave Kakao alone this long (all replicas, via Redis). */
const THROTTLE_PAUSE_SECONDS = 60;

class KakaoFailure extends Error {
  constructor(
    readonly outcome: KakaoOutcome,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** An HTTP failure as the outcome label of locations_kakao_requests_total. */
function kakaoFailure(err: HttpCallError): KakaoFailure {
  if (err.kind === 'timeout') return new KakaoFailure('timeout', err.message);
  if (err.kind === 'network') return new KakaoFailure('network_error', err.message);
  if (err.kind === 'bad_json') return new KakaoFailure('bad_response', 'body is not JSON');
  let detail = (err.body ?? '').slice(0, 200);
  try {
    const e = JSON.parse(err.body ?? '') as { errorType?: string; message?: string };
    if (e.errorType) detail = `${e.errorType}: ${e.message ?? ''}`;
  } catch {
    /* not JSON: keep the raw text */
  }
  const status = err.status!;
  const outcome: KakaoOutcome =
    status === 429
      ? 'throttled'
      : status === 401 || status === 403
        ? 'unauthorized'
        : status >= 500
          ? 'server_error'
          : 'bad_request';
  const retryAfterS = err.retryAfterMs ? Math.ceil(err.retryAfterMs / 1000) : 0;
  return new KakaoFailure(
    outcome,
    `HTTP ${status} ${detail}`,
    retryAfterS > 0 ? Math.min(retryAfterS, 3600) : undefined,
  );
}

/**
 * Kakao Local keyword search, cached in Redis for a day. Never throws: on any failure (down,
 * 429, 401/403, timeout, garbage) it logs, counts `locations_kakao_requests_total{outcome}` and
 * returns null so the caller answers with our own data. After a 429 every replica leaves Kakao
 * alone for Retry-After (or 60 s): those searches count as `skipped_throttled`.
 */
@Injectable()
export class KakaoLocalClient {
  private readonly logger = new Logger(KakaoLocalClient.name);
  private readonly requests: Counter<'outcome'>;
  private readonly latency: Histogram<'outcome'>;
  private readonly regionRequests: Counter<'outcome'>;
  private readonly regionLatency: Histogram<'outcome'>;

  private readonly http: HttpClient;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly redis: RedisService,
    metrics: Metrics,
  ) {
    this.http = new HttpClient({
      service: 'kakao_local',
      name: 'Kakao Local',
      timeoutMs: config.THIRD_PARTY_TIMEOUT_MS,
    });
    this.requests = metrics.counter(
      'locations_kakao_requests_total',
      'Kakao Local keyword searches by outcome (ok, cache_hit, throttled, unauthorized, timeout, ...)',
      ['outcome'],
    );
    this.latency = metrics.histogram(
      'locations_kakao_request_duration_seconds',
      'Kakao Local HTTP call latency by outcome',
      ['outcome'],
      [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    );
    this.regionRequests = metrics.counter(
      'locations_kakao_region_requests_total',
      'Kakao Local coord2regioncode lookups by outcome (same outcomes as keyword searches)',
      ['outcome'],
    );
    this.regionLatency = metrics.histogram(
      'locations_kakao_region_request_duration_seconds',
      'Kakao Local coord2regioncode HTTP call latency by outcome',
      ['outcome'],
      [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    );
  }

  get enabled(): boolean {
    return Boolean(this.config.KAKAO_REST_API_KEY);
  }

  async keyword(q: {
    query: string;
    lat?: number;
    lng?: number;
    radiusM?: number;
  }): Promise<KakaoPlace[] | null> {
    if (!this.enabled) return null;
    const params = new URLSearchParams({
      query: q.query,
      page: '1',
      size: String(KAKAO_PAGE_SIZE),
    });
    if (q.lat !== undefined && q.lng !== undefined) {
      // ~11 m rounding: nearby users share cache entries; distances are recomputed by the caller.
      params.set('x', q.lng.toFixed(4));
      params.set('y', q.lat.toFixed(4));
      params.set('radius', String(Math.min(KAKAO_MAX_RADIUS, Math.round(q.radiusM ?? 5000))));
      params.set('sort', 'distance');
    }
    return this.cached(
      {
        what: 'keyword search',
        hash: params.toString(),
        ttl: CACHE_TTL_SECONDS,
        requests: this.requests,
        latency: this.latency,
      },
      () => this.get('/v2/local/search/keyword.json', params).then(parsePlaces),
    );
  }

  /**
   * The 법정동 (B) and 행정동 (H) documents for a point, cached in Redis for 30 days with the
   * point rounded to 4 decimals (~11 m). Empty for a point outside Korea; null on any failure
   * (the caller answers offline). Counted in `locations_kakao_region_requests_total{outcome}`.
   */
  async coord2region(lat: number, lng: number): Promise<KakaoRegionDocument[] | null> {
    if (!this.enabled) return null;
    const params = new URLSearchParams({ x: lng.toFixed(4), y: lat.toFixed(4) });
    return this.cached(
      {
        what: 'coord2regioncode',
        hash: `coord2regioncode?${params}`,
        ttl: REGION_CACHE_TTL_SECONDS,
        requests: this.regionRequests,
        latency: this.regionLatency,
      },
      () => this.get('/v2/local/geo/coord2regioncode.json', params).then(parseRegions),
    );
  }

  /**
   * Redis cache, then the shared 429 pause, then the call. Never throws: a failure is logged,
   * counted and answered with null.
   */
  private async cached<T>(
    o: {
      what: string;
      hash: string;
      ttl: number;
      requests: Counter<'outcome'>;
      latency: Histogram<'outcome'>;
    },
    call: () => Promise<T>,
  ): Promise<T | null> {
    const cacheKey = this.redis.key(
      'locations',
      'kakao',
      createHash('sha256').update(o.hash).digest('hex').slice(0, 32),
    );
    const cached = await this.redis.client.get(cacheKey).catch(() => null);
    if (cached) {
      o.requests.labels('cache_hit').inc();
      return JSON.parse(cached) as T;
    }

    // Kakao said 429 recently: don't spend the user's time on a call that will be refused.
    const pausedKey = this.redis.key('locations', 'kakao', 'throttled');
    if (await this.redis.client.exists(pausedKey).catch(() => 0)) {
      o.requests.labels('skipped_throttled').inc();
      return null;
    }

    const started = performance.now();
    const observe = (outcome: KakaoOutcome) => {
      o.requests.labels(outcome).inc();
      o.latency.labels(outcome).observe((performance.now() - started) / 1000);
    };
    try {
      const value = await call();
      observe('ok');
      await this.redis.client
        .set(cacheKey, JSON.stringify(value), 'EX', o.ttl)
        .catch((err: Error) => this.logger.warn(`kakao cache write failed: ${err.message}`));
      return value;
    } catch (err) {
      const failure =
        err instanceof KakaoFailure
          ? err
          : new KakaoFailure('network_error', err instanceof Error ? err.message : String(err));
      observe(failure.outcome);
      if (failure.outcome === 'throttled') {
        const pause = failure.retryAfterSeconds ?? THROTTLE_PAUSE_SECONDS;
        await this.redis.client.set(pausedKey, '1', 'EX', pause).catch(() => undefined);
      }
      this.logger.warn(
        `Kakao Local ${o.what} failed (${failure.outcome}): ${failure.message}; answering without Kakao`,
      );
      return null;
    }
  }

  /** GET and parse JSON; throws KakaoFailure classified by outcome. */
  private async get(path: string, params: URLSearchParams): Promise<unknown> {
    const url = `${this.config.KAKAO_LOCAL_URL.replace(/\/$/, '')}${path}?${params}`;
    try {
      const res = await this.http.request(url, {
        headers: { Authorization: `KakaoAK ${this.config.KAKAO_REST_API_KEY}` },
      });
      return res.json();
    } catch (err) {
      throw err instanceof HttpCallError ? kakaoFailure(err) : err;
    }
  }
}

function documentsOf<T>(body: unknown): T[] {
  const documents = (body as { documents?: unknown } | null)?.documents;
  if (!Array.isArray(documents)) throw new KakaoFailure('bad_response', 'no documents array');
  return documents as T[];
}

function parsePlaces(body: unknown): KakaoPlace[] {
  return documentsOf<KakaoDocument>(body).flatMap((d) => {
    const lat = Number(d.y);
    const lng = Number(d.x);
    if (!d.id || !d.place_name || !Number.isFinite(lat) || !Number.isFinite(lng)) return [];
    return [
      {
        id: String(d.id),
        name: d.place_name,
        categoryName: d.category_name ?? '',
        phone: d.phone ? d.phone : null,
        address: d.road_address_name || d.address_name || '',
        lat,
        lng,
        placeUrl: d.place_url ? d.place_url : null,
        distanceM: d.distance ? Number(d.distance) : null,
      },
    ];
  });
}

/** Kakao's x/y for regions are numbers (unlike keyword search); documents of another type are dropped. */
function parseRegions(body: unknown): KakaoRegionDocument[] {
  return documentsOf<Partial<KakaoRegionDocument>>(body).flatMap((d) =>
    (d.region_type === 'B' || d.region_type === 'H') && typeof d.code === 'string'
      ? [
          {
            region_type: d.region_type,
            address_name: d.address_name ?? '',
            region_1depth_name: d.region_1depth_name ?? '',
            region_2depth_name: d.region_2depth_name ?? '',
            region_3depth_name: d.region_3depth_name ?? '',
            region_4depth_name: d.region_4depth_name ?? '',
            code: d.code,
            x: Number(d.x),
            y: Number(d.y),
          },
        ]
      : [],
  );
}
