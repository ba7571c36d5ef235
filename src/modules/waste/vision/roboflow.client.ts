import { PermanentTaskError, RetryableTaskError } from '../../../core/messaging/task.errors';
import { VisionDetection, VisionProvider, retryAfterMs } from './vision.provider';

interface RoboflowDetection {
  x: number;
  y: number;
  width: number;
  height: number;
  confidence: number;
  class: string;
}

interface RoboflowResponse {
  image?: { width?: number; height?: number };
  predictions?:
    | RoboflowDetection[]
    | Record<string, { confidence: number }>
    | { class: string; confidence: number }[];
  top?: string;
  confidence?: number;
  predicted_classes?: string[];
}

export interface RoboflowOptions {
  apiUrl: string;
  apiKey: string;
  /** project/version */
  model: string;
  timeoutMs: number;
  /** Minimum confidence, percent (the hosted API's unit). */
  confidence?: number;
  overlap?: number;
}

const NO_RETRY = new Set([400, 401, 402, 403, 404]);

/**
 * Roboflow hosted inference (CONTRACTS.md): POST {url}/{project}/{version}?api_key=…, the image as
 * plain base64, form content type. Handles detection, single-label and multi-label
 * classification answers; missing optional fields are tolerated.
 */
export class RoboflowClient implements VisionProvider {
  readonly name = 'roboflow' as const;

  constructor(private readonly opts: RoboflowOptions) {}

  get model(): string {
    return this.opts.model;
  }

  async classify(image: Buffer, width: number, height: number): Promise<VisionDetection[]> {
    const url = new URL(`${this.opts.apiUrl.replace(/\/$/, '')}/${this.opts.model}`);
    url.searchParams.set('api_key', this.opts.apiKey);
    url.searchParams.set('confidence', String(this.opts.confidence ?? 40));
    url.searchParams.set('overlap', String(this.opts.overlap ?? 30));
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: image.toString('base64'),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
    } catch (err) {
      const timeout =
        (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
      throw new RetryableTaskError(
        timeout ? 'TIMEOUT' : 'VISION_UNAVAILABLE',
        timeout
          ? `Roboflow did not answer within ${this.opts.timeoutMs} ms`
          : `Roboflow unreachable: ${(err as Error).message}`,
      );
    }
    const text = await res.text();
    if (!res.ok) {
      let message = text.slice(0, 200);
      try {
        message = String((JSON.parse(text) as { message?: string }).message ?? message);
      } catch {
        /* not JSON */
      }
      if (res.status === 400)
        throw new PermanentTaskError('INVALID_IMAGE', `Roboflow refused the image: ${message}`);
      if (NO_RETRY.has(res.status)) {
        throw new PermanentTaskError(
          'VISION_UNAVAILABLE',
          `Roboflow answered ${res.status}: ${message}`,
        );
      }
      throw new RetryableTaskError(
        'VISION_UNAVAILABLE',
        `Roboflow answered ${res.status}: ${message}`,
        retryAfterMs(res.headers),
      );
    }
    let body: RoboflowResponse;
    try {
      body = JSON.parse(text) as RoboflowResponse;
    } catch {
      throw new RetryableTaskError(
        'VISION_UNAVAILABLE',
        'Roboflow answered with something that is not JSON',
      );
    }
    return parseRoboflow(body, width, height);
  }
}

export function parseRoboflow(
  body: RoboflowResponse,
  fallbackWidth: number,
  fallbackHeight: number,
): VisionDetection[] {
  const w = body.image?.width || fallbackWidth;
  const h = body.image?.height || fallbackHeight;
  const p = body.predictions;
  const clamp = (v: number) => Math.min(1, Math.max(0, v));
  if (Array.isArray(p)) {
    return p
      .filter((d) => typeof d.class === 'string' && typeof d.confidence === 'number')
      .map((d) => {
        const det = d as Partial<RoboflowDetection> & { class: string; confidence: number };
        const hasBox = [det.x, det.y, det.width, det.height].every((v) => typeof v === 'number');
        return {
          label: det.class,
          confidence: clamp(det.confidence),
          box: hasBox
            ? {
                // Roboflow gives the box centre; we hand out the top-left corner, as fractions.
                x: clamp((det.x! - det.width! / 2) / w),
                y: clamp((det.y! - det.height! / 2) / h),
                width: clamp(det.width! / w),
                height: clamp(det.height! / h),
              }
            : null,
        };
      })
      .sort((a, b) => b.confidence - a.confidence);
  }
  if (p && typeof p === 'object') {
    const chosen = body.predicted_classes ?? Object.keys(p);
    return chosen
      .filter((c) => typeof p[c]?.confidence === 'number')
      .map((c) => ({ label: c, confidence: clamp(p[c].confidence), box: null }))
      .sort((a, b) => b.confidence - a.confidence);
  }
  if (body.top) return [{ label: body.top, confidence: clamp(body.confidence ?? 1), box: null }];
  return [];
}
