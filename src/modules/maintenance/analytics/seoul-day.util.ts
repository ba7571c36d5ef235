import { SCHEDULE_TZ } from '../schedule';

const format = new Intl.DateTimeFormat('en-CA', {
  timeZone: SCHEDULE_TZ,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
});

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The Asia/Seoul calendar day of an instant, as YYYY-MM-DD. */
export function seoulDay(at: Date): string {
  return format.format(at);
}

/** The Asia/Seoul day before the one `at` falls in (Korea has no daylight saving time). */
export function previousSeoulDay(at: Date): string {
  return seoulDay(new Date(at.getTime() - 24 * 3600 * 1000));
}

/** True for a real calendar date written YYYY-MM-DD. */
export function isDay(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const m = DAY.exec(value);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === value;
}
