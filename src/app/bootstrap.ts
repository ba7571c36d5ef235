import {
  DynamicModule,
  INestApplication,
  INestApplicationContext,
  RequestMethod,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from 'nestjs-pino';
import { AppConfig, ConfigError, loadConfig } from '../core/config/app-config';
import { servesHttp } from '../core/config/roles';
import { registerJsonBody, rejectControlCharactersInUrl } from '../core/http/json-body';
import { requestDeadline } from '../core/http/request-deadline';
import { ProblemFilter } from '../core/http/problem.filter';
import { strictValidationPipe } from '../core/http/validation.pipe';
import {
  AccessLog,
  registerRequestContext,
  requestIdOf,
  requestLogger,
  rootLogger,
} from '../core/observability/logging.module';
import { Metrics } from '../core/observability/metrics';
import { setupOpenApi } from './openapi';
import { AppModule, AppModuleExtras } from './app.module';

export const API_PREFIX = 'api/v1';

export interface RunningApp {
  app: INestApplicationContext;
  http?: INestApplication;
  config: AppConfig;
  /** Base URL of the HTTP server (api/all roles). */
  url?: string;
  close(): Promise<void>;
}

/**
 * Closes an app whose start failed. Nest 11's `close()` begins by awaiting the initialisation and
 * rethrows its failure before any shutdown hook runs, so the connections made until then (Redis,
 * PostgreSQL, RabbitMQ, the metrics server) stayed open and reconnecting. The hooks run here on a
 * context told that its initialisation is over (best effort: a hook that throws still skips the
 * ones after it, as in any close, and the process is about to exit 1).
 */
export async function closeAfterFailedStart(app: INestApplicationContext): Promise<void> {
  // Defined, not assigned: Nest's proxy around the context swallows assignments.
  Object.defineProperty(app, 'initializationPromise', {
    value: Promise.resolve(),
    writable: true,
    configurable: true,
  });
  await app.close().catch(() => undefined);
}

/**
 * NestFactory.createApplicationContext, keeping hold of the context it builds: it initialises the
 * context itself and, when that fails, rejects without it, so nothing could close what the
 * context had opened. A factory of our own whose instance hook notes the context (Nest 11;
 * test/foundation/messaging.spec.ts fails if that hook moves).
 */
async function createWorkerContext(module: DynamicModule): Promise<INestApplicationContext> {
  // A fresh NestFactoryStatic (the class is not exported; NestFactory is one).
  const factory = new (NestFactory.constructor as new () => typeof NestFactory)();
  const hooks = factory as unknown as { createNestInstance<T>(instance: T): T };
  const create = hooks.createNestInstance.bind(factory);
  let built: INestApplicationContext | undefined;
  hooks.createNestInstance = <T>(instance: T): T => {
    const proxied = create(instance);
    built = proxied as INestApplicationContext;
    return proxied;
  };
  try {
    return await factory.createApplicationContext(module, { bufferLogs: true });
  } catch (err) {
    if (built) await closeAfterFailedStart(built);
    throw err;
  }
}

/** Builds and starts the role's root module: HTTP for api/all, an application context otherwise. */
export async function startApp(
  config: AppConfig,
  extras: AppModuleExtras = {},
): Promise<RunningApp> {
  const module = AppModule.forRole(config, extras);
  if (!servesHttp(config.APP_ROLE)) {
    // A role that refuses to start must not leave its connections reconnecting behind it.
    const app = await createWorkerContext(module);
    app.useLogger(app.get(Logger));
    app.enableShutdownHooks();
    return { app, config, close: () => app.close() };
  }
  const problems = new ProblemFilter();
  const adapter = new FastifyAdapter({
    // Request ids and log lines: src/core/observability/logging.module.ts.
    loggerInstance: rootLogger(config),
    logController: new AccessLog(),
    childLoggerFactory: requestLogger,
    genReqId: requestIdOf,
    // req.ip and req.protocol believe only as many proxies as are configured (docs/auth.md).
    trustProxy: config.TRUSTED_PROXY_HOPS,
    // Node's default, which the API always had (Fastify's own is 72 s).
    keepAliveTimeout: 5_000,
    // Routing as it was on Express: case-insensitive, a trailing slash optional, and a path
    // parameter as long as the URL allows (a long one reaches its pipe and gets its 4xx there).
    routerOptions: { caseSensitive: false, ignoreTrailingSlash: true, maxParamLength: 8_192 },
    // A URL the router cannot decode is a problem document like every other refusal.
    frameworkErrors: (err: Error, request: FastifyRequest, reply: FastifyReply) =>
      problems.respond(err, request, reply),
    // No Nest middleware is mounted: no middleware engine on the request path.
    skipMiddie: true,
  });
  // Nest's body parsers are off: registerJsonBody (src/core/http/json-body.ts) is the only one.
  const app = await NestFactory.create<NestFastifyApplication>(module, adapter, {
    bufferLogs: true,
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  registerRequestContext(fastify);
  const metrics = app.get(Metrics);
  fastify.addHook('onResponse', (request, reply, done) => {
    metrics.observeHttp(
      request.method,
      request.routeOptions.url ?? 'unmatched',
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    done();
  });
  fastify.addHook('onRequest', requestDeadline(config.HTTP_REQUEST_TIMEOUT_MS));
  fastify.addHook('onRequest', rejectControlCharactersInUrl);
  registerJsonBody(
    fastify,
    {
      maxBytes: config.BODY_MAX_BYTES,
      maxDepth: config.JSON_MAX_DEPTH,
      maxMembers: config.JSON_MAX_MEMBERS,
      maxKeys: config.JSON_MAX_KEYS,
    },
    // The local storage driver's upload target reads the photo bytes itself.
    [`/${API_PREFIX}/waste/uploads`],
  );
  app.setGlobalPrefix(API_PREFIX, {
    exclude: [
      { path: 'health/live', method: RequestMethod.GET },
      { path: 'health/ready', method: RequestMethod.GET },
    ],
  });
  app.useGlobalPipes(strictValidationPipe());
  app.useGlobalFilters(problems);
  app.enableShutdownHooks();
  setupOpenApi(app);
  try {
    await app.listen(config.PORT, config.BIND_HOST);
  } catch (err) {
    await closeAfterFailedStart(app);
    throw err;
  }
  const server = app.getHttpServer() as Server;
  // Slow clients: all headers within HTTP_HEADERS_TIMEOUT_MS, the whole request within
  // HTTP_REQUEST_TIMEOUT_MS (Node's checks; requestDeadline above is the precise body timer).
  server.headersTimeout = config.HTTP_HEADERS_TIMEOUT_MS;
  server.requestTimeout = Math.max(config.HTTP_REQUEST_TIMEOUT_MS, config.HTTP_HEADERS_TIMEOUT_MS);
  const { port } = server.address() as AddressInfo;
  return { app, http: app, config, url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

/**
 * Process entry: load config (exit 1 naming each bad variable), then start the role with `start`
 * (src/main.ts passes startAllRole, which may split `all` over two threads: src/app/threads.ts).
 */
export async function runProcess(
  entry: 'main' | 'worker',
  start: (config: AppConfig) => Promise<RunningApp> = startApp,
): Promise<RunningApp | undefined> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  if (entry === 'worker' && servesHttp(config.APP_ROLE)) {
    console.error(
      `APP_ROLE=${config.APP_ROLE} serves HTTP: start it with dist/main.js (src/worker.ts runs fast, external, bulk and beat)`,
    );
    process.exit(1);
  }
  try {
    return await start(config);
  } catch (err) {
    console.error(
      `waste-coach (${config.APP_ROLE}) failed to start: ${err instanceof Error ? err.message : String(err)}`,
    );
    process.exit(1);
  }
}
