export interface Share {
  count: number;
  /** count / denominator, 4 decimals; null when the denominator is 0. */
  rate: number | null;
}

export interface StageLatency {
  count: number;
  p50: number;
  p90: number;
  p99: number;
}

/**
 * One Asia/Seoul day of analyses (docs/operations.md → Analytics). Jobs count on the day they
 * were created. Rates are over processed jobs (completed + failed): a job whose photo never
 * arrived (expired) is counted but is not a failure of ours.
 */
export interface DailyStats {
  day: string;
  timeZone: string;
  jobs: { total: number; completed: number; failed: number; expired: number; pending: number };
  completionRate: number | null;
  failureRate: number | null;
  failuresByCode: Record<string, Share>;
  /** Over completed jobs: each had exactly one image-cache lookup with this outcome. */
  cache: {
    lookups: number;
    hitRate: number | null;
    byKind: { exact: Share; similar: Share; miss: Share };
  };
  /** Milliseconds per pipeline stage over completed jobs (percentile_cont). */
  latencyMs: Record<string, StageLatency>;
  /** Detected items of completed jobs, by category id. */
  items: { total: number; byCategory: Record<string, number> };
}

export interface StoredDailyStats {
  day: string;
  stats: DailyStats;
  computedAt: string | null;
  /** False when computed on request and not (yet) saved by the bulk worker. */
  stored: boolean;
}
