import { Injectable, Logger } from '@nestjs/common';
import { RegionsService, ResolvedRegion } from '../../locations';
import { nameKey } from '../../locations';
import { HomeRegionRepository } from '../../users';
import type { Locale } from '../recycling.types';
import { DisposalSchedulesRepository, ScheduleRow } from './disposal-schedules.repository';
import { WEEKDAY_IDS, WeekdayId, nextWindow, parseClock, parseDays } from './put-out-window';
import { ScheduleCsvOptions } from './schedule-csv';
import { ScheduleImportReport, importSchedules } from './schedule.importer';
import { WASTE_KINDS, WasteKind, kindsOf } from './waste-kinds';

/**
 * Whether a zone's 관리구역대상지역명 lists the 동 as a whole name: "상계1동" must not pick the
 * zone of "상계10동", as a substring test would.
 */
export function areaNamesDong(area: string | null | undefined, dong: string): boolean {
  const wanted = nameKey(dong);
  return (area ?? '').split(/[,，、·/()\s]+/).some((part) => part && nameKey(part) === wanted);
}

export interface KindSchedule {
  kind: WasteKind;
  /** Weekdays as ids, Sunday first; empty when the text names none we understand. */
  days: WeekdayId[];
  /** As the district wrote it ("일+화+목"). */
  daysText: string | null;
  /** HH:MM; end "24:00" is midnight; an end before the start is the next morning. */
  hours: { start: string | null; end: string | null };
  method: string | null;
  /** Where to put it (bulky waste has its own place; the others share the zone's). */
  place: string | null;
  /** Open now or next, in Asia/Seoul; null when no day is known. */
  next: NextWindow | null;
}

export interface NextWindow {
  /** ISO 8601, +09:00. */
  start: string;
  end: string;
  /** Open at `asOf`. */
  open: boolean;
  /** In the request's locale: "오늘 밤 20:00–24:00" / "tonight 20:00–24:00". */
  text: string;
}

export interface ZoneSchedule {
  zone: string | null;
  /** The 동/아파트 the zone covers, as written. */
  targetArea: string | null;
  placeType: string | null;
  place: string | null;
  /** 미수거일 as written; weekdays in it are left out of `next`. */
  noCollectionDays: string | null;
  department: string | null;
  phone: string | null;
  /** 데이터기준일자 (YYYY-MM-DD). */
  dataDate: string | null;
  kinds: KindSchedule[];
}

export interface ScheduleAnswer {
  region: {
    code: string;
    sido: string;
    sigungu: string;
    name: string;
    source: ResolvedRegion['source'];
    dong: string | null;
  };
  /** False: the region is known but no district data is loaded for it (say so, don't guess). */
  available: boolean;
  message: string;
  /** How zones were chosen: the 동 was found in their target areas, or every zone of the 시군구. */
  matchedBy: 'dong' | 'sigungu' | null;
  zones: ZoneSchedule[];
  /** The instant `next` windows were computed for. */
  asOf: string;
}

const FIELDS: Record<
  WasteKind,
  {
    days: keyof ScheduleRow;
    start: keyof ScheduleRow;
    end: keyof ScheduleRow;
    method: keyof ScheduleRow;
  }
> = {
  general: {
    days: 'generalDays',
    start: 'generalStart',
    end: 'generalEnd',
    method: 'generalMethod',
  },
  food: { days: 'foodDays', start: 'foodStart', end: 'foodEnd', method: 'foodMethod' },
  recyclable: {
    days: 'recyclableDays',
    start: 'recyclableStart',
    end: 'recyclableEnd',
    method: 'recyclableMethod',
  },
  // 일시적다량폐기물 has no day column: its days are the general-waste days.
  bulky: { days: 'generalDays', start: 'bulkyStart', end: 'bulkyEnd', method: 'bulkyMethod' },
};

/**
 * When to put it out: district disposal days and hours (recycling.disposal_schedules) for a
 * region, with the next window computed in Asia/Seoul. docs/schedules.md.
 */
@Injectable()
export class ScheduleService {
  private readonly logger = new Logger(ScheduleService.name);
  constructor(
    readonly rows: DisposalSchedulesRepository,
    private readonly homeRegions: HomeRegionRepository,
    readonly regions: RegionsService,
  ) {}

  importCsv(bytes: Buffer, options: ScheduleCsvOptions = {}): Promise<ScheduleImportReport> {
    return importSchedules(this.rows, bytes, options);
  }

  /** The user's saved home region, or null. */
  async homeRegion(userId: string): Promise<ResolvedRegion | null> {
    const code = await this.homeRegions.get(userId);
    const region = code ? this.regions.byCode(code) : undefined;
    return region ? { ...region, source: 'profile', legalDong: null, adminDong: null } : null;
  }

