import { ProblemException } from '../../../core/http/problem';

export interface ProviderResponse {
  status: number;
  body: unknown;
  text: string;
}

/**
 * One call to a login provider with a deadline. The provider being down, slow, rate-limiting
 * us or answering 5xx is our problem (503, retry later); a 4xx is the caller's token (401).
 */
export async function callProvider(
  name: string,
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<ProviderResponse> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    text = await res.text();
  } catch {
    throw ProblemException.unavailable(`${name} login is unavailable right now`);
  }
  if (res.status >= 500 || res.status === 429) {
    throw ProblemException.unavailable(`${name} login is unavailable right now`);
  }
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    if (res.ok) throw ProblemException.unavailable(`${name} answered something unexpected`);
    body = {};
  }
  if (res.status >= 400) {
    throw ProblemException.unauthorized(`${name} rejected the credentials`);
  }
  return { status: res.status, body, text };
}

export function form(values: Record<string, string | undefined>): URLSearchParams {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined) params.set(k, v);
  return params;
}

export function str(value: unknown): string | undefined {
  if (typeof value === 'string' && value.trim()) return value.trim();
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return undefined;
}
