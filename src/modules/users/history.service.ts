import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { ProblemException } from '../../core/http/problem';
import { AccountEvents } from '../auth';
import { HistoryItemSummary } from './history.entity';
import { HistoryRepository } from './history.repository';

export interface AnalysisRecord {
  userId: string;
  jobId: string;
  createdAt: Date;
  status: 'completed' | 'failed';
  items: HistoryItemSummary[];
  /** The docs/api.md Job object as the client saw it when the job ended. */
  job: Record<string, unknown>;
}

export interface HistoryListItem {
  jobId: string;
  createdAt: string;
  status: 'completed' | 'failed';
  items: HistoryItemSummary[];
}

export interface HistoryPage {
  items: HistoryListItem[];
  nextCursor: string | null;
}

export interface UserStats {
  analyses: number;
  itemsByCategory: Record<string, number>;
  streakDays: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SEOUL = 'Asia/Seoul';

function encodeCursor(createdKey: string, jobId: string): string {
  return Buffer.from(`${createdKey}|${jobId}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdKey: string; jobId: string } {
  const [createdKey, jobId] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (!createdKey || !jobId || !UUID.test(jobId) || Number.isNaN(Date.parse(createdKey))) {
    throw ProblemException.validation([{ field: 'cursor', message: 'cursor is not valid' }]);
  }
  return { createdKey, jobId };
}

/** Made once: building an Intl.DateTimeFormat costs far more than formatting with one. */
const SEOUL_DAY = new Intl.DateTimeFormat('en-CA', { timeZone: SEOUL });

/** The day in Asia/Seoul of a date, as YYYY-MM-DD. */
export function seoulDay(d: Date): string {
  return SEOUL_DAY.format(d);
}

/**
 * Consecutive Seoul days with at least one analysis, ending today — or yesterday, so that a
 * streak is not shown as broken in the morning before the day's first photo.
 */
export function streakDays(daysDesc: string[], now = new Date()): number {
  const today = seoulDay(now);
  const yesterday = seoulDay(new Date(now.getTime() - 86_400_000));
  if (!daysDesc.length || (daysDesc[0] !== today && daysDesc[0] !== yesterday)) return 0;
  let streak = 1;
  for (let i = 1; i < daysDesc.length; i++) {
    const prev = Date.parse(`${daysDesc[i - 1]}T00:00:00Z`);
    const cur = Date.parse(`${daysDesc[i]}T00:00:00Z`);
    if (prev - cur !== 86_400_000) break;
    streak++;
  }
  return streak;
}

/**
 * Analysis history (users.history). Written by the pipeline's save stage through
 * `recordAnalysis` (idempotent on jobId), read by the /users/me/history endpoints.
 */
@Injectable()
export class HistoryService implements OnModuleInit {
  private readonly logger = new Logger(HistoryService.name);

  constructor(
    private readonly repo: HistoryRepository,
    private readonly accountEvents: AccountEvents,
  ) {}

  onModuleInit(): void {
    // A guest folded into an existing account brings its history along.
    this.accountEvents.onMerge((from, to, m) => this.moveHistory(from, to, m));
  }

  /**
   * Records (or, for a redelivered or corrected job, refreshes) one analysis. A job whose user
   * has been deleted meanwhile is dropped: the row would have nobody to belong to. `db` may be
   * a transaction's EntityManager (the pipeline's save commits the job and its row together).
   */
  async recordAnalysis(entry: AnalysisRecord, db?: Pick<EntityManager, 'query'>): Promise<void> {
    try {
      await this.repo.upsert(entry, db);
    } catch (err) {
      if ((err as { code?: string }).code === '23503') {
        this.logger.warn(`history for job ${entry.jobId} dropped: user ${entry.userId} is gone`);
        return;
      }
      throw err;
    }
  }

  async list(userId: string, limit: number, cursor?: string): Promise<HistoryPage> {
    const after = cursor ? decodeCursor(cursor) : undefined;
    const rows = await this.repo.page(userId, after, limit + 1);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => ({
        jobId: r.job_id,
        createdAt: new Date(r.created_at).toISOString(),
        status: r.status,
        items: r.items,
      })),
      nextCursor: rows.length > limit && last ? encodeCursor(last.created_key, last.job_id) : null,
    };
  }

  /** The stored Job snapshot; someone else's job is simply not found. */
  async get(userId: string, jobId: string): Promise<Record<string, unknown>> {
    if (!UUID.test(jobId)) throw ProblemException.notFound('History item');
    const job = await this.repo.job(userId, jobId);
    if (!job) throw ProblemException.notFound('History item');
    return job;
  }

  async remove(userId: string, jobId: string): Promise<void> {
    if (!UUID.test(jobId)) throw ProblemException.notFound('History item');
    if (!(await this.repo.delete(userId, jobId))) throw ProblemException.notFound('History item');
  }

  async countByUser(userId: string): Promise<number> {
    return this.repo.count(userId);
  }

  /**
   * analyses and streak count completed analyses; itemsByCategory counts their items. One
   * statement (it was three queries on three pooled connections per GET /users/me).
   */
  async stats(userId: string, now = new Date()): Promise<UserStats> {
    const s = await this.repo.completedStats(userId, SEOUL);
    return {
      analyses: s.analyses,
      itemsByCategory: s.categories,
      streakDays: streakDays(s.daysDesc, now),
    };
  }

  /** `stats` and the saved home region's 시군구 code (or null), in one statement. */
  async statsWithHomeRegion(
    userId: string,
    now = new Date(),
  ): Promise<{ stats: UserStats; homeRegionCode: string | null }> {
    const s = await this.repo.completedStats(userId, SEOUL, { homeRegion: true });
    return {
      stats: {
        analyses: s.analyses,
        itemsByCategory: s.categories,
        streakDays: streakDays(s.daysDesc, now),
      },
      homeRegionCode: s.homeRegion ?? null,
    };
  }

  private async moveHistory(fromUserId: string, toUserId: string, m: EntityManager): Promise<void> {
    await this.repo.moveAll(fromUserId, toUserId, m);
  }
}
