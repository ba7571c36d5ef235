import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  FieldError,
  PROBLEM_CONTENT_TYPE,
  ProblemException,
  codeForStatus,
  titleForStatus,
} from './problem';
import { isTransient } from '../messaging/task.errors';

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId?: string;
  instance?: string;
  errors?: FieldError[];
  /** Seconds for a Retry-After header (not part of the body). */
  retryAfter?: number;
}

/** Retry-After for a dependency outage; the same as ProblemException.unavailable's. */
const DEPENDENCY_RETRY_AFTER_S = 5;

/** Every error leaves as application/problem+json with a code; no stack traces, ever. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<Request & { id?: string }>();
    const res = ctx.getResponse<Response>();
    const problem = this.toProblem(exception);
    problem.requestId = req.id ? String(req.id) : undefined;
    problem.instance = req.originalUrl?.split('?')[0];
    if (problem.status >= 500) {
      this.logger.error(
        { err: exception, requestId: problem.requestId },
        exception instanceof Error ? exception.message : 'unhandled error',
      );
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    if (exception instanceof ProblemException && exception.extra.headers) {
      for (const [k, v] of Object.entries(exception.extra.headers)) res.setHeader(k, v);
    }
    const { retryAfter, ...body } = problem;
    if (retryAfter) res.setHeader('Retry-After', String(retryAfter));
    res.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
  }

  private toProblem(exception: unknown): Problem {
    if (exception instanceof ProblemException) {
      return this.base(
        exception.status,
        exception.code,
        exception.detail,
        exception.extra.errors,
        exception.extra.title,
      );
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const body = exception.getResponse();
      // Body-parser failures (malformed JSON, too large) arrive as HttpExceptions with a status.
      const detail =
        typeof body === 'string'
          ? body
          : String((body as { message?: unknown }).message ?? exception.message);
      return this.base(
        status,
        codeForStatus(status),
        status >= 500 ? 'Internal server error' : detail,
      );
    }
    const status = Number((exception as { status?: unknown; statusCode?: unknown })?.status ?? 0);
    if (status >= 400 && status < 500) {
      // Errors raised by express middleware (e.g. body-parser: entity.too.large, entity.parse.failed).
      const type = (exception as { type?: string }).type;
      const detail =
        type === 'entity.parse.failed'
          ? 'The request body is not valid JSON'
          : (exception as Error).message;
      return this.base(
        status,
        status === 400 ? 'VALIDATION_FAILED' : codeForStatus(status),
        detail,
      );
    }
    if (isTransient(exception)) {
      // Our own dependency (PostgreSQL, Redis, RabbitMQ) is unreachable or refused the work: the
      // request may succeed shortly, so it is a 503 the app retries, not a 500 (docs/messaging.md).
      return {
        ...this.base(
          503,
          'SERVICE_UNAVAILABLE',
          'A service this request needs is unavailable; try again shortly',
        ),
        retryAfter: DEPENDENCY_RETRY_AFTER_S,
      };
    }
    return this.base(500, 'INTERNAL_ERROR', 'Internal server error');
  }

  private base(
    status: number,
    code: string,
    detail: string,
    errors?: FieldError[],
    title?: string,
  ): Problem {
    return {
      type: `https://waste-coach.dev/problems/${code.toLowerCase().replace(/_/g, '-')}`,
      title: title ?? titleForStatus(status),
      status,
      detail,
      code,
      ...(errors ? { errors } : {}),
    };
  }
}
