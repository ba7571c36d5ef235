import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ClassifiedItem } from '../jobs/job.types';

/** One answer for one photo, over all its signals (the review list's row). */
export interface AnswerGroupRow {
  imageSha256: string;
  answer: string;
  accounts: number;
  signals: number;
  lastAt: Date;
  jobId: string;
}

/** The waste module's SQL over waste.correction_signals. */
@Injectable()
export class CorrectionSignalsRepository {
  constructor(private readonly db: DataSource) {}

  /** Answers grouped per photo, most agreed (distinct counting accounts) first. */
  async groups(limit: number): Promise<AnswerGroupRow[]> {
    const rows = (await this.db.query(
      `SELECT image_sha256, answer,
              count(DISTINCT user_id) FILTER (WHERE counts)::int AS accounts,
              count(*)::int AS signals,
              max(created_at) AS last_at,
              (array_agg(job_id ORDER BY created_at DESC))[1] AS job_id
         FROM waste.correction_signals
        GROUP BY image_sha256, answer
        ORDER BY accounts DESC, last_at DESC
        LIMIT $1`,
      [limit],
    )) as {
      image_sha256: string;
      answer: string;
      accounts: number;
      signals: number;
      last_at: Date;
      job_id: string;
    }[];
    return rows.map((r) => ({
      imageSha256: r.image_sha256,
      answer: r.answer,
      accounts: r.accounts,
      signals: r.signals,
      lastAt: r.last_at,
      jobId: r.job_id,
    }));
  }

  /** The signal a job's correction left. */
  async ofJob(
    jobId: string,
  ): Promise<
    { imageSha256: string; imagePhash: string; answer: string; items: ClassifiedItem[] } | undefined
  > {
    const [row] = (await this.db.query(
      `SELECT image_sha256, image_phash, answer, items FROM waste.correction_signals WHERE job_id = $1`,
      [jobId],
    )) as { image_sha256: string; image_phash: string; answer: string; items: ClassifiedItem[] }[];
    return row
      ? {
          imageSha256: row.image_sha256,
          imagePhash: row.image_phash,
          answer: row.answer,
          items: row.items,
        }
      : undefined;
  }

  /** Stores (or, for a corrected-again job, replaces) a job's signal. */
  async upsert(signal: {
    jobId: string;
    userId: string;
    imageSha256: string;
    imagePhash: string;
    answer: string;
    items: ClassifiedItem[];
    counts: boolean;
  }): Promise<void> {
    await this.db.query(
      `INSERT INTO waste.correction_signals (job_id, user_id, image_sha256, image_phash, answer, items, counts)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
       ON CONFLICT (job_id) DO UPDATE SET answer = EXCLUDED.answer, items = EXCLUDED.items,
         counts = EXCLUDED.counts, created_at = now()`,
      [
        signal.jobId,
        signal.userId,
        signal.imageSha256,
        signal.imagePhash,
        signal.answer,
        JSON.stringify(signal.items),
        signal.counts,
      ],
    );
  }

  /** Distinct counting accounts that gave `answer` for the photo. */
  async accountsAgreeing(imageSha256: string, answer: string): Promise<number> {
    const [{ accounts }] = (await this.db.query(
      `SELECT count(DISTINCT user_id)::int AS accounts FROM waste.correction_signals
        WHERE image_sha256 = $1 AND answer = $2 AND counts`,
      [imageSha256, answer],
    )) as { accounts: number }[];
    return accounts;
  }
}