  async forRegion(
    region: ResolvedRegion,
    o: { locale?: Locale; kinds?: WasteKind[]; now?: Date } = {},
  ): Promise<ScheduleAnswer> {
    const locale = o.locale ?? 'ko';
    const now = o.now ?? new Date();
    const rows = await this.rows.forRegion(region.code.slice(0, 2), this.keysOf(region));
    const dongs = [region.adminDong, region.legalDong].filter((d): d is string => !!d);
    const byDong = dongs.length
      ? rows.filter((r) => dongs.some((d) => areaNamesDong(r.targetArea, d)))
      : [];
    const chosen = byDong.length ? byDong : rows;
    const kinds = o.kinds ?? [...WASTE_KINDS];
    const zones = chosen.map((r) => zoneOf(r, kinds, locale, now));
    const view = {
      code: region.code,
      sido: region.sido,
      sigungu: region.sigungu,
      name: region.name,
      source: region.source,
      dong: region.adminDong ?? region.legalDong,
    };
    return {
      region: view,
      available: zones.length > 0,
      message: zones.length
        ? locale === 'en'
          ? `Disposal days and hours of ${region.name} (district data)`
          : `${region.name}의 배출 요일과 시간입니다 (지자체 공공데이터)`
        : locale === 'en'
          ? `No disposal schedule is loaded for ${region.name} yet; ask the district office`
          : `${region.name}의 배출 요일 데이터가 아직 없습니다. 구청·군청에 문의하세요.`,
      matchedBy: zones.length ? (byDong.length ? 'dong' : 'sigungu') : null,
      zones,
      asOf: now.toISOString(),
    };
  }

  /**
   * For a completed analysis: the kinds its items belong to, for the job's coordinates or else
   * the user's home region. null when there is no region, no kind, or on any error (the schedule
   * is a bonus; it never fails the job).
   */
  async forAnalysis(
    q: { userId: string; lat: number | null; lng: number | null; locale: Locale },
    categoryIds: string[],
  ): Promise<ScheduleAnswer | null> {
    const kinds = kindsOf(categoryIds);
    if (!kinds.length) return null;
    try {
      const region =
        q.lat !== null && q.lng !== null
          ? await this.regions.fromPoint(q.lat, q.lng)
          : await this.homeRegion(q.userId);
      return region ? await this.forRegion(region, { locale: q.locale, kinds }) : null;
    } catch (err) {
      this.logger.warn(`schedule for analysis not computed: ${(err as Error).message}`);
      return null;
    }
  }

  /**
   * 시군구 keys a region's rows may be filed under: its own name, and for a 일반구 the 구 alone
   * and the city ("수원시 장안구" → 수원시장안구, 장안구, 수원시); for a city, also each of its 구.
   */
  private keysOf(region: ResolvedRegion): string[] {
    const keys = new Set([nameKey(region.sigungu)]);
    const parts = region.sigungu.split(' ');
    if (parts.length > 1) parts.forEach((p) => keys.add(nameKey(p)));
    if (region.code.endsWith('0') && /시$/.test(region.sigungu)) {
      for (const r of this.regions.offline().regions.values()) {
        if (r.code !== region.code && r.code.slice(0, 4) === region.code.slice(0, 4)) {
          keys.add(nameKey(r.sigungu));
          keys.add(nameKey(r.sigungu.split(' ').pop()!));
        }
      }
    }
    return [...keys];
  }
}

function zoneOf(r: ScheduleRow, kinds: WasteKind[], locale: Locale, now: Date): ZoneSchedule {
  const excluded = parseDays(r.noCollection).days;
  return {
    zone: r.zoneName,
    targetArea: r.targetArea,
    placeType: r.placeType,
    place: r.place,
    noCollectionDays: r.noCollection,
    department: r.department,
    phone: r.phone,
    dataDate: r.dataDate,
    kinds: kinds.flatMap((kind) => {
      const f = FIELDS[kind];
      const daysText = r[f.days] as string | null;
      const start = r[f.start] as string | null;
      const end = r[f.end] as string | null;
      const method = r[f.method] as string | null;
      if (!method && !start && !end && (kind === 'bulky' || !daysText)) return [];
      const days = parseDays(daysText).days;
      const window = nextWindow(
        { days, startMin: parseClock(start), endMin: parseClock(end), excluded },
        now,
      );
      return [
        {
          kind,
          days: days.map((d) => WEEKDAY_IDS[d]),
          daysText,
          hours: { start, end },
          method,
          place: kind === 'bulky' ? (r.bulkyPlace ?? r.place) : r.place,
          next: window && {
            start: window.start,
            end: window.end,
            open: window.open,
            text: locale === 'en' ? window.textEn : window.text,
          },
        },
      ];
    }),
  };
}
