import type { Coaching } from '../jobs/job.types';

export interface JobTask {
  jobId: string;
}

export type SaveTask =
  | { jobId: string; part: 'coaching'; coaching: Coaching; coachingMs: number }
  | { jobId: string; part: 'nearby'; nearby: unknown[]; nearbyMs: number };

/** Failures that are the photo's or the user's, not the system's: the job fails, nothing is
 * dead-lettered (q.dlq is for operators). */
export const USER_FAILURE_CODES = new Set([
  'INVALID_IMAGE',
  'IMAGE_TOO_LARGE',
  'UPLOAD_MISSING',
  'VISION_NOT_CONFIGURED',
]);
