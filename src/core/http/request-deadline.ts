import type { FastifyReply, FastifyRequest } from 'fastify';
import { hasBody } from './json-body';
import { PROBLEM_CONTENT_TYPE } from './problem';

/**
 * A request body must arrive within `ms` of the request's start (docs/auth.md → Held
 * connections). Node's own `requestTimeout` does the same but is only checked every 30 s
 * (`connectionsCheckingInterval`, fixed when the server is created), so this timer is the
 * precise one: past the deadline the client gets a 408 problem and the connection is closed,
 * which also ends any upload stream reading the body (the uploads controller then deletes its
 * temp file). Requests without a body (GET, SSE) are never timed. An `onRequest` hook.
 */
export function requestDeadline(ms: number) {
  return (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    const req = request.raw;
    if (!hasBody(req)) return done();
    const res = reply.raw;
    const timer = setTimeout(() => {
      if (req.complete) return;
      // Destroying the request (not only the socket) is what errors a stream still reading it:
      // once a response has ended, Node no longer aborts the request when its socket closes.
      const cut = () => {
        req.destroy();
        req.socket?.destroy();
      };
      if (res.headersSent) return cut();
      const body = JSON.stringify({
        type: 'https://waste-coach.dev/problems/request-timeout',
        title: 'Request Timeout',
        status: 408,
        detail: `The request body did not arrive within ${ms} ms`,
        code: 'REQUEST_TIMEOUT',
      });
      res.writeHead(408, {
        'content-type': PROBLEM_CONTENT_TYPE,
        connection: 'close',
        'x-request-id': request.id,
      });
      res.end(body, cut);
    }, ms);
    timer.unref();
    const clear = () => clearTimeout(timer);
    req.once('end', clear);
    res.once('close', clear);
    done();
  };
}
