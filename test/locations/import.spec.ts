import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as iconv from 'iconv-lite';
import { DataSource } from 'typeorm';
import { RunningApp } from '../../src/app/bootstrap';
import { importLocationsCli } from '../../src/cli/import-locations';
import { LocationsService } from '../../src/modules/locations/locations.service';
import { SAMPLE_FILE } from '../../src/modules/locations/sample-data.loader';
import { bootRole } from '../support/app';
import { Isolation, countDataset, isolate } from '../support/isolation';

const HEADER =
  '관리번호,시설명,수거품목,소재지도로명주소,소재지지번주소,위도,경도,운영시간,전화번호';

function districtCsv(rows: string[][]): string {
  return [HEADER, ...rows.map((r) => r.join(','))].join('\r\n') + '\r\n';
}

describe('locations: CSV import and the bundled sample', () => {
  let iso: Isolation;
  let app: RunningApp;
  let service: LocationsService;
  let ds: DataSource;
  let dir: string;

  beforeAll(async () => {
    iso = await isolate('locimport');
    // `all` with the default LOCATIONS_SAMPLE_DATA=true: the sample is imported at boot.
    app = await bootRole(iso, { APP_ROLE: 'all' });
    service = app.app.get(LocationsService);
    ds = app.app.get(DataSource);
    dir = await mkdtemp(join(tmpdir(), 'locations-import-'));
  });
  afterAll(async () => {
    await app?.close();
    await iso?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const countRows = (dataset: string) => countDataset(ds, 'locations.collection_points', dataset);

  it('the all role imports the sample at boot so nearby search answers out of the box', async () => {
    const sampleLines = (await readFile(SAMPLE_FILE, 'utf8')).trim().split('\n').length - 1;
    expect(await countRows('sample')).toBe(sampleLines);
    const items = await service.nearby({ lat: 37.5665, lng: 126.978, radiusM: 1000 });
    expect(items.length).toBeGreaterThan(3);
    expect(items.every((i) => i.name.startsWith('[샘플]') && i.source === 'public-data')).toBe(
      true,
    );
  });

  it('a second boot does not import the sample again, and re-importing it changes nothing', async () => {
    const before = await service.points.count();
    const second = await bootRole(iso, { APP_ROLE: 'all' });
    await second.close();
    expect(await service.points.count()).toBe(before);
    const report = await service.importCsv(await readFile(SAMPLE_FILE), { dataset: 'sample' });
    expect(report).toMatchObject({ inserted: 0, updated: 0, unchanged: before, skipped: [] });
  });

  it('imports UTF-8 and CP949 files; re-import updates changed rows and never duplicates', async () => {
    const rows = [
      [
        'D-1',
        '마포 의류수거함',
        '의류수거함',
        '서울 마포구 월드컵로 1',
        '',
        '37.5550',
        '126.9100',
        '',
        '',
      ],
      [
        'D-2',
        '마포 건전지함',
        '폐건전지',
        '서울 마포구 월드컵로 2',
        '',
        '37.5560',
        '126.9110',
        '',
        '',
      ],
      [
        'D-3',
        '마포 약국',
        '폐의약품',
        '',
        '서울 마포구 망원동 3',
        '37.5570',
        '126.9120',
        '09:00~18:00',
        '02-1',
      ],
    ];
    const utf8 = await service.importCsv(Buffer.from(districtCsv(rows)), { dataset: 'mapo' });
    expect(utf8).toMatchObject({ encoding: 'utf8', total: 3, inserted: 3, updated: 0 });

    // The district republishes in CP949 with one name changed and one row added.
    rows[1][1] = '마포 폐건전지 수거함';
    rows.push([
      'D-4',
      '마포 식용유',
      '폐식용유',
      '서울 마포구 월드컵로 4',
      '',
      '37.5580',
      '126.9130',
      '',
      '',
    ]);
    const cp949 = iconv.encode(districtCsv(rows), 'cp949');
    const again = await service.importCsv(cp949, { dataset: 'mapo' });
    expect(again).toMatchObject({
      encoding: 'cp949',
      total: 4,
      inserted: 1,
      updated: 1,
      unchanged: 2,
      skipped: [],
    });
    expect(await countRows('mapo')).toBe(4);
    const stored = (await ds.query(
      `SELECT name, address, types FROM locations.collection_points
        WHERE dataset = 'mapo' ORDER BY source_id`,
    )) as { name: string; address: string; types: string[] }[];
    expect(stored.map((r) => r.name)).toEqual([
      '마포 의류수거함',
      '마포 폐건전지 수거함',
      '마포 약국',
      '마포 식용유',
    ]);
    // Road address preferred, lot-number address when there is none.
    expect(stored[2]).toMatchObject({ address: '서울 마포구 망원동 3', types: ['medicine'] });

    // The moved point is found at its new place by nearby search (the trigger kept `earth` in step).
    rows[0][5] = '37.6000';
    await service.importCsv(Buffer.from(districtCsv(rows)), { dataset: 'mapo' });
    const near = await service.nearby({ lat: 37.6, lng: 126.91, radiusM: 50 });
    expect(near.map((i) => i.name)).toEqual(['마포 의류수거함']);
  });

  it('reports skipped rows with their line and reason and imports the rest', async () => {
    const csv = districtCsv([
      ['S-1', '좋은 행', '폐형광등', '서울 중구 1', '', '37.56', '126.97', '', ''],
      ['S-2', '나쁜 좌표', '폐형광등', '서울 중구 2', '', '북위37', '126.97', '', ''],
      ['S-3', '모르는 품목', '대형폐기물', '서울 중구 3', '', '37.56', '126.97', '', ''],
      ['S-4', '', '폐형광등', '서울 중구 4', '', '37.56', '126.97', '', ''],
    ]);
    const report = await service.importCsv(Buffer.from(csv), { dataset: 'skips' });
    expect(report).toMatchObject({ total: 4, inserted: 1 });
    expect(report.skipped).toEqual([
      { row: 3, reason: expect.stringContaining('bad coordinates') },
      { row: 4, reason: 'unknown type "대형폐기물"' },
      { row: 5, reason: 'missing name' },
    ]);
    expect(await countRows('skips')).toBe(1);
  });

  it('the CLI imports a CP949 file into DATABASE_URL and prints the report', async () => {
    const file = join(dir, '종로구_폐건전지수거함.csv');
    await writeFile(
      file,
      iconv.encode(
        '시설명,소재지도로명주소,위도,경도\n종로 건전지함,서울 종로구 종로 1,37.57,126.98\n좌표 없음,서울 종로구 종로 2,,\n',
        'cp949',
      ),
    );
    const out: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = iso.databaseUrl;
    try {
      const code = await importLocationsCli([
        file,
        '--encoding',
        'cp949',
        '--type',
        '폐건전지',
        '--json',
      ]);
      expect(code).toBe(0);
    } finally {
      write.mockRestore();
      if (saved === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = saved;
    }
    const report = JSON.parse(out.join('')) as { inserted: number; skipped: { row: number }[] };
    expect(report.inserted).toBe(1);
    expect(report.skipped).toEqual([
      { row: 3, reason: expect.stringContaining('bad coordinates') },
    ]);
    expect(await countRows('종로구_폐건전지수거함')).toBe(1);
  });
});
