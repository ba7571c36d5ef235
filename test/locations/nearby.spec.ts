import { DataSource } from 'typeorm';
import { RunningApp } from '../../src/app/bootstrap';
import { LocationsService } from '../../src/modules/locations/locations.service';
import { bootRole } from '../support/app';
import { bearer, guestLogin } from '../support/auth';
import { Isolation, isolate } from '../support/isolation';

/** The test's own haversine (mean Earth radius), independent of the code under test. */
function metres(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const toRad = (d: number) => (d * Math.PI) / 180;
  const h =
    Math.sin(toRad(lat2 - lat1) / 2) ** 2 +
    Math.cos(toRad(lat1)) * Math.cos(toRad(lat2)) * Math.sin(toRad(lng2 - lng1) / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.sqrt(h));
}

// Seoul City Hall and points at known offsets (1e-3 deg lat ≈ 111 m).
const CENTER = { lat: 37.5665, lng: 126.978 };
const POINTS = [
  { no: 'N1', name: '가까운 건전지함', type: '폐건전지', lat: 37.5675, lng: 126.978 },
  { no: 'N2', name: '의류수거함 A', type: '의류수거함', lat: 37.5665, lng: 126.9805 },
  { no: 'N3', name: '형광등·건전지함', type: '폐형광등, 폐건전지', lat: 37.5625, lng: 126.975 },
  { no: 'N4', name: '페트병 수거함', type: '투명페트병', lat: 37.5765, lng: 126.99 },
  { no: 'N5', name: '먼 재활용센터', type: '재활용센터', lat: 37.49, lng: 127.06 },
];
const CSV = [
  '관리번호,시설명,수거품목,소재지도로명주소,위도,경도,운영시간,전화번호',
  ...POINTS.map(
    (p) => `${p.no},${p.name},"${p.type}",서울 중구 세종대로 ${p.no},${p.lat},${p.lng},,`,
  ),
].join('\n');

interface Item {
  id: string;
  name: string;
  types: string[];
  distanceM: number;
  source: string;
}

/** A list answer or a problem document. */
interface Body {
  items: Item[];
  code?: string;
  errors?: { field: string }[];
}

