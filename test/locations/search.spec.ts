import { RunningApp } from '../../src/app/bootstrap';
import { MetricsServer } from '../../src/core/observability/metrics.server';
import { RedisService } from '../../src/core/redis/redis.service';
import { LocationsService } from '../../src/modules/locations/locations.service';
import { bootRole } from '../support/app';
import { bearer, guestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { KAKAO_ERRORS, KakaoLocalStandin } from '../support/standins/kakao-local.standin';

interface Item {
  id: string;
  name: string;
  source: string;
  distanceM: number | null;
  placeUrl: string | null;
  phone: string | null;
  types: string[];
}

function metres(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const toRad = (d: number) => (d * Math.PI) / 180;
  const h =
    Math.sin(toRad(lat2 - lat1) / 2) ** 2 +
    Math.cos(toRad(lat1)) * Math.cos(toRad(lat2)) * Math.sin(toRad(lng2 - lng1) / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.sqrt(h));
}

const HERE = { lat: 37.5665, lng: 126.978 };
const OURS = { name: '시청 의류수거함', lat: 37.5668, lng: 126.9783 };

describe('locations: search with Kakao Local', () => {
  let iso: Isolation;
  let kakao: KakaoLocalStandin;
  let app: RunningApp;
  let api: string;
  let auth: Record<string, string>;

  beforeAll(async () => {
    iso = await isolate('locsearch');
    kakao = await KakaoLocalStandin.start('test');
    app = await bootRole(iso, {
      APP_ROLE: 'all',
      LOCATIONS_SAMPLE_DATA: 'false',
      KAKAO_LOCAL_URL: kakao.url,
      KAKAO_REST_API_KEY: 'test',
      THIRD_PARTY_TIMEOUT_MS: '300',
    });
    api = `${app.url}/api/v1`;
    auth = bearer(await guestLogin(app.url!));
    const csv = [
      '관리번호,시설명,수거품목,도로명주소,위도,경도',
      `K-1,${OURS.name},의류수거함,서울 중구 세종대로 110,${OURS.lat},${OURS.lng}`,
      `K-2,부산 의류수거함,의류수거함,부산 연제구 중앙대로 1001,35.1798,129.075`,
    ].join('\n');
    await app.app.get(LocationsService).importCsv(Buffer.from(csv), { dataset: 'search-test' });
    kakao.places = [
      // ~25 m from ours: the same bin as Kakao knows it.
      {
        id: '1001',
        place_name: '세종대로 의류수거함',
        category_name: '생활 > 의류수거함',
        lat: OURS.lat + 0.0002,
        lng: OURS.lng + 0.0001,
        phone: '02-120',
      },
      // ~330 m away: a separate place.
      {
        id: '1002',
        place_name: '덕수궁 의류수거함',
        category_name: '생활 > 의류수거함',
        lat: 37.5636,
        lng: 126.9775,
      },
      // Two Kakao entries 10 m apart collapse into one (the first in Kakao's distance order).
      {
        id: '1003',
        place_name: '을지로 의류수거함 1',
        lat: 37.566,
        lng: 126.9825,
      },
      {
        id: '1004',
        place_name: '을지로 의류수거함 2',
        lat: 37.5661,
        lng: 126.9825,
      },
      // Outside the radius.
      { id: '1005', place_name: '수원 의류수거함', lat: 37.2636, lng: 127.0286 },
    ];
  });
  afterAll(async () => {
    await app?.close();
    await kakao?.close();
    await iso?.cleanup();
  });

  const search = async (query: string) => {
    const res = await fetch(`${api}/locations/search?${query}`, { headers: auth });
    return { status: res.status, body: (await res.json()) as { items: Item[]; code?: string } };
  };

  async function clearThrottlePause(): Promise<void> {
    const redis = app.app.get(RedisService);
    await redis.client.del(redis.key('locations', 'kakao', 'throttled'));
  }

  async function kakaoCounter(outcome: string): Promise<number> {
    const port = app.app.get(MetricsServer).port;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const m = new RegExp(
      `^locations_kakao_requests_total\\{outcome="${outcome}"\\} (\\d+)`,
      'm',
    ).exec(text);
    return m ? Number(m[1]) : 0;
  }

  it('merges Kakao places within 50 m of ours, keeps the rest, nearest first', async () => {
    kakao.reset();
    const { status, body } = await search(
      `q=${encodeURIComponent('의류수거함')}&lat=${HERE.lat}&lng=${HERE.lng}&radius=2000`,
    );
    expect(status).toBe(200);
    const names = body.items.map((i) => i.name);
    expect(names).toEqual([OURS.name, '덕수궁 의류수거함', '을지로 의류수거함 2']);
    const ours = body.items[0];
    expect(ours).toMatchObject({ source: 'public-data', phone: '02-120', types: ['clothing'] });
    expect(ours.placeUrl).toBe('http://place.map.kakao.com/1001');
    const fromKakao = body.items[1];
    expect(fromKakao).toMatchObject({ id: 'kakao:1002', source: 'kakao', types: ['clothing'] });
    expect(
      Math.abs(fromKakao.distanceM! - metres(HERE.lat, HERE.lng, 37.5636, 126.9775)),
    ).toBeLessThan(1);

    expect(kakao.requests).toHaveLength(1);
    const sent = kakao.requests[0];
    expect(sent.path).toBe('/v2/local/search/keyword.json');
    expect(sent.authorization).toBe('KakaoAK test');
    expect(sent.query).toMatchObject({
      query: '의류수거함',
      x: HERE.lng.toFixed(4),
      y: HERE.lat.toFixed(4),
      radius: '2000',
      sort: 'distance',
    });
  });

  it('caches Kakao answers in Redis: the same search again does not call Kakao', async () => {
    kakao.reset();
    const hits = await kakaoCounter('cache_hit');
    const q = `q=${encodeURIComponent('덕수궁')}&lat=${HERE.lat}&lng=${HERE.lng}`;
    const first = await search(q);
    const second = await search(q);
    expect(kakao.requests).toHaveLength(1);
    expect(second.body).toEqual(first.body);
    expect(first.body.items.map((i) => i.name)).toEqual(['덕수궁 의류수거함']);
    expect(await kakaoCounter('cache_hit')).toBe(hits + 1);
  });

  it.each([
    ['throttled (429)', 'throttled', () => kakao.failNext(KAKAO_ERRORS.throttled)],
    ['unauthorised (401)', 'unauthorized', () => kakao.failNext(KAKAO_ERRORS.unauthorized)],
    ['service not enabled (403)', 'unauthorized', () => kakao.failNext(KAKAO_ERRORS.notEnabled)],
    ['down (500)', 'server_error', () => kakao.failNext(KAKAO_ERRORS.serverError)],
    ['too slow (timeout)', 'timeout', () => kakao.stallNext(1500)],
  ])(
    'Kakao %s: our own results still come back and the failure is counted',
    async (_l, outcome, arm) => {
      kakao.reset();
      await clearThrottlePause();
      arm();
      const before = await kakaoCounter(outcome);
      // A distinct query per case so the cache does not answer.
      const { status, body } = await search(
        `q=${encodeURIComponent(`시청 의류수거함`)}&lat=${HERE.lat}&lng=${HERE.lng}&limit=${10 + outcome.length}`,
      );
      expect(status).toBe(200);
      expect(body.items.map((i) => i.name)).toEqual([OURS.name]);
      expect(body.items[0].source).toBe('public-data');
      expect(kakao.requests).toHaveLength(1);
      expect(await kakaoCounter(outcome)).toBe(before + 1);
    },
  );

  it('after a 429, every replica leaves Kakao alone for a while', async () => {
    kakao.reset();
    await clearThrottlePause();
    kakao.failNext(KAKAO_ERRORS.throttled);
    await search(`q=${encodeURIComponent('시청')}`);
    const skipped = await kakaoCounter('skipped_throttled');
    const { status, body } = await search(`q=${encodeURIComponent('시청 의류')}`);
    expect(status).toBe(200);
    expect(body.items.map((i) => i.name)).toEqual([OURS.name]);
    expect(kakao.requests).toHaveLength(1);
    expect(await kakaoCounter('skipped_throttled')).toBe(skipped + 1);
    const redis = app.app.get(RedisService);
    const ttl = await redis.client.ttl(redis.key('locations', 'kakao', 'throttled'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
    await clearThrottlePause();
  });

  it('without a point, searches everywhere and Kakao distances are null', async () => {
    kakao.reset();
    const { body } = await search(`q=${encodeURIComponent('부산')}`);
    expect(body.items.map((i) => [i.name, i.distanceM])).toEqual([['부산 의류수거함', null]]);
    expect(kakao.requests[0].query.x).toBeUndefined();
  });

  it('rejects bad search parameters with 400', async () => {
    expect((await search('q=')).status).toBe(400);
    expect((await search(`q=x&lat=${HERE.lat}`)).body.code).toBe('VALIDATION_FAILED');
    expect((await search('q=x&lat=37&lng=127&radius=20001')).status).toBe(400);
  });

  it('without KAKAO_REST_API_KEY only our data is searched', async () => {
    const plain = await bootRole(iso, { APP_ROLE: 'api', KAKAO_LOCAL_URL: kakao.url });
    try {
      kakao.reset();
      const items = await plain.app
        .get(LocationsService)
        .search({ q: '의류수거함', lat: HERE.lat, lng: HERE.lng });
      expect(items.map((i) => i.name)).toEqual([OURS.name]);
      expect(kakao.requests).toHaveLength(0);
    } finally {
      await plain.close();
    }
  });
});
