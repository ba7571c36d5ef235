import { Counter, Histogram } from 'prom-client';
import { Metrics } from '../observability/metrics';

/**
 * The one way this codebase calls a third party over HTTP (docs/architecture.md → Third
 * parties): a deadline on the whole exchange (headers and body), failures sorted into the same
 * kinds everywhere, Retry-After read once, and two metrics per service:
 * `third_party_requests_total{service,outcome}` and `third_party_request_duration_seconds`.
 * Each client maps an HttpCallError to its own domain error (a task retry, a 503, a fallback).
 */

export type HttpFailureKind = 'timeout' | 'network' | 'status' | 'bad_json';
export type HttpOutcome =
  'ok' | 'timeout' | 'network_error' | 'rate_limited' | 'client_error' | 'server_error';

export class HttpCallError extends Error {
  constructor(
    readonly service: string,
    readonly kind: HttpFailureKind,
    message: string,
    /** The HTTP status, for kind `status` (and `bad_json`). */
    readonly status?: number,
    /** Retry-After (or retry-after-ms) of the answer, in milliseconds. */
    readonly retryAfterMs?: number,
    /** The answer's body as text, for kind `status` and `bad_json`. */
    readonly body?: string,
  ) {
    super(message);
    this.name = 'HttpCallError';
  }

  /** Worth trying again later: no answer in time, no connection, 408/409/425/429 or 5xx. */
  get transient(): boolean {
    if (this.kind === 'timeout' || this.kind === 'network') return true;
    return this.status !== undefined && isTransientStatus(this.status);
  }
}

export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 425 || status === 429 || status >= 500;
}

/** Parses Retry-After (seconds or HTTP date) / retry-after-ms into milliseconds. */
export function retryAfterMs(headers: Pick<Headers, 'get'> | undefined): number | undefined {
  const ms = headers?.get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms))) return Number(ms);
  const ra = headers?.get('retry-after');
  if (!ra) return undefined;
  if (/^\d+(\.\d+)?$/.test(ra)) return Number(ra) * 1000;
  const at = Date.parse(ra);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

export function outcomeOf(status: number): HttpOutcome {
  if (status < 400) return 'ok';
  if (status === 429) return 'rate_limited';
  return status >= 500 ? 'server_error' : 'client_error';
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON; throws HttpCallError(bad_json) when it is not. */
  json<T = unknown>(): T;
}

export interface HttpClientOptions {
  /** The `service` label of the metrics (e.g. "roboflow"). */
  service: string;
  /** The name in error messages (e.g. "Roboflow"); defaults to `service`. */
  name?: string;
  timeoutMs: number;
}

const metrics = new Metrics();
let requests: Counter<'service' | 'outcome'> | undefined;
let latency: Histogram<'service' | 'outcome'> | undefined;

function observe(service: string, outcome: HttpOutcome, started: number): void {
  requests ??= metrics.counter(
    'third_party_requests_total',
    'HTTP calls to third parties (Roboflow, OpenAI, Kakao, Naver, Google) by outcome',
    ['service', 'outcome'],
  );
  latency ??= metrics.histogram(
    'third_party_request_duration_seconds',
    'HTTP call latency to third parties by outcome',
    ['service', 'outcome'],
    [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  );
  requests.labels(service, outcome).inc();
  latency.labels(service, outcome).observe((performance.now() - started) / 1000);
}

function isAbort(err: unknown): boolean {
  const name = (err as Error | undefined)?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}

export class HttpClient {
  constructor(readonly opts: HttpClientOptions) {}

  get service(): string {
    return this.opts.service;
  }

  /**
   * One request; resolves with a 2xx answer (body read), throws HttpCallError otherwise.
   * `timeoutMs` overrides the client's deadline for this call.
   */
  async request(
    url: string | URL,
    init: RequestInit = {},
    timeoutMs?: number,
  ): Promise<HttpAnswer> {
    const { service } = this.opts;
    const name = this.opts.name ?? service;
    const deadline = timeoutMs ?? this.opts.timeoutMs;
    const started = performance.now();
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.timeout(deadline) });
      text = await res.text();
    } catch (err) {
      if (isAbort(err)) {
        observe(service, 'timeout', started);
        throw new HttpCallError(service, 'timeout', `${name} did not answer within ${deadline} ms`);
      }
      observe(service, 'network_error', started);
      throw new HttpCallError(
        service,
        'network',
        `${name} unreachable: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    observe(service, outcomeOf(res.status), started);
    if (res.status >= 400) {
      throw new HttpCallError(
        service,
        'status',
        `${name} answered ${res.status}: ${text.slice(0, 200)}`,
        res.status,
        retryAfterMs(res.headers),
        text,
      );
    }
    const { status, headers } = res;
    return {
      status,
      headers,
      text,
      json<T>(): T {
        try {
          return JSON.parse(text) as T;
        } catch {
          throw new HttpCallError(
            service,
            'bad_json',
            `${name} answered with something that is not JSON`,
            status,
            undefined,
            text,
          );
        }
      },
    };
  }

  /**
   * A metered `fetch` for an SDK that does its own HTTP (the OpenAI client): the SDK keeps its
   * timeout and error types; every exchange still lands in the same metrics.
   */
  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const started = performance.now();
    try {
      const res = await fetch(input, init);
      observe(this.opts.service, outcomeOf(res.status), started);
      return res;
    } catch (err) {
      observe(this.opts.service, isAbort(err) ? 'timeout' : 'network_error', started);
      throw err;
    }
  };
}
