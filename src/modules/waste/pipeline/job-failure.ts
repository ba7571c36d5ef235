import { Logger } from '@nestjs/common';
import { JobsService } from '../jobs/jobs.service';

/**
 * Fails a job whose message was dead-lettered, with the error's code (a bug is
 * PROCESSING_FAILED). Never throws: when PostgreSQL itself is what failed, the job stays as it
 * is and the watchdog resumes it once the database is back (docs/operations.md → Watchdog).
 */
export async function failDeadLettered(
  jobs: JobsService,
  logger: Logger,
  jobId: string,
  code: string,
  error: unknown,
): Promise<void> {
  const final = code === 'INTERNAL_ERROR' ? 'PROCESSING_FAILED' : code;
  try {
    await jobs.fail(jobId, final, String((error as Error)?.message ?? error));
    logger.warn(`job ${jobId} failed: ${final}`);
  } catch (err) {
    logger.warn(
      `job ${jobId} not failed (${(err as Error)?.message ?? String(err)}): the watchdog resumes it`,
    );
  }
}
