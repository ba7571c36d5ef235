import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { STORAGE_DRIVER, StorageDriver } from '../../../core/storage/storage.driver';
import { AccountsService } from '../../auth';
import { allKeys } from '../pipeline/storage-keys';

const BATCH = 500;
const FINISHED = `status IN ('completed', 'failed', 'expired')`;

/**
 * The stored images of jobs, deleted when they are due (sched.cleanup.images, run by the
 * maintenance module). Rows stay, marked images_deleted_at: the account purge removes a deleted
 * account's rows. Storage first: a crash in between leaves the rows unmarked and the next run
 * retries.
 */
@Injectable()
export class JobImagesService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    private readonly accounts: AccountsService,
  ) {}

  /** Jobs older than `days`; at most `maxBatches` batches. Returns how many jobs. */
  deletePastRetention(days: number, maxBatches: number): Promise<number> {
    return this.deleteWhere(`created_at < now() - make_interval(days => $1)`, [days], maxBatches);
  }

  /**
   * Finished jobs whose account no longer exists (the account purge's safety net: a deleted
   * account, or a guest merged into another). Which accounts exist is the auth module's answer.
   */
  async deleteOfMissingAccounts(maxBatches: number): Promise<number> {
    const rows = (await this.db.query(
      `SELECT DISTINCT user_id FROM waste.jobs WHERE images_deleted_at IS NULL AND ${FINISHED}`,
    )) as { user_id: string }[];
    const missing: string[] = [];
    for (let i = 0; i < rows.length; i += 1000) {
      missing.push(...(await this.accounts.missing(rows.slice(i, i + 1000).map((r) => r.user_id))));
    }
    if (!missing.length) return 0;
    return this.deleteWhere(`${FINISHED} AND user_id = ANY($1::uuid[])`, [missing], maxBatches);
  }

  private async deleteWhere(
    condition: string,
    params: unknown[],
    maxBatches: number,
  ): Promise<number> {
    let deleted = 0;
    for (let i = 0; i < maxBatches; i++) {
      const rows = (await this.db.query(
        `SELECT id, user_id FROM waste.jobs
          WHERE images_deleted_at IS NULL AND ${condition}
          ORDER BY created_at LIMIT ${BATCH}`,
        params,
      )) as { id: string; user_id: string }[];
      if (!rows.length) break;
      await this.storage.delete(rows.flatMap((r) => allKeys(r.user_id, r.id)));
      await this.db.query(
        `UPDATE waste.jobs SET images_deleted_at = now() WHERE id = ANY($1::uuid[])`,
        [rows.map((r) => r.id)],
      );
      deleted += rows.length;
    }
    return deleted;
  }
}
