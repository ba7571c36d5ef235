/**
 * How a task handler tells the dispatcher what to do with a failure:
 * - RetryableTaskError: transient (timeout, 429, 5xx, connection) → delayed retry, then q.dlq.
 * - anything else: permanent → q.dlq at once (with its code), never an endless requeue.
 */
export class RetryableTaskError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** Provider's Retry-After, honoured when choosing the delay. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'RetryableTaskError';
  }
}

export class PermanentTaskError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'PermanentTaskError';
  }
}

const TRANSIENT_SYSCALL_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

export function isTransient(err: unknown): boolean {
  if (err instanceof RetryableTaskError) return true;
  if (err instanceof PermanentTaskError) return false;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && TRANSIENT_SYSCALL_CODES.has(code);
}

export function errorCode(err: unknown): string {
  if (err instanceof RetryableTaskError || err instanceof PermanentTaskError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z_]+$/.test(code) ? code : 'INTERNAL_ERROR';
}
