import type { AnalysisRecord } from '../../users';
import { JobEntity } from './job.entity';
import { toView } from './jobs.service';

/** The users module's history row for a finished job: its items' categories and the Job as shown. */
export function historyEntry(job: JobEntity): AnalysisRecord {
  return {
    userId: job.userId,
    jobId: job.id,
    createdAt: new Date(job.createdAt),
    status: job.status === 'completed' ? 'completed' : 'failed',
    items: (job.result?.items ?? []).map((i) => ({
      label: i.label,
      categoryId: i.category.id,
      categoryName: i.category.name,
    })),
    job: toView(job) as unknown as Record<string, unknown>,
  };
}
