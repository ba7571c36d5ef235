import { RunningApp } from '../../src/app/bootstrap';
import { MetricsServer } from '../../src/core/observability/metrics.server';
import { bootRole } from '../support/app';
import { bearer, guestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';
import { KAKAO_ERRORS, KakaoLocalStandin } from '../support/standins/kakao-local.standin';

/** Response bodies are asserted field by field; their shape is what the tests check. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const GANGNAM_OFFICE = { lat: 37.5173, lng: 127.0474 }; // 강남구청 (삼성2동)
const YEOKSAM = { lat: 37.5006, lng: 127.0366 }; // 역삼역 (역삼1동)
const AT_SEA = { lat: 36.5, lng: 125.0 };

/** Every window is consistent with the hours it came from, in +09:00, and not already over. */
function expectWindow(kind: Json, asOf: string): void {
  const next = kind.next;
  expect(next).not.toBeNull();
  expect(next.start).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00\+09:00$/);
  expect(next.end).toMatch(/\+09:00$/);
  expect(new Date(next.end).getTime()).toBeGreaterThan(new Date(asOf).getTime());
  expect(new Date(next.start).getTime()).toBeLessThan(new Date(next.end).getTime());
  expect(next.open).toBe(new Date(next.start).getTime() <= new Date(asOf).getTime());
  if (!next.open) {
    expect(next.start.slice(11, 16)).toBe(kind.hours.start);
    expect(next.text).toContain(`${kind.hours.start}–`);
  }
  // The window starts on one of the listed weekdays (Seoul wall clock).
  const weekday = new Date(new Date(next.start).getTime() + 9 * 3600_000).getUTCDay();
  expect(kind.days).toContain(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][weekday]);
}

