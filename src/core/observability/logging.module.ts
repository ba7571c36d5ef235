import { Module } from '@nestjs/common';
import { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import { Store, storage } from 'nestjs-pino/storage';
import pino, { Logger } from 'pino';
import { APP_CONFIG, AppConfig } from '../config/app-config';

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** The label of the request id in every log line of a request. */
const REQUEST_ID_LOG_LABEL = 'requestId';

const roots = new WeakMap<AppConfig, Logger>();

/**
 * The process's pino logger for a config: one instance shared by Nest's logger (nestjs-pino,
 * outside requests and in workers) and Fastify's (each request's child carries its requestId).
 */
export function rootLogger(config: AppConfig): Logger {
  let logger = roots.get(config);
  if (!logger) {
    logger = pino({
      level: config.LOG_LEVEL,
      base: { role: config.APP_ROLE, pid: process.pid },
      messageKey: 'msg',
      redact: ['req.headers.authorization', 'req.headers.cookie'],
    });
    roots.set(config, logger);
  }
  return logger;
}

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
type LogFn = (...args: unknown[]) => void;

/**
 * A request's logger, made a pino child only when the request first writes a line. Most
 * requests never do (health checks, status polls, every success below `info`), and a pino child
 * costs its bindings' serialisation and an object per request (the profile of /health/live
 * under load: ~3 % of the API's CPU before this, with its garbage).
 */
class LazyChildLogger {
  private real?: Logger;

  constructor(
    private readonly parent: Logger,
    private readonly childBindings: pino.Bindings,
    private readonly opts: pino.ChildLoggerOptions,
  ) {}

  private get log(): Logger {
    return (this.real ??= this.parent.child(this.childBindings, this.opts));
  }

  private write(level: Level, args: unknown[]): void {
    // A child without a level of its own logs at its parent's: no child is needed to refuse.
    if (!this.real && !this.opts.level && !this.parent.isLevelEnabled(level)) return;
    (this.log[level] as LogFn)(...args);
  }

  get level(): string {
    return this.real?.level ?? (this.opts.level || this.parent.level);
  }
  set level(level: string) {
    this.log.level = level;
  }
  isLevelEnabled(level: string): boolean {
    return this.real || this.opts.level
      ? this.log.isLevelEnabled(level)
      : this.parent.isLevelEnabled(level);
  }
  bindings(): pino.Bindings {
    return this.log.bindings();
  }
  child(bindings: pino.Bindings, opts?: pino.ChildLoggerOptions): Logger {
    return this.log.child(bindings, opts);
  }
  trace(...args: unknown[]): void {
    this.write('trace', args);
  }
  debug(...args: unknown[]): void {
    this.write('debug', args);
  }
  info(...args: unknown[]): void {
    this.write('info', args);
  }
  warn(...args: unknown[]): void {
    this.write('warn', args);
  }
  error(...args: unknown[]): void {
    this.write('error', args);
  }
  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }
}

/** Fastify's childLoggerFactory: each request's logger, see {@link LazyChildLogger}. */
export function requestLogger(
  logger: FastifyBaseLogger,
  bindings: pino.Bindings,
  opts: pino.ChildLoggerOptions,
): FastifyBaseLogger {
  return new LazyChildLogger(logger as Logger, bindings, opts) as unknown as FastifyBaseLogger;
}

/** Fastify's genReqId: the client's X-Request-Id when it is safe to log, a UUID otherwise. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

const POLL_PREFIX = '/api/v1/waste/status/';
const NOT_LOGGED = /^\/(health|metrics)/;

/**
 * Fastify's request log lines, as the API has always written them: one line per answered
 * request (none when it arrives), with the request id under `requestId`; status polls (every
 * 0.5 s per app) only when they fail or are slow (their latency is in the metrics), health and
 * metrics never. Fastify's other lines (stream errors, a reply sent twice) stay as they are.
 */
export class AccessLog extends LogController {
  constructor() {
    super({ requestIdLogLabel: REQUEST_ID_LOG_LABEL });
  }

  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const url = request.raw.url ?? '';
    if (NOT_LOGGED.test(url)) return;
    const status = reply.statusCode;
    const ms = reply.elapsedTime;
    const level =
      error || status >= 500
        ? 'error'
        : status >= 400
          ? 'warn'
          : request.method === 'GET' && url.startsWith(POLL_PREFIX) && ms < 250
            ? undefined
            : 'info';
    const log = request.log as Logger;
    if (!level || !log.isLevelEnabled(level)) return;
    const q = url.indexOf('?');
    log[level](
      {
        req: { method: request.method, url: q < 0 ? url : url.slice(0, q) },
        res: { statusCode: status },
        responseTime: Math.round(ms),
        ...(error ? { err: error } : {}),
      },
      error ? 'request errored' : 'request completed',
    );
  }
}

/**
 * The rest of a request's logging, on Fastify's hooks: the request id goes back as X-Request-Id
 * on every answer, and the handler runs in nestjs-pino's async context with the request's child
 * logger, so every line a service writes during the request carries its requestId. Bound in
 * `preHandler`, after the body is read: a context entered before it (nestjs-pino's middleware)
 * is lost across the body's stream events, and POST handlers would log without it.
 */
export function registerRequestContext(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  fastify.addHook('preHandler', (request, _reply, done) => {
    storage.run(new Store(request.log as Logger), done);
  });
}

/**
 * Structured JSON logs (pino). Nest's logger (nestjs-pino) writes through the same root logger
 * as Fastify; the per-request part is {@link AccessLog} and {@link registerRequestContext}, on
 * Fastify's own logger and hooks rather than nestjs-pino's pino-http middleware (so no middleware
 * engine on the request path at all).
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        // No routes: nestjs-pino would otherwise mount pino-http as Nest middleware.
        forRoutes: [],
        pinoHttp: { logger: rootLogger(config) },
      }),
    }),
  ],
})
export class LoggingModule {}
