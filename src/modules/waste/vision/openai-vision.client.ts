import OpenAI from 'openai';
import { HttpClient, retryAfterMs } from '../../../core/http-client/http-client';
import { PermanentTaskError, RetryableTaskError } from '../../../core/messaging/task.errors';
import { VisionDetection, VisionProvider } from './vision.driver';

export interface OpenAiVisionOptions {
  baseURL: string;
  apiKey: string;
  model: string;
  timeoutMs: number;
  categoryIds: string[];
}

interface Answer {
  items: {
    label: string;
    categoryId: string;
    confidence: number;
    box: { x: number; y: number; width: number; height: number } | null;
  }[];
}

/**
 * Vision through a multimodal chat completion with a strict JSON schema (any OpenAI-compatible
 * base URL). The model answers with our category ids directly (an enum), so mapping is exact.
 */
export class OpenAiVisionProvider implements VisionProvider {
  readonly name = 'openai' as const;
  readonly model = 'openai';
  private readonly client: OpenAI;

  constructor(private readonly opts: OpenAiVisionOptions) {
    // Retries are the queue's job (delayed, bounded, visible); the client must not add its own.
    this.client = new OpenAI({
      baseURL: opts.baseURL,
      apiKey: opts.apiKey,
      timeout: opts.timeoutMs,
      maxRetries: 0,
      fetch: new HttpClient({ service: 'openai_vision', timeoutMs: opts.timeoutMs }).fetch,
    });
  }

  private schema() {
    const box = {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['x', 'y', 'width', 'height'],
      properties: {
        x: { type: 'number' },
        y: { type: 'number' },
        width: { type: 'number' },
        height: { type: 'number' },
      },
    };
    return {
      type: 'object',
      additionalProperties: false,
      required: ['items'],
      properties: {
        items: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['label', 'categoryId', 'confidence', 'box'],
            properties: {
              label: { type: 'string' },
              categoryId: { type: 'string', enum: this.opts.categoryIds },
              confidence: { type: 'number' },
              box,
            },
          },
        },
      },
    };
  }

  async classify(image: Buffer): Promise<VisionDetection[]> {
    let completion: OpenAI.Chat.Completions.ChatCompletion;
    try {
      completion = await this.client.chat.completions.create({
        model: this.opts.model,
        temperature: 0,
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'waste_items', schema: this.schema(), strict: true },
        },
        messages: [
          {
            role: 'system',
            content:
              'You identify pieces of household waste in a photo for Korean recycling rules. List each distinct item ' +
              '(at most 5) with a short English label, the best matching categoryId, your confidence 0-1, and its ' +
              'bounding box as fractions of the image (top-left x, y, width, height) or null. An empty list if there is no waste.',
          },
          {
            role: 'user',
            content: [
              {
                type: 'image_url',
                image_url: {
                  url: `data:image/jpeg;base64,${image.toString('base64')}`,
                  detail: 'low',
                },
              },
            ],
          },
        ],
      });
    } catch (err) {
      throw classifyOpenAiError(err);
    }
    const msg = completion.choices[0]?.message;
    if (!msg || msg.refusal || !msg.content) {
      throw new PermanentTaskError(
        'VISION_UNAVAILABLE',
        `the vision model declined: ${msg?.refusal ?? 'empty answer'}`,
      );
    }
    let answer: Answer;
    try {
      answer = JSON.parse(msg.content) as Answer;
    } catch {
      throw new RetryableTaskError(
        'VISION_UNAVAILABLE',
        'the vision model answered with invalid JSON',
      );
    }
    const clamp = (v: number) => Math.min(1, Math.max(0, Number(v) || 0));
    return (answer.items ?? [])
      .filter((i) => typeof i.label === 'string')
      .map((i) => ({
        label: this.opts.categoryIds.includes(i.categoryId) ? i.categoryId : i.label,
        confidence: clamp(i.confidence),
        box: i.box
          ? {
              x: clamp(i.box.x),
              y: clamp(i.box.y),
              width: clamp(i.box.width),
              height: clamp(i.box.height),
            }
          : null,
      }));
  }
}

export function classifyOpenAiError(err: unknown): Error {
  if (err instanceof OpenAI.APIConnectionTimeoutError) {
    return new RetryableTaskError('TIMEOUT', 'the vision model did not answer in time');
  }
  if (err instanceof OpenAI.APIConnectionError) {
    return new RetryableTaskError(
      'VISION_UNAVAILABLE',
      `the vision model is unreachable: ${err.message}`,
    );
  }
  if (err instanceof OpenAI.APIError) {
    const code = (err.error as { code?: string } | undefined)?.code ?? err.code;
    if (err.status === 429 && code !== 'insufficient_quota') {
      return new RetryableTaskError(
        'VISION_UNAVAILABLE',
        'the vision model is rate limited',
        retryAfterMs(err.headers),
      );
    }
    if (err.status && err.status >= 500)
      return new RetryableTaskError('VISION_UNAVAILABLE', `vision model error ${err.status}`);
    if (err.status === 408 || err.status === 409)
      return new RetryableTaskError('VISION_UNAVAILABLE', `vision model error ${err.status}`);
    if (err.status === 400)
      return new PermanentTaskError(
        'INVALID_IMAGE',
        `the vision model refused the image: ${err.message}`,
      );
    return new PermanentTaskError(
      'VISION_UNAVAILABLE',
      `vision model error ${err.status}: ${err.message}`,
    );
  }
  return err as Error;
}
