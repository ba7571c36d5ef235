import { Module, RequestMethod } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import { APP_CONFIG, AppConfig } from '../config/app-config';

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Structured JSON logs (pino). Every HTTP log line carries the request id the client sees. */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        forRoutes: [{ path: '{*path}', method: RequestMethod.ALL }],
        pinoHttp: {
          level: config.LOG_LEVEL,
          base: { role: config.APP_ROLE, pid: process.pid },
          messageKey: 'msg',
          genReqId: (req: IncomingMessage, res: ServerResponse) => {
            (req as IncomingMessage & { startedAt?: number }).startedAt = Date.now();
            const given = req.headers['x-request-id'];
            const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
            res.setHeader('X-Request-Id', id);
            return id;
          },
          customProps: (req: IncomingMessage) => ({
            requestId: (req as IncomingMessage & { id?: string }).id,
          }),
          autoLogging: {
            ignore: (req: IncomingMessage) => /^\/(health|metrics)/.test(req.url ?? ''),
          },
          // Status polls (every 0.5 s per app) would be most of the log; their latency is in the
          // metrics. They are logged when they fail or are slow.
          customLogLevel: (req: IncomingMessage, res: ServerResponse, err?: Error) => {
            if (err || res.statusCode >= 500) return 'error';
            if (res.statusCode >= 400) return 'warn';
            const polling =
              req.method === 'GET' && (req.url ?? '').startsWith('/api/v1/waste/status/');
            const elapsed =
              Date.now() -
              ((req as IncomingMessage & { startedAt?: number }).startedAt ?? Date.now());
            return polling && elapsed < 250 ? 'silent' : 'info';
          },
          redact: ['req.headers.authorization', 'req.headers.cookie'],
          serializers: {
            req: (req: { method: string; url: string }) => ({
              method: req.method,
              url: req.url?.split('?')[0],
            }),
          },
        },
      }),
    }),
  ],
})
export class LoggingModule {}
