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

/** Our own infrastructure blinking (Redis restarting, PostgreSQL failing over, a publish not
 * confirmed): worth a delayed retry, like a provider's 503. */
const TRANSIENT_NAMES = new Set([
  'MaxRetriesPerRequestError',
  'PublishFailedError',
  'ConnectionNotAvailableError',
]);
const TRANSIENT_MESSAGES =
  /Connection is closed|Connection terminated|connect ECONNREFUSED|read ECONNRESET|timeout exceeded when trying to connect|Driver not Connected|Cannot use a pool after calling end|Stream isn't writeable/i;
/** PostgreSQL SQLSTATEs for "try again": connection failures, shutdown, serialization. */
const TRANSIENT_SQLSTATES = /^(08|57P0|40001|40P01|53300)/;

export function isTransient(err: unknown): boolean {
  if (err instanceof RetryableTaskError) return true;
  if (err instanceof PermanentTaskError) return false;
  const e = err as {
    code?: unknown;
    name?: unknown;
    message?: unknown;
    driverError?: { code?: unknown };
  } | null;
  const code = e?.code;
  if (typeof code === 'string' && TRANSIENT_SYSCALL_CODES.has(code)) return true;
  if (typeof e?.name === 'string' && TRANSIENT_NAMES.has(e.name)) return true;
  const sqlState = e?.driverError?.code ?? code;
  if (typeof sqlState === 'string' && TRANSIENT_SQLSTATES.test(sqlState)) return true;
  return typeof e?.message === 'string' && TRANSIENT_MESSAGES.test(e.message);
}

export function errorCode(err: unknown): string {
  if (err instanceof RetryableTaskError || err instanceof PermanentTaskError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z_]+$/.test(code) ? code : 'INTERNAL_ERROR';
}
