import type { Box } from '../jobs/job.types';

export interface VisionDetection {
  label: string;
  confidence: number;
  /** Fractions (0–1) of the image: top-left corner and size. */
  box: Box | null;
}

/**
 * A vision backend, chosen by VISION_PROVIDER (vision.factory.ts): Roboflow, an OpenAI-compatible
 * model, or none. Implementations throw RetryableTaskError for transient trouble (timeouts,
 * 429, 5xx, connection errors) and PermanentTaskError for what retrying cannot fix.
 */
export interface VisionProvider {
  /** Key for the label → category map (e.g. the Roboflow model, or 'openai'). */
  readonly model: string;
  readonly name: 'roboflow' | 'openai' | 'none';
  classify(image: Buffer, width: number, height: number): Promise<VisionDetection[]>;
}

export const VISION_PROVIDER = Symbol('VISION_PROVIDER');
