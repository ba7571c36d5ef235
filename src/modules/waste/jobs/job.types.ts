import type { CategoryGuidance } from '../../recycling';
import type { ScheduleAnswer } from '../../recycling';

export type JobStatus =
  'awaiting_upload' | 'queued' | 'processing' | 'completed' | 'failed' | 'expired';
export type JobStage =
  'downloading' | 'hashing' | 'preprocessing' | 'classifying' | 'guiding' | 'coaching' | 'saving';
export const TERMINAL: readonly JobStatus[] = ['completed', 'failed', 'expired'];

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** What vision saw, after label → category mapping. Cached per image (exact and near-identical). */
export interface ClassifiedItem {
  label: string;
  confidence: number;
  /** Top-left corner and size as fractions (0–1) of the image, so any display size can draw it. */
  box: Box | null;
  categoryId: string;
}

export interface ResultItem {
  label: string;
  confidence: number;
  box: Box | null;
  category: { id: string; name: string; bin: string };
  steps: string[];
  cautions: string[];
  dropOff: CategoryGuidance['dropOff'];
}

export interface Coaching {
  message: string;
  source: 'llm' | 'rules';
}

export interface JobResult {
  items: ResultItem[];
  coaching: Coaching | null;
  cache: {
    hit: boolean;
    kind: 'exact' | 'similar' | null;
    /** For a hit: where the cached answer came from (docs/pipeline.md → Corrections). */
    source?: 'vision' | 'consensus' | 'operator' | null;
  };
  nearby: unknown[] | null;
  /** District disposal days for the items' kinds (docs/schedules.md); null without a region. */
  schedule?: ScheduleAnswer | null;
  timings: { totalMs: number | null; visionMs: number | null; coachingMs: number | null };
}

/** A result with nothing in it yet: what a stage starts from before it adds its part. */
export function emptyJobResult(): JobResult {
  return {
    items: [],
    coaching: null,
    cache: { hit: false, kind: null, source: null },
    nearby: null,
    schedule: null,
    timings: { totalMs: null, visionMs: null, coachingMs: null },
  };
}

/** Milliseconds spent per stage, for benchmarks and the daily report. */
export type StageTimings = Partial<
  Record<
    | 'queue'
    | 'download'
    | 'validate'
    | 'hash'
    | 'cache'
    | 'preprocess'
    | 'vision'
    | 'guidance'
    | 'coaching'
    | 'nearby'
    | 'save'
    | 'total',
    number
  >
>;

/** The API's `Job` (docs/api.md). */
export interface JobView {
  jobId: string;
  status: JobStatus;
  stage: JobStage | null;
  progress: number;
  createdAt: string;
  updatedAt: string;
  result: JobResult | null;
  error: { code: string; message: string } | null;
}
