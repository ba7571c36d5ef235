import type { Box } from '../jobs/job.types';

export interface VisionDetection {
  label: string;
  confidence: number;
  /** Fractions (0–1) of the image: top-left corner and size. */
  box: Box | null;
}

/**
 * A vision backend. Implementations throw RetryableTaskError for transient trouble (timeouts,
 * 429, 5xx, connection errors) and PermanentTaskError for what retrying cannot fix.
 */
export interface VisionProvider {
  /** Key for the label → category map (e.g. the Roboflow model, or 'openai'). */
  readonly model: string;
  readonly name: 'roboflow' | 'openai' | 'none';
  classify(image: Buffer, width: number, height: number): Promise<VisionDetection[]>;
}

export const VISION_PROVIDER = Symbol('VISION_PROVIDER');

/** Parses Retry-After (seconds or HTTP date) / retry-after-ms into milliseconds. */
export function retryAfterMs(headers: Headers): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms))) return Number(ms);
  const ra = headers.get('retry-after');
  if (!ra) return undefined;
  if (/^\d+(\.\d+)?$/.test(ra)) return Number(ra) * 1000;
  const at = Date.parse(ra);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}
