import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { TaskHandler } from '../../../core/messaging/task-handler.decorator';
import { RoutingKey } from '../../../core/messaging/topology';
import { RedisService } from '../../../core/redis/redis.service';
import { STORAGE_DRIVER, StorageDriver } from '../../../core/storage/storage.driver';
import { JobsRepository } from '../jobs/jobs.repository';
import { JobsService } from '../jobs/jobs.service';
import { PipelineRelay } from './pipeline-relay';
import { allKeys } from './storage-keys';

/** Waste jobs' housekeeping on the bulk role: account purge and the job watchdog. */
@Injectable()
export class WasteBulkHandlers {
  private readonly logger = new Logger(WasteBulkHandlers.name);

  constructor(
    private readonly repo: JobsRepository,
    private readonly jobs: JobsService,
    private readonly relay: PipelineRelay,
    private readonly redis: RedisService,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** A deleted account: its jobs and every stored image go (idempotent, batch by batch). */
  @TaskHandler(RoutingKey.AccountPurge)
  async purgeAccount({ userId }: { userId: string }): Promise<void> {
    for (;;) {
      const ids = await this.repo.idsOfUser(userId, 500);
      if (!ids.length) break;
      await this.storage.delete(ids.flatMap((id) => allKeys(userId, id)));
      await this.repo.delete(ids);
      await Promise.all(ids.map((id) => this.jobs.forgetSnapshot(id)));
    }
    this.logger.log(`purged jobs and images of account ${userId}`);
  }

  /**
   * Every job ends: uploads that never came expire; jobs without progress for JOB_RESUME_SECONDS
   * get the message they wait for sent again (a message expired by TTL, dead-lettered by a
   * full queue or lost with a connection), at most once per 5 minutes each; jobs stuck past
   * JOB_TIMEOUT_SECONDS fail with TIMEOUT; on S3, originals a late PUT re-created are deleted
   * once the link has expired.
   */
  @TaskHandler(RoutingKey.SchedJobsWatchdog)
  async watchdog(): Promise<{
    expired: number;
    resumed: number;
    timedOut: number;
    lateOriginals: number;
  }> {
    const expired = await this.repo.uploadsExpired(1000);
    for (const id of expired) {
      await this.jobs.expireUpload(id);
    }
    // The local driver refuses a PUT after the job moved on (uploads.controller.ts); S3 takes
    // every PUT until the link expires, so an ended job's original is deleted again after that.
    const late =
      this.storage.name === 's3' ? await this.repo.linksOutlivedJob(10, 1000) : ([] as string[]);
    if (late.length) await this.storage.delete(late);
    const stuck = await this.repo.unchangedFor(this.config.JOB_TIMEOUT_SECONDS, 1000);
    for (const id of stuck) {
      await this.jobs.fail(id, 'TIMEOUT', `no progress for ${this.config.JOB_TIMEOUT_SECONDS} s`);
    }
    const idle = await this.repo.unchangedFor(this.config.JOB_RESUME_SECONDS, 1000);
    let resumed = 0;
    for (const id of idle) {
      const once = await this.redis.client.set(
        this.redis.key('waste', 'resumed', id),
        '1',
        'EX',
        300,
        'NX',
      );
      const job = once ? await this.jobs.get(id) : undefined;
      if (job && (await this.relay.resume(job))) resumed++;
    }
    if (expired.length || stuck.length || resumed) {
      this.logger.warn(
        `watchdog: ${expired.length} upload(s) expired, ${resumed} idle job(s) resumed, ${stuck.length} stuck job(s) failed`,
      );
    }
    return { expired: expired.length, resumed, timedOut: stuck.length, lateOriginals: late.length };
  }
}
