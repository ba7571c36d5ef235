import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';

/**
 * A stand-in for OpenAI Chat Completions (docs/architecture.md → Third parties) on 127.0.0.1, reusable by any
 * module that talks to an OpenAI-compatible server (coaching, the OpenAI vision provider).
 *
 * - `POST …/chat/completions` answers in the real wire format: `{ id, object: "chat.completion",
 *   created, model, choices: [{ index, message: { role, content, refusal }, logprobs, finish_reason }],
 *   usage }`; a refusal has `content: null`.
 * - Errors use OpenAI's body `{ error: { message, type, param, code } }`; 429 carries
 *   `retry-after` / `retry-after-ms` and `x-ratelimit-*` headers like the real API.
 * - Strict JSON-schema response formats are checked the way OpenAI does (every object needs
 *   `additionalProperties: false` and all its properties in `required`) and answer 400 otherwise.
 * - With `apiKey`, a wrong or missing `Authorization: Bearer` answers 401 `invalid_api_key`.
 * - Latency is configurable; a client that gives up (timeout) simply closes the socket.
 *
 * The handler decides each answer from the request body; use the `reply` helpers.
 */
export interface ChatRequestBody {
  model: string;
  messages: { role: string; content: unknown }[];
  response_format?: {
    type: string;
    json_schema?: { name: string; schema: Record<string, unknown>; strict?: boolean };
  };
  [key: string]: unknown;
}

export interface RecordedOpenAiRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  body: ChatRequestBody;
}

export interface OpenAiErrorBody {
  message: string;
  type: string;
  param?: string | null;
  code?: string | null;
}

export type StandinReply =
  | {
      kind: 'completion';
      content: string | null;
      refusal?: string | null;
      finishReason?: 'stop' | 'length' | 'content_filter' | 'tool_calls';
    }
  | { kind: 'error'; status: number; error: OpenAiErrorBody; headers?: Record<string, string> };

export type StandinHandler = (
  body: ChatRequestBody,
  request: RecordedOpenAiRequest,
) => StandinReply | Promise<StandinReply>;

export interface OpenAiStandinOptions {
  /** When set, requests must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Delay before every answer (ms). */
  latencyMs?: number;
  handler?: StandinHandler;
}

export interface OpenAiStandin {
  /** Base URL to use as OPENAI_BASE_URL (ends in /v1). */
  url: string;
  /** Every request received, in order (also the ones answered with an error). */
  requests: RecordedOpenAiRequest[];
  setHandler(handler: StandinHandler): void;
  setBehaviour(behaviour: { latencyMs?: number; handler?: StandinHandler }): void;
  /** Forget recorded requests; back to the default handler and no latency. */
  reset(): void;
  close(): Promise<void>;
}

/** Answers for handlers. */
export const reply = {
  /** A structured-output answer: `content` is the JSON string of `value`. */
  json: (value: unknown): StandinReply => ({ kind: 'completion', content: JSON.stringify(value) }),
  text: (content: string): StandinReply => ({ kind: 'completion', content }),
  refusal: (refusal = "I'm sorry, I can't help with that request."): StandinReply => ({
    kind: 'completion',
    content: null,
    refusal,
  }),
  truncated: (content: string): StandinReply => ({
    kind: 'completion',
    content,
    finishReason: 'length',
  }),
  rateLimited: (opts: { retryAfterMs?: number; shouldRetry?: boolean } = {}): StandinReply => {
    const ms = opts.retryAfterMs ?? 20;
    return {
      kind: 'error',
      status: 429,
      error: {
        message:
          'Rate limit reached for gpt-4o-mini in organization org-standin on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20ms.',
        type: 'requests',
        param: null,
        code: 'rate_limit_exceeded',
      },
      headers: {
        'retry-after-ms': String(ms),
        'retry-after': String(Math.max(1, Math.ceil(ms / 1000))),
        'x-ratelimit-limit-requests': '3',
        'x-ratelimit-remaining-requests': '0',
        'x-ratelimit-reset-requests': `${ms}ms`,
        ...(opts.shouldRetry === false ? { 'x-should-retry': 'false' } : {}),
      },
    };
  },
  insufficientQuota: (): StandinReply => ({
    kind: 'error',
    status: 429,
    error: {
      message: 'You exceeded your current quota, please check your plan and billing details.',
      type: 'insufficient_quota',
      param: null,
      code: 'insufficient_quota',
    },
    headers: { 'x-should-retry': 'false' },
  }),
  serverError: (): StandinReply => ({
    kind: 'error',
    status: 500,
    error: {
      message: 'The server had an error while processing your request. Sorry about that!',
      type: 'server_error',
      param: null,
      code: null,
    },
  }),
  error: (
    status: number,
    error: OpenAiErrorBody,
    headers?: Record<string, string>,
  ): StandinReply => ({
    kind: 'error',
    status,
    error,
    headers,
  }),
};

const defaultHandler: StandinHandler = () => reply.text('ok');

