import * as iconv from 'iconv-lite';
import { CsvFormatError, detectEncoding, parseCollectionPointsCsv } from './collection-point-csv';
import { typeFromLabel, typesFromCell } from '../location.types';

const HEADER =
  '관리번호,시설명,수거품목,소재지도로명주소,소재지지번주소,위도,경도,운영시간,전화번호';

describe('collection point CSV parsing', () => {
  it('maps Korean type labels to API types, most specific first', () => {
    expect(typeFromLabel('폐건전지')).toBe('battery');
    expect(typeFromLabel('재활용센터')).toBe('recycling_center');
    expect(typeFromLabel('자원순환센터')).toBe('recycling_center');
    expect(typeFromLabel('재활용품')).toBe('recycling');
    expect(typeFromLabel('투명 페트병')).toBe('clear_pet');
    expect(typeFromLabel('소형폐가전')).toBe('small_appliance');
    expect(typeFromLabel('리필스테이션')).toBe('zero_waste_shop');
    expect(typeFromLabel('cooking_oil')).toBe('cooking_oil');
    expect(typeFromLabel('음식물')).toBeUndefined();
    expect(typesFromCell('폐건전지, 폐형광등/폐건전지')).toEqual({
      types: ['battery', 'lamp'],
      unknown: [],
    });
  });

  it('reads CP949 bytes (auto-detected or explicit) the same as UTF-8', () => {
    const text = `${HEADER}\n1,시청 수거함,폐건전지,서울 중구 세종대로 110,,37.5665,126.978,09:00~18:00,02-120\n`;
    const cp949 = iconv.encode(text, 'cp949');
    expect(detectEncoding(cp949)).toBe('cp949');
    expect(detectEncoding(Buffer.from(`\uFEFF${text}`))).toBe('utf8');
    const a = parseCollectionPointsCsv(cp949);
    const b = parseCollectionPointsCsv(cp949, { encoding: 'cp949' });
    const c = parseCollectionPointsCsv(Buffer.from(`\uFEFF${text}`));
    expect(a.encoding).toBe('cp949');
    expect(a.rows).toEqual(b.rows);
    expect(a.rows).toEqual(c.rows);
    expect(a.rows[0]).toMatchObject({
      name: '시청 수거함',
      types: ['battery'],
      address: '서울 중구 세종대로 110',
      lat: 37.5665,
      lng: 126.978,
      openingHours: '09:00~18:00',
      phone: '02-120',
      sourceId: 'no:1',
    });
  });

  it('reports every skipped row with its line and reason', () => {
    const text = [
      HEADER,
      '1,정상,폐건전지,서울 중구 A,,37.5,127.0,,',
      '2,,폐건전지,서울 중구 B,,37.5,127.0,,',
      '3,좌표없음,폐건전지,서울 중구 C,,,,,',
      '4,범위밖,폐건전지,서울 중구 D,,127.0,37.5,,',
      '5,영점,폐건전지,서울 중구 E,,0,0,,',
      '6,모르는 품목,음식물쓰레기,서울 중구 F,,37.5,127.0,,',
      '1,중복,폐건전지,서울 중구 G,,37.5,127.0,,',
      '8,열 부족,폐건전지',
      '9,품목없음,,서울 중구 H,,37.5,127.0,,',
    ].join('\r\n');
    const parsed = parseCollectionPointsCsv(Buffer.from(text));
    expect(parsed.total).toBe(9);
    expect(parsed.rows.map((r) => r.name)).toEqual(['정상']);
    expect(parsed.skipped).toEqual([
      { row: 3, reason: 'missing name' },
      { row: 4, reason: expect.stringContaining('bad coordinates') },
      { row: 5, reason: expect.stringMatching(/bad coordinates.*out of range/) },
      { row: 6, reason: expect.stringContaining('bad coordinates: 0, 0') },
      { row: 7, reason: 'unknown type "음식물쓰레기"' },
      { row: 8, reason: expect.stringContaining('duplicate of line 2') },
      { row: 9, reason: 'expected 9 columns, found 3' },
      { row: 10, reason: 'missing type' },
    ]);
  });

  it('derives a stable id from name + address when there is no 관리번호', () => {
    const text = '시설명,구분,도로명주소,위도,경도\n의류수거함,의류,서울 마포구 X,37.55,126.9\n';
    const first = parseCollectionPointsCsv(Buffer.from(text)).rows[0];
    const again = parseCollectionPointsCsv(Buffer.from(text)).rows[0];
    expect(first.sourceId).toMatch(/^h:[0-9a-f]{24}$/);
    expect(again.sourceId).toBe(first.sourceId);
  });

  it('uses the default type for files without a type column, and rejects unusable headers', () => {
    const text = '명칭,도로명주소,위도,경도\n건전지함,서울 종로구 Y,37.57,126.98\n';
    expect(() => parseCollectionPointsCsv(Buffer.from(text))).toThrow(CsvFormatError);
    const parsed = parseCollectionPointsCsv(Buffer.from(text), { defaultTypes: ['battery'] });
    expect(parsed.rows[0].types).toEqual(['battery']);
    expect(() => parseCollectionPointsCsv(Buffer.from('이름,주소\n가,나\n'))).toThrow(
      /required columns not found: name.*latitude.*longitude/,
    );
    expect(() => parseCollectionPointsCsv(Buffer.from(''))).toThrow(CsvFormatError);
  });
});
