import { HttpStatus } from '@nestjs/common';

export interface FieldError {
  field: string;
  message: string;
}

/**
 * A domain error with a stable UPPER_SNAKE code, mapped once (ProblemFilter) to an RFC 9457
 * problem-details response. Throw it anywhere a request can fail for a reason the app can act on.
 */
export class ProblemException extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly extra: {
      errors?: FieldError[];
      headers?: Record<string, string>;
      title?: string;
    } = {},
  ) {
    super(detail);
    this.name = 'ProblemException';
  }

  static notFound(what = 'Resource'): ProblemException {
    return new ProblemException(HttpStatus.NOT_FOUND, 'NOT_FOUND', `${what} not found`);
  }

  static validation(errors: FieldError[], detail = 'The request is not valid'): ProblemException {
    return new ProblemException(HttpStatus.BAD_REQUEST, 'VALIDATION_FAILED', detail, { errors });
  }

  static unauthorized(detail = 'Authentication is required'): ProblemException {
    return new ProblemException(HttpStatus.UNAUTHORIZED, 'UNAUTHORIZED', detail);
  }

  static rateLimited(retryAfterSeconds: number): ProblemException {
    return new ProblemException(
      HttpStatus.TOO_MANY_REQUESTS,
      'RATE_LIMITED',
      'Too many requests; try again later',
      {
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
      },
    );
  }

  static unavailable(detail: string): ProblemException {
    return new ProblemException(HttpStatus.SERVICE_UNAVAILABLE, 'SERVICE_UNAVAILABLE', detail, {
      headers: { 'Retry-After': '5' },
    });
  }
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Default code for a status when the thrower did not give one. */
export function codeForStatus(status: number): string {
  const name = HttpStatus[status] as string | undefined;
  if (status === 400) return 'VALIDATION_FAILED';
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 413) return 'PAYLOAD_TOO_LARGE';
  if (status === 415) return 'UNSUPPORTED_MEDIA_TYPE';
  if (status === 429) return 'RATE_LIMITED';
  return name ?? (status >= 500 ? 'INTERNAL_ERROR' : 'BAD_REQUEST');
}

export function titleForStatus(status: number): string {
  const name = (HttpStatus[status] as string | undefined) ?? 'ERROR';
  return name
    .toLowerCase()
    .split('_')
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join(' ');
}
