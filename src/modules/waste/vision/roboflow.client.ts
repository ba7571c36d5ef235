import { PermanentTaskError, RetryableTaskError } from '../../../core/messaging/task.errors';
import { HttpCallError, HttpClient } from '../../../core/http-client/http-client';
import { VisionDetection, VisionProvider } from './vision.driver';

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
 * Roboflow hosted inference (docs/pipeline.md → Vision providers; docs/architecture.md → Third parties): POST {url}/{project}/{version}?api_key=…, the image as
 * plain base64, form content type. Handles detection, single-label and multi-label
 * classification answers; missing optional fields are tolerated.
 */
export class RoboflowClient implements VisionProvider {
  readonly name = 'roboflow' as const;

  private readonly http: HttpClient;

  constructor(private readonly opts: RoboflowOptions) {
    this.http = new HttpClient({
      service: 'roboflow',
      name: 'Roboflow',
      timeoutMs: opts.timeoutMs,
    });
  }

  get model(): string {
    return this.opts.model;
  }

  async classify(image: Buffer, width: number, height: number): Promise<VisionDetection[]> {
    const url = new URL(`${this.opts.apiUrl.replace(/\/$/, '')}/${this.opts.model}`);
    url.searchParams.set('api_key', this.opts.apiKey);
    url.searchParams.set('confidence', String(this.opts.confidence ?? 40));
    url.searchParams.set('overlap', String(this.opts.overlap ?? 30));
    try {
      const res = await this.http.request(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: image.toString('base64'),
      });
      return parseRoboflow(res.json<RoboflowResponse>(), width, height);
    } catch (err) {
      throw err instanceof HttpCallError ? taskError(err) : err;
    }
  }
}

/** Roboflow's failures as task errors: what a retry can fix, and what it cannot. */
function taskError(err: HttpCallError): Error {
  if (err.kind === 'timeout') return new RetryableTaskError('TIMEOUT', err.message);
  if (err.kind !== 'status') return new RetryableTaskError('VISION_UNAVAILABLE', err.message);
  let message = (err.body ?? '').slice(0, 200);
  try {
    message = String((JSON.parse(err.body ?? '') as { message?: string }).message ?? message);
  } catch {
    /* not JSON */
  }
  const status = err.status!;
  if (status === 400) {
    return new PermanentTaskError('INVALID_IMAGE', `Roboflow refused the image: ${message}`);
  }
  if (NO_RETRY.has(status)) {
    return new PermanentTaskError('VISION_UNAVAILABLE', `Roboflow answered ${status}: ${message}`);
  }
  return new RetryableTaskError(
    'VISION_UNAVAILABLE',
    `Roboflow answered ${status}: ${message}`,
    err.retryAfterMs,
  );
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
