import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as iconv from 'iconv-lite';
import { DataSource } from 'typeorm';
import { RunningApp } from '../../src/app/bootstrap';
import { importSchedulesCli } from '../../src/cli/import-schedules';
import { SAMPLE_SCHEDULE_FILE } from '../../src/modules/recycling/schedules/sample-schedule.loader';
import { ScheduleService } from '../../src/modules/recycling/schedules/schedule.service';
import { bootRole } from '../support/app';
import { Isolation, countDataset, isolate } from '../support/isolation';

/** The standard data's columns, in the portal's order (no 관리번호: ids come from the content). */
const HEADER = [
  '시도명',
  '시군구명',
  '관리구역명',
  '관리구역대상지역명',
  '배출장소유형',
  '배출장소',
  '생활쓰레기배출방법',
  '음식물쓰레기배출방법',
  '재활용품배출방법',
  '일시적다량폐기물배출방법',
  '일시적다량폐기물배출장소',
  '생활쓰레기배출요일',
  '음식물쓰레기배출요일',
  '재활용품배출요일',
  '생활쓰레기배출시작시각',
  '생활쓰레기배출종료시각',
  '음식물쓰레기배출시작시각',
  '음식물쓰레기배출종료시각',
  '재활용품배출시작시각',
  '재활용품배출종료시각',
  '일시적다량폐기물배출시작시각',
  '일시적다량폐기물배출종료시각',
  '미수거일',
  '관리부서명',
  '관리부서전화번호',
  '데이터기준일자',
  '제공기관코드',
  '제공기관명',
];

function row(o: { sido?: string; sigungu?: string; zone: string; start?: string; date?: string }) {
  return [
    o.sido ?? '대전광역시',
    o.sigungu ?? '유성구',
    o.zone,
    '"온천1동, 온천2동"',
    '문전수거',
    '집 앞',
    '종량제봉투',
    '전용용기',
    '분리배출',
    '스티커',
    '집 앞',
    '일+화+목',
    '매일',
    '수',
    o.start ?? '2000',
    '2400',
    '20:00',
    '24:00',
    '20:00',
    '24:00',
    '',
    '',
    '토요일',
    '자원순환과',
    '042-000-0000',
    o.date ?? '2025-03-01',
    '3680000',
    '대전광역시 유성구',
  ].join(',');
}

const csv = (rows: string[]) => [HEADER.join(','), ...rows].join('\r\n') + '\r\n';

