import { CATEGORY_IDS } from '../recycling.types';
import { nextWindow, parseClock, parseDays } from './put-out-window';
import { KIND_OF_CATEGORY, kindsOf } from './waste-kinds';

/** A Seoul wall-clock instant: 2026-12-01 is a Tuesday. */
const seoul = (iso: string) => new Date(`${iso}+09:00`);

describe('disposal days and hours', () => {
  it('reads the ways districts write days', () => {
    expect(parseDays('월+수+금').days).toEqual([1, 3, 5]);
    expect(parseDays('일, 화, 목').days).toEqual([0, 2, 4]);
    expect(parseDays('월요일·수요일').days).toEqual([1, 3]);
    expect(parseDays('일~목').days).toEqual([0, 1, 2, 3, 4]);
    expect(parseDays('금 ~ 월').days).toEqual([0, 1, 5, 6]);
    expect(parseDays('매일').days).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(parseDays('평일').days).toEqual([1, 2, 3, 4, 5]);
    expect(parseDays('월수금').days).toEqual([1, 3, 5]);
    expect(parseDays('토요일, 명절 당일')).toEqual({ days: [6], unparsed: ['명절', '당일'] });
    expect(parseDays('')).toEqual({ days: [], unparsed: [] });
  });

  it('reads times and rejects what is not one', () => {
    expect(parseClock('20:00')).toBe(1200);
    expect(parseClock('2000')).toBe(1200);
    expect(parseClock('06:30:00')).toBe(390);
    expect(parseClock('20시')).toBe(1200);
    expect(parseClock('24:00')).toBe(1440);
    expect(parseClock('')).toBeUndefined();
    expect(parseClock('25:00')).toBeNaN();
    expect(parseClock('해진 후')).toBeNaN();
  });

  const evenings = { days: [0, 2, 4] as const, startMin: 1200, endMin: 1440 };

  it('tonight, when today is a day and the window has not opened', () => {
    const w = nextWindow({ ...evenings, days: [...evenings.days] }, seoul('2026-12-01T15:00:00'));
    expect(w).toEqual({
      start: '2026-12-01T20:00:00+09:00',
      end: '2026-12-02T00:00:00+09:00',
      open: false,
      text: '오늘 밤 20:00–24:00',
      textEn: 'tonight 20:00–24:00',
    });
  });

  it('open now, then the next day after it closes', () => {
    const open = nextWindow(
      { ...evenings, days: [...evenings.days] },
      seoul('2026-12-01T21:30:00'),
    );
    expect(open).toMatchObject({ open: true, text: '지금 ~ 24:00', textEn: 'now until 24:00' });
    // Tuesday closed at midnight: next is Thursday.
    const next = nextWindow(
      { ...evenings, days: [...evenings.days] },
      seoul('2026-12-02T08:00:00'),
    );
    expect(next).toMatchObject({
      start: '2026-12-03T20:00:00+09:00',
      text: '내일 밤 20:00–24:00',
    });
    const far = nextWindow(
      { days: [0], startMin: 1200, endMin: 1440 },
      seoul('2026-12-02T08:00:00'),
    );
    expect(far).toMatchObject({ start: '2026-12-06T20:00:00+09:00', textEn: 'Sunday 20:00–24:00' });
  });

  it('a window past midnight is still open the next morning', () => {
    // Monday 19:00–02:00; it is Tuesday 01:00.
    const w = nextWindow({ days: [1], startMin: 1140, endMin: 120 }, seoul('2026-12-01T01:00:00'));
    expect(w).toMatchObject({
      start: '2026-11-30T19:00:00+09:00',
      end: '2026-12-01T02:00:00+09:00',
      open: true,
      text: '지금 ~ 02:00',
    });
  });

  it('no-collection days are skipped; no days means no window', () => {
    const w = nextWindow(
      { days: [2, 3], startMin: 1200, endMin: 1440, excluded: [2] },
      seoul('2026-12-01T10:00:00'),
    );
    expect(w?.start).toBe('2026-12-02T20:00:00+09:00');
    expect(nextWindow({ days: [] }, new Date())).toBeNull();
    expect(nextWindow({ days: [6], excluded: [6] }, new Date())).toBeNull();
  });

  it('a day without hours is the whole day', () => {
    const w = nextWindow({ days: [3] }, seoul('2026-12-01T10:00:00'));
    expect(w).toMatchObject({ start: '2026-12-02T00:00:00+09:00', text: '내일 00:00–24:00' });
  });

  it('every knowledge-base category has a schedule kind (or none, on purpose)', () => {
    expect(Object.keys(KIND_OF_CATEGORY).sort()).toEqual([...CATEGORY_IDS].sort());
    expect(kindsOf(['clear-pet', 'food-waste', 'battery', 'paper'])).toEqual([
      'food',
      'recyclable',
    ]);
    expect(kindsOf(['battery', 'clothing'])).toEqual([]);
  });
});
