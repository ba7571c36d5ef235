import { Inject, Injectable } from '@nestjs/common';
import { STORAGE_DRIVER, StorageDriver } from '../../../core/storage/storage.driver';
import { AccountsService } from '../../auth';
import { allKeys } from '../pipeline/storage-keys';
import { JobsRepository } from './jobs.repository';

const BATCH = 500;

/**
 * The stored images of jobs, deleted when they are due (sched.cleanup.images, run by the
 * maintenance module). Rows stay, marked images_deleted_at: the account purge removes a deleted
 * account's rows. Storage first: a crash in between leaves the rows unmarked and the next run
 * retries.
 */
@Injectable()
export class JobImagesService {
  constructor(
    private readonly repo: JobsRepository,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    private readonly accounts: AccountsService,
  ) {}

  /** Jobs older than `days`; at most `maxBatches` batches. Returns how many jobs. */
  deletePastRetention(days: number, maxBatches: number): Promise<number> {
    return this.deleteWhere({ olderThanDays: days }, maxBatches);
  }

  /**
   * Finished jobs whose account no longer exists (the account purge's safety net: a deleted
   * account, or a guest merged into another). Which accounts exist is the auth module's answer.
   */
  async deleteOfMissingAccounts(maxBatches: number): Promise<number> {
    const users = await this.repo.usersWithStoredImages();
    const missing: string[] = [];
    for (let i = 0; i < users.length; i += 1000) {
      missing.push(...(await this.accounts.missing(users.slice(i, i + 1000))));
    }
    if (!missing.length) return 0;
    return this.deleteWhere({ finishedOf: missing }, maxBatches);
  }

  private async deleteWhere(
    rule: Parameters<JobsRepository['withStoredImages']>[0],
    maxBatches: number,
  ): Promise<number> {
    let deleted = 0;
    for (let i = 0; i < maxBatches; i++) {
      const jobs = await this.repo.withStoredImages(rule, BATCH);
      if (!jobs.length) break;
      await this.storage.delete(jobs.flatMap((j) => allKeys(j.userId, j.id)));
      await this.repo.markImagesDeleted(jobs.map((j) => j.id));
      deleted += jobs.length;
    }
    return deleted;
  }
}
