import { HttpAnswer, HttpCallError, HttpClient } from '../../../core/http-client/http-client';
import { ProblemException } from '../../../core/http/problem';

export interface ProviderResponse {
  status: number;
  body: unknown;
  text: string;
}

const clients = new Map<string, HttpClient>();

/**
 * One call to a login provider with a deadline, through the shared HTTP client. The provider
 * being down, slow, rate-limiting us or answering 5xx is our problem (503, retry later); a 4xx
 * is the caller's token (401).
 */
export async function callProvider(
  name: string,
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<ProviderResponse> {
  let http = clients.get(name);
  if (!http) {
    http = new HttpClient({ service: `oauth_${name.toLowerCase()}`, name, timeoutMs });
    clients.set(name, http);
  }
  let res: HttpAnswer;
  try {
    res = await http.request(url, init, timeoutMs);
  } catch (err) {
    if (!(err instanceof HttpCallError)) throw err;
    if (err.kind === 'status' && err.status! < 500 && err.status !== 429) {
      throw ProblemException.unauthorized(`${name} rejected the credentials`);
    }
    throw ProblemException.unavailable(`${name} login is unavailable right now`);
  }
  let body: unknown = {};
  if (res.text) {
    try {
      body = res.json();
    } catch {
      throw ProblemException.unavailable(`${name} answered something unexpected`);
    }
  }
  return { status: res.status, body, text: res.text };
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
