import { waitFor } from './amqp';
import { bearer } from './auth';

export interface JobBody {
  jobId: string;
  status: string;
  stage: string | null;
  progress: number;
  result: {
    items: {
      label: string;
      confidence: number;
      box: unknown;
      category: { id: string; name: string; bin: string };
      steps: string[];
      cautions: string[];
      dropOff: string[];
    }[];
    coaching: { message: string; source: string } | null;
    cache: { hit: boolean; kind: string | null };
    nearby: unknown[] | null;
    timings: { totalMs: number | null; visionMs: number | null; coachingMs: number | null };
  } | null;
  error: { code: string; message: string } | null;
}

export interface Submitted {
  jobId: string;
  analyze: Record<string, unknown>;
  complete: Response;
}

/** The mobile app's three calls: analyze, PUT the bytes to the presigned URL, upload-complete. */
export async function submitPhoto(
  base: string,
  token: string,
  photo: Buffer,
  opts: {
    contentType?: string;
    hint?: string;
    locale?: string;
    lat?: number;
    lng?: number;
    idempotencyKey?: string;
  } = {},
): Promise<Submitted> {
  const body: Record<string, unknown> = {
    contentType: opts.contentType ?? 'image/jpeg',
    contentLength: photo.length,
  };
  for (const k of ['hint', 'locale', 'lat', 'lng'] as const)
    if (opts[k] !== undefined) body[k] = opts[k];
  const res = await fetch(`${base}/api/v1/waste/analyze`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...bearer(token),
      ...(opts.idempotencyKey ? { 'Idempotency-Key': opts.idempotencyKey } : {}),
    },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`analyze: ${res.status} ${await res.text()}`);
  const analyze = (await res.json()) as {
    jobId: string;
    upload: { url: string; method: string; headers: Record<string, string> };
  };
  // The local driver's link names PUBLIC_BASE_URL (as a proxy would see it); a test's API listens
  // on a random port, so the same path is sent there.
  const u = new URL(analyze.upload.url);
  const target = u.pathname.startsWith('/api/v1/waste/uploads')
    ? `${base}${u.pathname}${u.search}`
    : analyze.upload.url;
  const put = await fetch(target, {
    method: analyze.upload.method,
    headers: analyze.upload.headers,
    body: photo,
  });
  if (!put.ok) throw new Error(`upload: ${put.status} ${await put.text()}`);
  const complete = await fetch(`${base}/api/v1/waste/upload-complete/${analyze.jobId}`, {
    method: 'POST',
    headers: bearer(token),
  });
  return { jobId: analyze.jobId, analyze, complete };
}

export async function getJob(base: string, token: string, jobId: string): Promise<JobBody> {
  const res = await fetch(`${base}/api/v1/waste/status/${jobId}`, { headers: bearer(token) });
  if (res.status !== 200) throw new Error(`status: ${res.status} ${await res.text()}`);
  return (await res.json()) as JobBody;
}

/** Polls status until the job ends (completed, failed or expired). */
export async function waitForEnd(
  base: string,
  token: string,
  jobId: string,
  timeoutMs = 20_000,
): Promise<JobBody> {
  return waitFor(
    `job ${jobId} to end`,
    async () => {
      const job = await getJob(base, token, jobId);
      return ['completed', 'failed', 'expired'].includes(job.status) ? job : undefined;
    },
    timeoutMs,
    50,
  );
}
