/** The pipeline's payloads are in the message map (src/core/messaging/messages.ts). */
export type { JobTask, SaveTask } from '../../../core/messaging/messages';

/** Failures that are the photo's or the user's, not the system's: the job fails, nothing is
 * dead-lettered (q.dlq is for operators). */
export const USER_FAILURE_CODES = new Set([
  'INVALID_IMAGE',
  'IMAGE_TOO_LARGE',
  'UPLOAD_MISSING',
  'VISION_NOT_CONFIGURED',
]);

/** A save message's `queuedAt` from the job's column (docs/messaging.md → Messages). */
export const isoOrUndefined = (d: Date | string | null | undefined): string | undefined =>
  d ? new Date(d).toISOString() : undefined;