describe('GET /recycling/schedule and the home region', () => {
  let iso: Isolation;
  let kakao: KakaoLocalStandin;
  let app: RunningApp;
  let offlineApp: RunningApp;
  let auth: Record<string, string>;
  let offlineAuth: Record<string, string>;

  beforeAll(async () => {
    iso = await isolate('schedhttp');
    kakao = await KakaoLocalStandin.start('test');
    // The `all` role loads the sample schedules into the empty table; no Kakao key: offline.
    offlineApp = await bootRole(iso, { APP_ROLE: 'all', LOCATIONS_SAMPLE_DATA: 'false' });
    offlineAuth = bearer(await guestLogin(offlineApp.url!));
    app = await bootRole(iso, {
      APP_ROLE: 'api',
      JWT_SECRET: 'test-secret-test-secret-test-secret-0123456789',
      KAKAO_LOCAL_URL: kakao.url,
      KAKAO_REST_API_KEY: 'test',
      THIRD_PARTY_TIMEOUT_MS: '300',
    });
    auth = bearer(await guestLogin(app.url!));
    kakao.regions = [
      {
        ...YEOKSAM,
        radiusM: 300,
        sido: '서울특별시',
        sigungu: '강남구',
        legalDong: '역삼동',
        adminDong: '역삼1동',
        legalCode: '1168010100',
        adminCode: '1168064000',
      },
    ];
  });
  afterAll(async () => {
    await app?.close();
    await offlineApp?.close();
    await kakao?.close();
    await iso?.cleanup();
  });

  const call = async (
    target: RunningApp,
    path: string,
    headers: Record<string, string>,
    init: RequestInit = {},
  ) => {
    const res = await fetch(`${target.url}/api/v1${path}`, {
      ...init,
      headers: { 'content-type': 'application/json', ...headers },
    });
    return {
      status: res.status,
      type: res.headers.get('content-type') ?? '',
      body: (await res.json()) as Json,
    };
  };
  const schedule = (query: string, target = offlineApp, headers = offlineAuth) =>
    call(target, `/recycling/schedule${query}`, headers);
  const patchMe = (body: unknown) =>
    call(offlineApp, '/users/me', offlineAuth, { method: 'PATCH', body: JSON.stringify(body) });

  it('answers a region by name with its zones, days, hours, department and next window', async () => {
    const res = await schedule(`?region=${encodeURIComponent('서울 강남구')}`);
    expect(res.status).toBe(200);
    expect(res.body.region).toEqual({
      code: '11680',
      sido: '서울특별시',
      sigungu: '강남구',
      name: '서울특별시 강남구',
      source: 'query',
      dong: null,
    });
    expect(res.body).toMatchObject({ available: true, matchedBy: 'sigungu' });
    expect(res.body.zones.map((z: Json) => z.zone)).toEqual([
      '[샘플] 강남구 1권역',
      '[샘플] 강남구 2권역',
    ]);
    const zone = res.body.zones[0];
    expect(zone).toMatchObject({
      placeType: '문전수거',
      noCollectionDays: '토요일, 명절 당일',
      department: '[샘플] 청소행정과',
      phone: '02-000-0002',
      dataDate: '2025-01-01',
    });
    expect(zone.kinds.map((k: Json) => k.kind)).toEqual(['general', 'food', 'recyclable', 'bulky']);
    const general = zone.kinds[0];
    expect(general).toMatchObject({
      days: ['sun', 'tue', 'thu'],
      daysText: '일+화+목',
      hours: { start: '20:00', end: '24:00' },
      method: '종량제봉투에 담아 배출',
    });
    expect(zone.kinds[1].days).toEqual(['sun', 'mon', 'tue', 'wed', 'thu', 'fri']);
    for (const kind of zone.kinds) expectWindow(kind, res.body.asOf);
    // Saturday is a no-collection day: no window starts on it, even for food (일~금 anyway).
    for (const z of res.body.zones) {
      for (const k of z.kinds) {
        const weekday = new Date(new Date(k.next.start).getTime() + 9 * 3600_000).getUTCDay();
        expect(weekday).not.toBe(6);
      }
    }
  });

  it('English text on request; a window past midnight (마포구 19:00–02:00)', async () => {
    const res = await schedule(`?region=${encodeURIComponent('마포구')}&locale=en`);
    expect(res.status).toBe(200);
    const general = res.body.zones[0].kinds[0];
    expect(general.hours).toEqual({ start: '19:00', end: '02:00' });
    expectWindow(general, res.body.asOf);
    expect(general.next.text).toMatch(
      /^(now until 02:00|(tonight|today|tomorrow night|tomorrow|[A-Z][a-z]+day) 19:00–02:00)$/,
    );
    expect(
      new Date(general.next.end).getTime() - new Date(general.next.start).getTime(),
    ).toBeLessThanOrEqual(7 * 3600_000);
  });

  it('offline: coordinates → 시군구 without any key; a 일반구 finds its city’s rows', async () => {
    const res = await schedule(`?lat=${GANGNAM_OFFICE.lat}&lng=${GANGNAM_OFFICE.lng}`);
    expect(res.status).toBe(200);
    expect(res.body.region).toMatchObject({ code: '11680', source: 'offline', dong: null });
    expect(res.body.zones).toHaveLength(2);
    // 수원시청 is in 팔달구; the sample files the rows under 수원시.
    const suwon = await schedule('?lat=37.2636&lng=127.0286');
    expect(suwon.body.region).toMatchObject({ code: '41115', sigungu: '수원시 팔달구' });
    expect(suwon.body.zones.map((z: Json) => z.zone)).toEqual(['[샘플] 수원시 전역']);
    const busan = await schedule(`?region=${encodeURIComponent('부산광역시 해운대구')}`);
    expect(busan.body.zones[0].kinds[0].hours).toEqual({ start: '20:00', end: '04:00' });
  });

  it('a known region without data says so plainly (200, available: false)', async () => {
    const res = await schedule(`?region=${encodeURIComponent('종로구')}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      region: { code: '11110', name: '서울특별시 종로구' },
      available: false,
      matchedBy: null,
      zones: [],
    });
    expect(res.body.message).toContain('데이터가 아직 없습니다');
  });

  it('unknown → 404 REGION_UNKNOWN; ambiguous → 400 REGION_AMBIGUOUS; bad input → 400', async () => {
    const unknown = await schedule(`?region=${encodeURIComponent('없는구')}`);
    expect(unknown.status).toBe(404);
    expect(unknown.type).toContain('application/problem+json');
    expect(unknown.body.code).toBe('REGION_UNKNOWN');
    expect(JSON.stringify(unknown.body)).not.toContain('없는구'); // the answer does not echo input
    const sea = await schedule(`?lat=${AT_SEA.lat}&lng=${AT_SEA.lng}`);
    expect([sea.status, sea.body.code]).toEqual([404, 'REGION_UNKNOWN']);
    const code = await schedule('?region=99999');
    expect([code.status, code.body.code]).toEqual([404, 'REGION_UNKNOWN']);

    const ambiguous = await schedule(`?region=${encodeURIComponent('중구')}`);
    expect([ambiguous.status, ambiguous.body.code]).toEqual([400, 'REGION_AMBIGUOUS']);
    expect(ambiguous.body.errors[0].message).toContain('서울특별시 중구');

    for (const [query, field] of [
      ['?lat=abc&lng=127', 'lat'],
      ['?lat=&lng=127', 'lat'],
      ['?lat=91&lng=127', 'lat'],
      ['?lat=37.5', 'lng'],
      [`?lat=37.5&lng=127&region=${encodeURIComponent('강남구')}`, 'region'],
      [`?region=${encodeURIComponent('강남구;drop')}`, 'region'],
      ['?locale=fr', 'locale'],
      ['?region=%20', 'region'], // blank after trimming
      ['', 'region'], // nothing to go on and no home region saved
    ]) {
      const res = await schedule(query);
      expect([query, res.status, res.body.code]).toEqual([query, 400, 'VALIDATION_FAILED']);
      expect(res.body.errors.map((e: Json) => e.field)).toContain(field);
    }
    const noToken = await schedule('?region=11680', offlineApp, {});
    expect(noToken.status).toBe(401);
  });

  it('PATCH /users/me saves a home region, used when the request has no location', async () => {
    const saved = await patchMe({ homeRegion: '서울 마포구' });
    expect(saved.status).toBe(200);
    expect(saved.body.homeRegion).toEqual({
      code: '11440',
      sido: '서울특별시',
      sigungu: '마포구',
      name: '서울특별시 마포구',
    });
    expect((await call(offlineApp, '/users/me', offlineAuth)).body.homeRegion.code).toBe('11440');
    const res = await schedule('');
    expect(res.status).toBe(200);
    expect(res.body.region).toMatchObject({ code: '11440', source: 'profile' });
    expect(res.body.zones[0].zone).toBe('[샘플] 마포구 전역');

    for (const homeRegion of ['중구', '없는구', 'a\u0000b', 42]) {
      const bad = await patchMe({ homeRegion });
      expect([homeRegion, bad.status, bad.body.code]).toEqual([
        homeRegion,
        400,
        'VALIDATION_FAILED',
      ]);
      // A control character is refused by the JSON body parser already (field "body").
      const fields = homeRegion === 'a\u0000b' ? ['body', 'homeRegion'] : ['homeRegion'];
      expect(fields).toContain(bad.body.errors[0].field);
    }
    const removed = await patchMe({ homeRegion: null });
    expect(removed.body.homeRegion).toBeNull();
    // GET /users/me reads it with the stats (one statement): gone there too.
    expect((await call(offlineApp, '/users/me', offlineAuth)).body.homeRegion).toBeNull();
    expect((await schedule('')).status).toBe(400);
  });

  it('with KAKAO_REST_API_KEY: Kakao names the 행정동, which picks the 관리구역; cached', async () => {
    kakao.reset();
    const res = await schedule(`?lat=${YEOKSAM.lat}&lng=${YEOKSAM.lng}`, app, auth);
    expect(res.status).toBe(200);
    expect(res.body.region).toEqual({
      code: '11680',
      sido: '서울특별시',
      sigungu: '강남구',
      name: '서울특별시 강남구',
      source: 'kakao',
      dong: '역삼1동',
    });
    expect(res.body.matchedBy).toBe('dong');
    expect(res.body.zones.map((z: Json) => z.zone)).toEqual(['[샘플] 강남구 1권역']);
    expect(kakao.requests).toHaveLength(1);
    expect(kakao.requests[0]).toMatchObject({
      path: '/v2/local/geo/coord2regioncode.json',
      query: { x: YEOKSAM.lng.toFixed(4), y: YEOKSAM.lat.toFixed(4) },
      authorization: 'KakaoAK test',
    });
    const again = await schedule(`?lat=${YEOKSAM.lat}&lng=${YEOKSAM.lng}`, app, auth);
    expect(again.body.region.source).toBe('kakao');
    expect(kakao.requests).toHaveLength(1); // from Redis
  });

  it('Kakao failures fall back to the offline answer; outside Korea stays unknown', async () => {
    const counter = async (outcome: string) => {
      const port = app.app.get(MetricsServer).port;
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const m = new RegExp(
        `^locations_kakao_region_requests_total\\{outcome="${outcome}"\\} (\\d+)`,
        'm',
      ).exec(text);
      return m ? Number(m[1]) : 0;
    };
    const errorsBefore = await counter('server_error');
    for (const fault of [KAKAO_ERRORS.serverError, KAKAO_ERRORS.unauthorized]) {
      kakao.reset();
      kakao.failNext(fault);
      const res = await schedule(`?lat=${GANGNAM_OFFICE.lat}&lng=${GANGNAM_OFFICE.lng}`, app, auth);
      expect(res.status).toBe(200);
      expect(res.body.region).toMatchObject({ code: '11680', source: 'offline' });
      expect(kakao.requests).toHaveLength(1);
    }
    expect(await counter('server_error')).toBe(errorsBefore + 1);
    kakao.reset();
    kakao.stallNext(2000);
    const slow = await schedule('?lat=37.5663&lng=126.9779', app, auth);
    expect(slow.body.region).toMatchObject({ code: '11140', source: 'offline' });
    // Kakao answers "no documents" outside Korea: no region, not a guess.
    kakao.reset();
    const sea = await schedule(`?lat=${AT_SEA.lat}&lng=${AT_SEA.lng}`, app, auth);
    expect([sea.status, sea.body.code]).toEqual([404, 'REGION_UNKNOWN']);
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${offlineApp.url}/docs-json`)).json()) as Json;
    const op = doc.paths['/api/v1/recycling/schedule'].get;
    expect(op.parameters.map((p: Json) => p.name).sort()).toEqual([
      'lat',
      'lng',
      'locale',
      'region',
    ]);
    expect(Object.keys(op.responses).sort()).toEqual(['200', '400', '401', '404']);
  });
});