describe('locations: nearby search', () => {
  let iso: Isolation;
  let app: RunningApp;
  let api: string;
  let auth: Record<string, string>;
  let service: LocationsService;

  beforeAll(async () => {
    iso = await isolate('locnearby');
    app = await bootRole(iso, { APP_ROLE: 'all', LOCATIONS_SAMPLE_DATA: 'false' });
    api = `${app.url}/api/v1`;
    auth = bearer(await guestLogin(app.url!));
    service = app.app.get(LocationsService);
    const report = await service.importCsv(Buffer.from(CSV), { dataset: 'nearby-test' });
    expect(report.inserted).toBe(POINTS.length);
  });
  afterAll(async () => {
    await app?.close();
    await iso?.cleanup();
  });

  const get = async (path: string) => {
    const res = await fetch(`${api}${path}`, { headers: auth });
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      body: (await res.json()) as Body,
    };
  };

  it('answers nearest first with great-circle distances in metres', async () => {
    const { status, body } = await get(
      `/locations/nearby?lat=${CENTER.lat}&lng=${CENTER.lng}&radius=5000`,
    );
    expect(status).toBe(200);
    const items = body.items as Item[];
    const expected = POINTS.filter((p) => p.no !== 'N5')
      .map((p) => ({ name: p.name, d: metres(CENTER.lat, CENTER.lng, p.lat, p.lng) }))
      .sort((a, b) => a.d - b.d);
    expect(items.map((i) => i.name)).toEqual(expected.map((e) => e.name));
    items.forEach((item, i) => expect(Math.abs(item.distanceM - expected[i].d)).toBeLessThan(1));
    expect(items[0]).toMatchObject({ source: 'public-data', types: ['battery'] });
    expect(items.find((i) => i.name === '형광등·건전지함')!.types).toEqual(['lamp', 'battery']);
  });

  it('keeps only points within the radius', async () => {
    const { body } = await get(`/locations/nearby?lat=${CENTER.lat}&lng=${CENTER.lng}&radius=200`);
    // N2 is 220 m east, N1 111 m north.
    expect((body.items as Item[]).map((i) => i.name)).toEqual(['가까운 건전지함']);
    const wide = await get(`/locations/nearby?lat=${CENTER.lat}&lng=${CENTER.lng}&radius=20000`);
    expect((wide.body.items as Item[]).map((i) => i.name)).toContain('먼 재활용센터');
  });

  it('filters by types (a point matches when it accepts any of them) and limits', async () => {
    const { body } = await get(
      `/locations/nearby?lat=${CENTER.lat}&lng=${CENTER.lng}&radius=5000&types=battery,clear_pet`,
    );
    expect((body.items as Item[]).map((i) => i.name)).toEqual([
      '가까운 건전지함',
      '형광등·건전지함',
      '페트병 수거함',
    ]);
    const repeated = await get(
      `/locations/nearby?lat=${CENTER.lat}&lng=${CENTER.lng}&radius=5000&types=lamp&types=clothing&limit=1`,
    );
    expect((repeated.body.items as Item[]).map((i) => i.name)).toEqual(['의류수거함 A']);
  });

  it.each([
    ['radius over 20 km', 'lat=37.5&lng=127&radius=20001', 'radius'],
    ['radius 0', 'lat=37.5&lng=127&radius=0', 'radius'],
    ['latitude out of range', 'lat=91&lng=127', 'lat'],
    ['longitude not a number', 'lat=37.5&lng=east', 'lng'],
    ['empty latitude', 'lat=&lng=127', 'lat'],
    ['missing longitude', 'lat=37.5', 'lng'],
    ['unknown type', 'lat=37.5&lng=127&types=battery,plutonium', 'types'],
    ['limit over 50', 'lat=37.5&lng=127&limit=51', 'limit'],
    ['unknown parameter', 'lat=37.5&lng=127&sort=name', 'sort'],
  ])('rejects %s with a 400 problem', async (_label, query, field) => {
    const { status, type, body } = await get(`/locations/nearby?${query}`);
    expect(status).toBe(400);
    expect(type).toContain('application/problem+json');
    expect(body.code).toBe('VALIDATION_FAILED');
    expect((body.errors as { field: string }[]).map((e) => e.field)).toContain(field);
  });

  it('is described in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${app.url}/docs-json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/locations/nearby',
        '/api/v1/locations/search',
        '/api/v1/locations/{id}',
      ]),
    );
  });

  it('requires a logged-in user', async () => {
    const res = await fetch(`${api}/locations/nearby?lat=37.5&lng=127`);
    expect(res.status).toBe(401);
  });

  it('GET /locations/{id} returns a point; unknown and malformed ids are 404 problems', async () => {
    const near = await get(`/locations/nearby?lat=${CENTER.lat}&lng=${CENTER.lng}&radius=500`);
    const first = (near.body.items as Item[])[0];
    const one = await get(`/locations/${first.id}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: first.id, name: first.name, distanceM: null });
    const unknown = await get('/locations/7f1d6a7e-1111-4a4a-9b9b-000000000000');
    expect(unknown).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    const malformed = await get('/locations/kakao:12345');
    expect(malformed).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
  });

  it('LocationsService.nearby (the pipeline interface) filters, limits and refuses bad points', async () => {
    const items = await service.nearby({ ...CENTER, radiusM: 5000, types: ['lamp'], limit: 5 });
    expect(items.map((i) => i.name)).toEqual(['형광등·건전지함']);
    expect(await service.nearby({ lat: 95, lng: 127, radiusM: 1000 })).toEqual([]);
    // A radius that is not a number falls back to 1 km rather than reaching SQL as NaN.
    const fallback = await service.nearby({ ...CENTER, radiusM: NaN });
    expect(fallback.length).toBeGreaterThan(0);
    expect(fallback.every((i) => i.distanceM! <= 1000)).toBe(true);
    // A radius above the cap is clamped to 20 km, not rejected.
    const far = await service.nearby({ ...CENTER, radiusM: 1e7 });
    expect(far.map((i) => i.name)).toContain('먼 재활용센터');
    expect(far.every((i) => i.distanceM! <= 20000)).toBe(true);
  });

  it('uses the GiST index (EXPLAIN) on a table of 30k points', async () => {
    // Enough rows around Busan (far from the points above) that a sequential scan would be the
    // planner's choice if the index could not serve the query; no enable_seqscan tricks.
    const ds = app.app.get(DataSource);
    await ds.query(`
      INSERT INTO locations.collection_points (source, source_id, name, types, lat, lng)
      SELECT 'public-data', 'bench-' || g, '점 ' || g,
             ARRAY[(ARRAY['battery','clothing','lamp','recycling'])[1 + g % 4]],
             35.0 + (g % 173) * 0.002, 128.9 + (g / 173) * 0.002
        FROM generate_series(1, 30000) g`);
    await ds.query('ANALYZE locations.collection_points');
    for (const radiusM of [500, 5000, 20000]) {
      const plan = await service.points.explainNearby({
        lat: 35.15,
        lng: 129.05,
        radiusM,
        types: ['lamp'],
        limit: 20,
      });
      // An ordered (KNN) scan of the GiST index: no sequential scan, no sort of the whole box.
      expect(plan).toContain('Index Scan using collection_points_earth_gist');
      expect(plan).toMatch(/Order By: .*<->/);
      expect(plan).not.toContain('Seq Scan');
      expect(plan).not.toContain('Sort');
    }
    const busan = await service.nearby({ lat: 35.15, lng: 129.05, radiusM: 20000, limit: 50 });
    expect(busan).toHaveLength(50);
    const distances = busan.map((i) => i.distanceM!);
    expect(distances).toEqual([...distances].sort((a, b) => a - b));
  });
});