/** OpenAI's strict-mode rules for a JSON schema; returns the first violation. */
export function strictSchemaProblem(schema: unknown, path = 'schema'): string | undefined {
  if (!schema || typeof schema !== 'object') return undefined;
  const s = schema as Record<string, unknown>;
  const types = Array.isArray(s.type) ? s.type : [s.type];
  if (types.includes('object')) {
    if (s.additionalProperties !== false) {
      return `In context=('${path}'), 'additionalProperties' is required to be supplied and to be false.`;
    }
    const props = (s.properties ?? {}) as Record<string, unknown>;
    const required = Array.isArray(s.required) ? (s.required as string[]) : [];
    const missing = Object.keys(props).filter((k) => !required.includes(k));
    if (missing.length) {
      return `In context=('${path}'), 'required' is required to be supplied and to be an array including every key in properties. Missing '${missing[0]}'.`;
    }
    for (const [k, v] of Object.entries(props)) {
      const p = strictSchemaProblem(v, `${path}.properties.${k}`);
      if (p) return p;
    }
  }
  if (types.includes('array')) return strictSchemaProblem(s.items, `${path}.items`);
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startOpenAiStandin(opts: OpenAiStandinOptions = {}): Promise<OpenAiStandin> {
  const requests: RecordedOpenAiRequest[] = [];
  let latencyMs = opts.latencyMs ?? 0;
  let handler: StandinHandler = opts.handler ?? defaultHandler;

  const send = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(status, {
      'content-type': 'application/json',
      'x-request-id': `req_${randomBytes(12).toString('hex')}`,
      'openai-processing-ms': String(latencyMs),
      ...headers,
    });
    res.end(JSON.stringify(body));
  };
  const fail = (
    res: ServerResponse,
    status: number,
    error: OpenAiErrorBody,
    headers?: Record<string, string>,
  ) =>
    send(
      res,
      status,
      {
        error: {
          message: error.message,
          type: error.type,
          param: error.param ?? null,
          code: error.code ?? null,
        },
      },
      headers,
    );

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = new URL(req.url ?? '/', 'http://standin').pathname;
    let body: ChatRequestBody;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as ChatRequestBody;
    } catch {
      return fail(res, 400, {
        message: 'We could not parse the JSON body of your request.',
        type: 'invalid_request_error',
      });
    }
    const recorded: RecordedOpenAiRequest = {
      method: req.method ?? 'GET',
      path,
      authorization: req.headers.authorization,
      body,
    };
    requests.push(recorded);
    if (latencyMs) await sleep(latencyMs);
    if (res.destroyed) return;

    if (opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      return fail(res, 401, {
        message: 'Incorrect API key provided.',
        type: 'invalid_request_error',
        code: 'invalid_api_key',
      });
    }
    if (req.method !== 'POST' || !path.endsWith('/chat/completions')) {
      return fail(res, 404, {
        message: `Invalid URL (${req.method} ${path})`,
        type: 'invalid_request_error',
      });
    }
    if (typeof body.model !== 'string' || !Array.isArray(body.messages) || !body.messages.length) {
      return fail(res, 400, {
        message: "Missing required parameter: 'model' or 'messages'.",
        type: 'invalid_request_error',
        param: typeof body.model !== 'string' ? 'model' : 'messages',
        code: 'missing_required_parameter',
      });
    }
    const rf = body.response_format;
    if (rf?.type === 'json_schema' && rf.json_schema?.strict) {
      const problem = strictSchemaProblem(rf.json_schema.schema);
      if (problem) {
        return fail(res, 400, {
          message: `Invalid schema for response_format '${rf.json_schema.name}': ${problem}`,
          type: 'invalid_request_error',
          param: 'response_format',
          code: null,
        });
      }
    }

    let answer: StandinReply;
    try {
      answer = await handler(body, recorded);
    } catch (err) {
      return fail(res, 500, { message: String(err), type: 'server_error' });
    }
    if (answer.kind === 'error') return fail(res, answer.status, answer.error, answer.headers);
    const prompt = JSON.stringify(body.messages).length;
    const completion = (answer.content ?? answer.refusal ?? '').length;
    send(res, 200, {
      id: `chatcmpl-${randomBytes(12).toString('base64url')}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: answer.content, refusal: answer.refusal ?? null },
          logprobs: null,
          finish_reason: answer.finishReason ?? 'stop',
        },
      ],
      usage: {
        prompt_tokens: Math.ceil(prompt / 4),
        completion_tokens: Math.ceil(completion / 4),
        total_tokens: Math.ceil(prompt / 4) + Math.ceil(completion / 4),
      },
      system_fingerprint: 'fp_standin',
    });
  };

  const server: Server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    setHandler(h) {
      handler = h;
    },
    setBehaviour(b) {
      if (b.latencyMs !== undefined) latencyMs = b.latencyMs;
      if (b.handler) handler = b.handler;
    },
    reset() {
      requests.length = 0;
      latencyMs = opts.latencyMs ?? 0;
      handler = opts.handler ?? defaultHandler;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
