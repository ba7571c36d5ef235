import { IncomingMessage, ServerResponse } from 'node:http';
import { Loopback, listenLoopback, readBody } from './loopback-server';

export interface RoboflowPrediction {
  x: number;
  y: number;
  width: number;
  height: number;
  confidence: number;
  class: string;
  class_id?: number;
  detection_id?: string;
}

export interface RoboflowCall {
  path: string;
  query: URLSearchParams;
  contentType: string | undefined;
  /** Decoded image bytes (the body is plain base64). */
  image: Buffer;
  at: number;
}

export type RoboflowReply =
  | { kind: 'detect'; predictions: RoboflowPrediction[]; width?: number; height?: number }
  | { kind: 'error'; status: number; message: string; retryAfter?: string }
  | { kind: 'hang' };

/**
 * Roboflow hosted inference on 127.0.0.1 (docs/architecture.md → Third parties): POST /{project}/{version}?api_key=…
 * with a base64 body; detection JSON with box centres in pixels; `{ message }` errors incl. 503
 * with Retry-After. Latency and answers are scriptable per call.
 */
export class RoboflowStandin {
  readonly calls: RoboflowCall[] = [];
  latencyMs: number | (() => number) = 0;
  apiKey = 'rf-test-key';
  /** Queue of replies used first; then `reply` for every call. */
  readonly script: RoboflowReply[] = [];
  reply: (call: RoboflowCall) => RoboflowReply = () => ({
    kind: 'detect',
    predictions: [
      {
        x: 320,
        y: 240,
        width: 200,
        height: 300,
        confidence: 0.91,
        class: 'Clear plastic bottle',
        class_id: 5,
      },
    ],
  });
  private loop?: Loopback;
  url = '';

  async start(): Promise<this> {
    this.loop = await listenLoopback((req, res) => this.handle(req, res));
    this.url = this.loop.url;
    return this;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const u = new URL(req.url ?? '/', 'http://x');
    const call: RoboflowCall = {
      path: u.pathname,
      query: u.searchParams,
      contentType: req.headers['content-type'],
      image: Buffer.from(body, 'base64'),
      at: Date.now(),
    };
    this.calls.push(call);
    const delay = typeof this.latencyMs === 'function' ? this.latencyMs() : this.latencyMs;
    if (delay) await new Promise((r) => setTimeout(r, delay));
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res
        .writeHead(status, { 'Content-Type': 'application/json', ...headers })
        .end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || !/^\/[\w-]+\/\d+$/.test(u.pathname)) {
      return send(404, { message: `Model ${u.pathname.slice(1)} not found` });
    }
    if (u.searchParams.get('api_key') !== this.apiKey) {
      return send(401, { message: 'This API key does not exist (or has been revoked).' });
    }
    if (!call.image.length || call.image[0] !== 0xff) {
      return send(400, { message: 'Could not decode the image' });
    }
    const reply = this.script.shift() ?? this.reply(call);
    if (reply.kind === 'hang') return; // never answers: the client's timeout must fire
    if (reply.kind === 'error') {
      return send(
        reply.status,
        { message: reply.message },
        reply.retryAfter ? { 'Retry-After': reply.retryAfter } : {},
      );
    }
    send(200, {
      time: 0.04,
      inference_id: `inf-${this.calls.length}`,
      image: { width: reply.width ?? 640, height: reply.height ?? 480 },
      predictions: reply.predictions.map((p, i) => ({
        ...p,
        detection_id: p.detection_id ?? `det-${i}`,
      })),
    });
  }

  /** The app configuration that points VISION_PROVIDER=roboflow at this stand-in. */
  get env(): Record<string, string> {
    return {
      VISION_PROVIDER: 'roboflow',
      ROBOFLOW_API_URL: this.url,
      ROBOFLOW_API_KEY: this.apiKey,
      ROBOFLOW_MODEL: 'taco-trash/3',
    };
  }

  async close(): Promise<void> {
    await this.loop?.close();
  }
}
