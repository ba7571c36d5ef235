import { seoulDay, streakDays } from './history.service';

describe('streakDays (Asia/Seoul)', () => {
  // 2026-03-10 23:30 in Seoul is 14:30 UTC.
  const now = new Date('2026-03-10T14:30:00Z');

  it('uses the Seoul calendar day, not UTC', () => {
    expect(seoulDay(now)).toBe('2026-03-10');
    expect(seoulDay(new Date('2026-03-10T15:00:00Z'))).toBe('2026-03-11');
  });

  it('counts consecutive days ending today', () => {
    expect(streakDays(['2026-03-10', '2026-03-09', '2026-03-08', '2026-03-06'], now)).toBe(3);
  });

  it('still counts a streak that ended yesterday', () => {
    expect(streakDays(['2026-03-09', '2026-03-08'], now)).toBe(2);
  });

  it('is 0 without an analysis today or yesterday', () => {
    expect(streakDays(['2026-03-08', '2026-03-07'], now)).toBe(0);
    expect(streakDays([], now)).toBe(0);
  });

  it('crosses month boundaries', () => {
    const march1 = new Date('2026-03-01T03:00:00Z');
    expect(streakDays(['2026-03-01', '2026-02-28', '2026-02-27'], march1)).toBe(3);
  });
});
