import { areaNamesDong } from './schedule.service';

describe('areaNamesDong: a zone lists the 동 as a whole name', () => {
  it('matches a listed name, not a longer one that contains it', () => {
    const area = '상계10동, 상계2동·중계1동 (일부)';
    expect(areaNamesDong(area, '상계10동')).toBe(true);
    expect(areaNamesDong(area, '중계1동')).toBe(true);
    expect(areaNamesDong(area, '상계1동')).toBe(false);
    expect(areaNamesDong(null, '상계1동')).toBe(false);
  });
});
