/**
 * Days and hours as the public data writes them ("월+수+금", "일~목", "매일", "20:00", "2000",
 * "24:00"), and the next time something may be put out, in Asia/Seoul. Korea has kept UTC+9 all
 * year since 1988 (no daylight saving), so a fixed offset is exact. See docs/schedules.md.
 */
export const SEOUL_OFFSET_MS = 9 * 3600_000;

/** 0 = Sunday … 6 = Saturday (Date#getUTCDay of a Seoul wall-clock date). */
export type Weekday = 0 | 1 | 2 | 3 | 4 | 5 | 6;
export const WEEKDAY_IDS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type WeekdayId = (typeof WEEKDAY_IDS)[number];

const KO_DAY: Record<string, Weekday> = { 일: 0, 월: 1, 화: 2, 수: 3, 목: 4, 금: 5, 토: 6 };
const KO_NAMES = ['일요일', '월요일', '화요일', '수요일', '목요일', '금요일', '토요일'];
const EN_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

export interface ParsedDays {
  days: Weekday[];
  /** Parts of the text that name no weekday ("격주", "공휴일"): shown, not computed. */
  unparsed: string[];
}

const range = (from: Weekday, to: Weekday): Weekday[] => {
  const out: Weekday[] = [];
  for (let d = from; ; d = ((d + 1) % 7) as Weekday) {
    out.push(d);
    if (d === to) return out;
  }
};

function dayOf(token: string): Weekday | undefined {
  const m = /^([일월화수목금토])(?:요일?)?$/.exec(token);
  return m ? KO_DAY[m[1]] : undefined;
}

/** "월+수+금", "월,수,금", "월·수·금", "월요일 수요일", "일~목", "매일", "평일", "주말". */
export function parseDays(text: string | null | undefined): ParsedDays {
  const days = new Set<Weekday>();
  const unparsed: string[] = [];
  const tokens = (text ?? '')
    .replace(/\s*([~∼\-–])\s*/g, '$1')
    .split(/[+,/·、\s]+/)
    .filter(Boolean);
  for (const token of tokens) {
    if (/^(매일|연중무휴|월~일|일~토)$/.test(token)) range(0, 6).forEach((d) => days.add(d));
    else if (token === '평일') range(1, 5).forEach((d) => days.add(d));
    else if (token === '주말') [0, 6].forEach((d) => days.add(d as Weekday));
    else {
      const r = /^(.+?)[~∼\-–](.+)$/.exec(token);
      const from = r ? dayOf(r[1]) : undefined;
      const to = r ? dayOf(r[2]) : undefined;
      if (from !== undefined && to !== undefined) range(from, to).forEach((d) => days.add(d));
      else if (dayOf(token) !== undefined) days.add(dayOf(token)!);
      else if (/^[일월화수목금토]{2,7}$/.test(token))
        [...token].forEach((c) => days.add(KO_DAY[c]));
      else unparsed.push(token);
    }
  }
  return { days: [...days].sort((a, b) => a - b), unparsed };
}

/**
 * Minutes after midnight for "20:00", "20:00:00", "2000", "20시", "20시 30분", "20"; 24:00 is
 * 1440 (midnight at the end of the day). undefined for empty text, NaN when it is not a time.
 */
export function parseClock(text: string | null | undefined): number | undefined {
  const t = (text ?? '').trim();
  if (!t) return undefined;
  const m =
    /^(\d{1,2}):(\d{2})(?::\d{2})?$/.exec(t) ??
    /^(\d{2})(\d{2})$/.exec(t) ??
    /^(\d{1,2})\s*시(?:\s*(\d{1,2})\s*분)?$/.exec(t) ??
    /^(\d{1,2})$/.exec(t);
  if (!m) return NaN;
  const h = Number(m[1]);
  const min = Number(m[2] ?? 0);
  if (h > 24 || min > 59 || (h === 24 && min > 0)) return NaN;
  return h * 60 + min;
}

export const formatClock = (minutes: number) =>
  `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

export interface PutOutWindow {
  /** ISO 8601 with +09:00. */
  start: string;
  end: string;
  /** True when the window is open at `now`. */
  open: boolean;
  /** "오늘 밤 20:00–24:00", "내일 06:00–09:00", "수요일 20:00–24:00", "지금 ~ 24:00". */
  text: string;
  /** "tonight 20:00–24:00", "tomorrow 06:00–09:00", "Wednesday 20:00–24:00", "now until 24:00". */
  textEn: string;
}

export interface WindowRule {
  days: Weekday[];
  /** Minutes after midnight; undefined = the whole day. */
  startMin?: number;
  endMin?: number;
  /** Weekdays on which nothing is collected: no window starts on them. */
  excluded?: Weekday[];
}

const seoulParts = (utcMs: number) => {
  const d = new Date(utcMs + SEOUL_OFFSET_MS);
  return {
    dayStartUtc: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - SEOUL_OFFSET_MS,
    weekday: d.getUTCDay() as Weekday,
  };
};

const isoSeoul = (utcMs: number) =>
  new Date(utcMs + SEOUL_OFFSET_MS).toISOString().replace(/\.\d{3}Z$/, '+09:00');

/**
 * The window that is open now or opens next (within 8 days), or null when the rule names no day.
 * A window whose end is not after its start runs past midnight (19:00–02:00), so yesterday's may
 * still be open. A start of 18:00 or later on the same day reads "tonight" (오늘 밤).
 */
export function nextWindow(rule: WindowRule, now: Date = new Date()): PutOutWindow | null {
  const allowed = rule.days.filter((d) => !rule.excluded?.includes(d));
  if (!allowed.length) return null;
  const nowMs = now.getTime();
  const today = seoulParts(nowMs);
  const startMin = rule.startMin ?? 0;
  let endMin = rule.endMin ?? 1440;
  if (endMin <= startMin) endMin += 1440;
  for (let offset = -1; offset <= 7; offset++) {
    const weekday = (((today.weekday + offset) % 7) + 7) % 7;
    if (!allowed.includes(weekday as Weekday)) continue;
    const dayStart = today.dayStartUtc + offset * 86_400_000;
    const start = dayStart + startMin * 60_000;
    const end = dayStart + endMin * 60_000;
    if (end <= nowMs) continue;
    const open = start <= nowMs;
    const hours = `${formatClock(startMin)}–${formatClock(endMin % 1440 === 0 && endMin > 0 ? 1440 : endMin % 1440)}`;
    let text: string;
    let textEn: string;
    if (open) {
      const until = formatClock(endMin >= 1440 && endMin !== 1440 ? endMin - 1440 : endMin);
      text = `지금 ~ ${until}`;
      textEn = `now until ${until}`;
    } else {
      const evening = startMin >= 18 * 60;
      const [ko, en] =
        offset === 0
          ? evening
            ? ['오늘 밤', 'tonight']
            : ['오늘', 'today']
          : offset === 1
            ? evening
              ? ['내일 밤', 'tomorrow night']
              : ['내일', 'tomorrow']
            : [KO_NAMES[weekday], EN_NAMES[weekday]];
      text = `${ko} ${hours}`;
      textEn = `${en} ${hours}`;
    }
    return { start: isoSeoul(start), end: isoSeoul(end), open, text, textEn };
  }
  return null;
}
