/** Where a job's images live. The original (with whatever metadata the phone put in) is deleted
 * once the clean copy exists. */
export const originalKey = (userId: string, jobId: string) => `uploads/${userId}/${jobId}/original`;
/** The job of an `originalKey`, or undefined for any other key. */
export const jobIdOfOriginalKey = (key: string): string | undefined =>
  /^uploads\/[^/]+\/([^/]+)\/original$/.exec(key)?.[1];
export const cleanKey = (userId: string, jobId: string) => `images/${userId}/${jobId}/clean.jpg`;
export const visionKey = (userId: string, jobId: string) => `images/${userId}/${jobId}/vision.jpg`;
export const allKeys = (userId: string, jobId: string) => [
  originalKey(userId, jobId),
  cleanKey(userId, jobId),
  visionKey(userId, jobId),
];
