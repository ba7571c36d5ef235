import { Provider } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { LLM_COACH, LlmCoachDriver, NoLlmCoach } from './llm-coach.driver';
import { OpenAiCoachClient } from './openai-coach.client';

export function createLlmCoach(config: AppConfig): LlmCoachDriver {
  return config.LLM_PROVIDER === 'openai' ? new OpenAiCoachClient(config) : new NoLlmCoach();
}

export const llmCoachProvider: Provider = {
  provide: LLM_COACH,
  inject: [APP_CONFIG],
  useFactory: createLlmCoach,
};
