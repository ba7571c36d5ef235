import { randomUUID } from 'node:crypto';
import { MESSAGES } from './messages';
import { ALL_ROUTING_KEYS, RoutingKey } from './topology';

describe('the message map', () => {
  it('names a payload for every routing key', () => {
    expect(Object.keys(MESSAGES).sort()).toEqual([...ALL_ROUTING_KEYS].sort());
  });

  it('parses what the publishers send, dropping fields it does not know', () => {
    const jobId = randomUUID();
    expect(MESSAGES[RoutingKey.Vision].parse({ jobId, extra: 1 })).toEqual({ jobId });
    expect(
      MESSAGES[RoutingKey.WasteSave].parse({ jobId, part: 'nearby', nearby: [{}], nearbyMs: 4 }),
    ).toEqual({ jobId, part: 'nearby', nearby: [{}], nearbyMs: 4 });
    expect(MESSAGES[RoutingKey.ReportDaily].parse({})).toEqual({});
    expect(MESSAGES[RoutingKey.ReportDaily].parse({ day: '2026-02-28' })).toEqual({
      day: '2026-02-28',
    });
    const tick = { scheduledFor: new Date().toISOString(), tickId: '7' };
    expect(MESSAGES[RoutingKey.SchedJobsWatchdog].parse(tick)).toEqual(tick);
  });

  it.each([
    [RoutingKey.WasteDownload, { jobId: 'nope' }],
    [RoutingKey.WasteDownload, {}],
    [RoutingKey.WasteSave, { jobId: randomUUID(), part: 'coaching', coachingMs: 1 }],
    [RoutingKey.AccountPurge, { jobId: randomUUID() }],
    [RoutingKey.ReportDaily, { day: '2026-02-30' }],
    [RoutingKey.SchedDailyStats, { scheduledFor: 'yesterday' }],
    [RoutingKey.AnalyticsSave, null],
  ])('refuses a malformed %s payload', (key, payload) => {
    expect(MESSAGES[key].safeParse(payload).success).toBe(false);
  });
});