describe('disposal schedules: CSV import and the bundled sample', () => {
  let iso: Isolation;
  let app: RunningApp;
  let schedules: ScheduleService;
  let ds: DataSource;
  let dir: string;

  beforeAll(async () => {
    iso = await isolate('schedimport');
    app = await bootRole(iso, { APP_ROLE: 'all', LOCATIONS_SAMPLE_DATA: 'false' });
    schedules = app.app.get(ScheduleService);
    ds = app.app.get(DataSource);
    dir = await mkdtemp(join(tmpdir(), 'schedule-import-'));
  });
  afterAll(async () => {
    await app?.close();
    await iso?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const countRows = (dataset: string) => countDataset(ds, 'recycling.disposal_schedules', dataset);

  it('the all role loads the sample once; it is marked as a sample everywhere', async () => {
    const lines = (await readFile(SAMPLE_SCHEDULE_FILE, 'utf8')).trim().split('\n').length - 1;
    expect(await countRows('sample')).toBe(lines);
    const marked = (await ds.query(
      `SELECT count(*)::int AS n FROM recycling.disposal_schedules
        WHERE dataset = 'sample' AND zone_name LIKE '[샘플]%' AND provider_name LIKE '[샘플 데이터]%'`,
    )) as { n: number }[];
    expect(marked[0].n).toBe(lines);
    const second = await bootRole(iso, { APP_ROLE: 'all', LOCATIONS_SAMPLE_DATA: 'false' });
    await second.close();
    expect(await schedules.rows.count()).toBe(lines);
    const again = await schedules.importCsv(await readFile(SAMPLE_SCHEDULE_FILE), {
      dataset: 'sample',
    });
    expect(again).toMatchObject({ inserted: 0, updated: 0, unchanged: lines, skipped: [] });
  });

  it('UTF-8 then CP949: idempotent per source row, a changed time updates its row', async () => {
    const rows = [row({ zone: 'A권역' }), row({ zone: 'B권역' })];
    const first = await schedules.importCsv(Buffer.from('\uFEFF' + csv(rows)), {
      dataset: 'yuseong',
    });
    expect(first).toMatchObject({ encoding: 'utf8', total: 2, inserted: 2, skipped: [] });
    const changed = [row({ zone: 'A권역' }), row({ zone: 'B권역', start: '21:00' })];
    const second = await schedules.importCsv(iconv.encode(csv(changed), 'cp949'), {
      dataset: 'yuseong',
    });
    expect(second).toMatchObject({ encoding: 'cp949', inserted: 0, updated: 1, unchanged: 1 });
    expect(await countRows('yuseong')).toBe(2);
    const answer = await schedules.forRegion({
      ...schedules.regions.fromText('대전 유성구'),
      source: 'query',
      legalDong: null,
      adminDong: null,
    });
    expect(answer.zones.map((z) => [z.zone, z.kinds[0].hours.start])).toEqual([
      ['A권역', '20:00'],
      ['B권역', '21:00'],
    ]);
    // "2400" is stored as 24:00, dates as YYYY-MM-DD.
    expect(answer.zones[0].kinds[0].hours.end).toBe('24:00');
    expect(answer.zones[0].dataDate).toBe('2025-03-01');
  });

  it('reports each skipped row with its line and reason, and imports the rest', async () => {
    const rows = [
      row({ zone: '정상' }),
      row({ zone: '시도없음', sido: '' }),
      row({ zone: '엉뚱한시도', sido: '화성특별시' }),
      row({ zone: '나쁜시각', start: '25:00' }),
      row({ zone: '나쁜날짜', date: '2025-02-30' }),
      row({ zone: '정상' }),
      '대전광역시,유성구,짧은행',
      ['대전광역시', '유성구', '빈행', ...Array(HEADER.length - 3).fill('')].join(','),
    ];
    const report = await schedules.importCsv(Buffer.from(csv(rows)), { dataset: 'skips' });
    expect(report.inserted).toBe(1);
    expect(report.skipped).toEqual([
      { row: 3, reason: 'missing 시도명' },
      { row: 4, reason: 'unknown 시도명 "화성특별시"' },
      { row: 5, reason: 'bad time "25:00" in 생활쓰레기배출시작시각' },
      { row: 6, reason: 'bad 데이터기준일자 "2025-02-30"' },
      { row: 7, reason: 'duplicate of line 2 (same 시군구, 관리구역 and 배출장소)' },
      { row: 8, reason: `expected ${HEADER.length} columns, found 3` },
      { row: 9, reason: 'no disposal method, day or place for any kind of waste' },
    ]);
  });

  it('refuses a file without the region columns, naming them', async () => {
    await expect(
      schedules.importCsv(Buffer.from('시설명,위도,경도\n이름,37,127\n')),
    ).rejects.toThrow(/required columns not found: 시도명, 시군구명/);
  });

  it('npm run import:schedules: a CP949 file with 관리번호 into DATABASE_URL', async () => {
    const file = join(dir, '강원_춘천시_생활쓰레기배출정보.csv');
    const header = `관리번호,${HEADER.join(',')}`;
    const body = [
      `CC-1,${row({ sido: '강원도', sigungu: '춘천시', zone: '전역' })}`,
      `CC-2,${row({ sido: '강원특별자치도', sigungu: '춘천시', zone: '전역', start: 'x' })}`,
    ];
    await writeFile(file, iconv.encode([header, ...body].join('\n') + '\n', 'cp949'));
    const out: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = iso.databaseUrl;
    try {
      expect(await importSchedulesCli([file])).toBe(0);
    } finally {
      write.mockRestore();
      if (saved === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = saved;
    }
    expect(out[0]).toMatch(
      /\(cp949\): 2 rows — 1 inserted, 0 updated, 0 unchanged, 1 skipped in \d+ ms/,
    );
    expect(out[1]).toContain('skipped line 3: bad time "x"');
    expect(await countRows('강원_춘천시_생활쓰레기배출정보')).toBe(1);
    // 강원도 (old name, old code 42) is the same 시도 as 강원특별자치도 (51).
    const answer = await schedules.forRegion({
      ...schedules.regions.fromText('춘천시'),
      source: 'query',
      legalDong: null,
      adminDong: null,
    });
    expect(answer.region.name).toBe('강원특별자치도 춘천시');
    expect(answer.zones).toHaveLength(1);
  });
});
