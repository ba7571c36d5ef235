import { Inject, Injectable } from '@nestjs/common';
import OpenAI, {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  RateLimitError,
} from 'openai';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { LlmCoachAnswer } from './coaching-check';

export type LlmFailure =
  'refusal' | 'rate_limited' | 'timeout' | 'unavailable' | 'invalid' | 'error';

/** Why the LLM gave no usable answer; the coaching service falls back to rule text. */
export class LlmCoachError extends Error {
  constructor(
    readonly reason: LlmFailure,
    message: string,
  ) {
    super(message);
    this.name = 'LlmCoachError';
  }
}

export interface LlmCoachRequest {
  system: string;
  user: string;
  /** The bins the answer may name: the JSON schema's enum for `bins`. */
  bins: string[];
}

/**
 * Chat Completions with a strict JSON schema, through the official client pointed at any
 * OpenAI-compatible base URL (OpenAI, Ollama, vLLM). The whole call, retries included, is bounded
 * by LLM_TIMEOUT_MS.
 */
@Injectable()
export class LlmCoachClient {
  private readonly client?: OpenAI;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    if (config.LLM_PROVIDER === 'openai') {
      this.client = new OpenAI({
        apiKey: config.OPENAI_API_KEY ?? 'not-needed-for-local-servers',
        baseURL: config.OPENAI_BASE_URL,
        timeout: config.LLM_TIMEOUT_MS,
        maxRetries: config.LLM_MAX_RETRIES,
      });
    }
  }

  get enabled(): boolean {
    return this.client !== undefined;
  }

  get model(): string {
    return this.config.OPENAI_MODEL;
  }

  async complete(req: LlmCoachRequest): Promise<LlmCoachAnswer> {
    if (!this.client) throw new LlmCoachError('error', 'LLM_PROVIDER is none');
    let completion: OpenAI.Chat.Completions.ChatCompletion;
    try {
      completion = await this.client.chat.completions.create(
        {
          model: this.config.OPENAI_MODEL,
          temperature: 0.2,
          max_tokens: 500,
          messages: [
            { role: 'system', content: req.system },
            { role: 'user', content: req.user },
          ],
          response_format: {
            type: 'json_schema',
            json_schema: {
              name: 'recycling_coaching',
              strict: true,
              schema: {
                type: 'object',
                additionalProperties: false,
                required: ['message', 'bins'],
                properties: {
                  message: { type: 'string' },
                  bins: { type: 'array', items: { type: 'string', enum: req.bins } },
                },
              },
            },
          },
        },
        { signal: AbortSignal.timeout(this.config.LLM_TIMEOUT_MS) },
      );
    } catch (err) {
      throw classify(err);
    }
    const choice = completion.choices?.[0];
    const msg = choice?.message;
    if (msg?.refusal) throw new LlmCoachError('refusal', msg.refusal);
    if (choice?.finish_reason === 'content_filter') {
      throw new LlmCoachError('refusal', 'content filtered');
    }
    if (choice?.finish_reason === 'length') throw new LlmCoachError('invalid', 'answer truncated');
    if (typeof msg?.content !== 'string') throw new LlmCoachError('invalid', 'no content');
    let parsed: unknown;
    try {
      parsed = JSON.parse(msg.content);
    } catch {
      throw new LlmCoachError('invalid', 'content is not JSON');
    }
    const p = parsed as Partial<LlmCoachAnswer>;
    if (
      typeof p?.message !== 'string' ||
      !Array.isArray(p.bins) ||
      !p.bins.every((b) => typeof b === 'string')
    ) {
      throw new LlmCoachError('invalid', 'content does not match the schema');
    }
    return { message: p.message, bins: p.bins };
  }
}

function classify(err: unknown): LlmCoachError {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof APIConnectionTimeoutError || err instanceof APIUserAbortError) {
    return new LlmCoachError('timeout', message);
  }
  if (err instanceof RateLimitError) return new LlmCoachError('rate_limited', message);
  if (err instanceof APIConnectionError) return new LlmCoachError('unavailable', message);
  if (err instanceof APIError && (err.status ?? 0) >= 500) {
    return new LlmCoachError('unavailable', message);
  }
  if (err instanceof Error && err.name === 'AbortError')
    return new LlmCoachError('timeout', message);
  return new LlmCoachError('error', message);
}
