import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
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
    this.respond(exception, ctx.getRequest<FastifyRequest>(), ctx.getResponse<FastifyReply>());
  }

  /** Answers `exception` as a problem document (also Fastify's frameworkErrors, see bootstrap). */
  respond(exception: unknown, req: FastifyRequest, reply: FastifyReply): void {
    const problem = this.toProblem(exception);
    problem.requestId = req.id ? String(req.id) : undefined;
    problem.instance = req.raw.url?.split('?')[0];
    if (problem.status >= 500) {
      this.logger.error(
        { err: exception, requestId: problem.requestId },
        exception instanceof Error ? exception.message : 'unhandled error',
      );
    }
    // A stream already started (SSE) or a raw answer already written (the body deadline's 408).
    if (reply.sent || reply.raw.headersSent) {
      if (!reply.raw.writableEnded) reply.raw.end();
      return;
    }
    if (exception instanceof ProblemException && exception.extra.headers) {
      reply.headers(exception.extra.headers);
    }
    const { retryAfter, ...body } = problem;
    if (retryAfter) reply.header('retry-after', String(retryAfter));
    // Fastify's frameworkErrors run no hooks, so the request id header is set here too.
    if (problem.requestId) reply.header('x-request-id', problem.requestId);
    reply
      .code(problem.status)
      .header('content-type', PROBLEM_CONTENT_TYPE)
      .send(JSON.stringify(body));
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
    const e = exception as { status?: unknown; statusCode?: unknown } | undefined;
    const status = Number(e?.status ?? e?.statusCode ?? 0);
    if (status >= 400 && status < 500) {
      // Errors raised by Fastify itself (FST_ERR_*: a malformed media type, a bad URL, …): their
      // messages may quote the request (the URL, the media type), so only the status is told.
      const code = (exception as { code?: unknown }).code;
      const detail =
        typeof code === 'string' && code.startsWith('FST_')
          ? `The request was refused: ${titleForStatus(status)}`
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
