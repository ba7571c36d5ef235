import { LlmCoachAnswer } from './coaching-check';

export type LlmFailure =
  'disabled' | 'refusal' | 'rate_limited' | 'timeout' | 'unavailable' | 'invalid' | 'error';

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
 * The coaching LLM, chosen by LLM_PROVIDER (like the vision driver): an OpenAI-compatible model,
 * or none. `complete` answers or throws LlmCoachError; the coaching service then uses rule text.
 */
export interface LlmCoachDriver {
  readonly name: 'openai' | 'none';
  /** Part of the coaching cache key: answers of one model are not served for another. */
  readonly model: string;
  complete(req: LlmCoachRequest): Promise<LlmCoachAnswer>;
}

export const LLM_COACH = Symbol('LLM_COACH');

/** LLM_PROVIDER=none: every coaching message is the rule text (reason `disabled`). */
export class NoLlmCoach implements LlmCoachDriver {
  readonly name = 'none' as const;
  readonly model = 'none';
  complete(): Promise<never> {
    return Promise.reject(new LlmCoachError('disabled', 'LLM_PROVIDER is none'));
  }
}
