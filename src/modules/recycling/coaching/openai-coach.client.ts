import OpenAI, {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  RateLimitError,
} from 'openai';
import { AppConfig } from '../../../core/config/app-config';
import { HttpClient } from '../../../core/http-client/http-client';
import { LlmCoachAnswer } from './coaching-check';
import { LlmCoachDriver, LlmCoachError, LlmCoachRequest } from './llm-coach.driver';

/**
 * Chat Completions with a strict JSON schema, through the official client pointed at any
 * OpenAI-compatible base URL (OpenAI, Ollama, vLLM). The whole call, retries included, is bounded
 * by LLM_TIMEOUT_MS.
 */
export class OpenAiCoachClient implements LlmCoachDriver {
  readonly name = 'openai' as const;
  private readonly client: OpenAI;

  constructor(private readonly config: AppConfig) {
    this.client = new OpenAI({
      apiKey: config.OPENAI_API_KEY ?? 'not-needed-for-local-servers',
      baseURL: config.OPENAI_BASE_URL,
      timeout: config.LLM_TIMEOUT_MS,
      maxRetries: config.LLM_MAX_RETRIES,
      fetch: new HttpClient({ service: 'openai_coach', timeoutMs: config.LLM_TIMEOUT_MS }).fetch,
    });
  }

  get model(): string {
    return this.config.OPENAI_MODEL;
  }

  async complete(req: LlmCoachRequest): Promise<LlmCoachAnswer> {
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
