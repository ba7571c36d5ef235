import { PermanentTaskError } from '../../../core/messaging/task.errors';
import { Provider } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { RecyclingService } from '../../recycling';
import { OpenAiVisionProvider } from './openai-vision.client';
import { RoboflowClient } from './roboflow.client';
import { VISION_PROVIDER, VisionProvider } from './vision.driver';

/** VISION_PROVIDER=none: no model. The pipeline uses the user's hint, or fails VISION_NOT_CONFIGURED. */
export class NoVisionProvider implements VisionProvider {
  readonly name = 'none' as const;
  readonly model = 'none';
  classify(): Promise<never> {
    return Promise.reject(
      new PermanentTaskError('VISION_NOT_CONFIGURED', 'no vision provider is configured'),
    );
  }
}

export function createVisionProvider(config: AppConfig, categoryIds: string[]): VisionProvider {
  switch (config.VISION_PROVIDER) {
    case 'roboflow':
      return new RoboflowClient({
        apiUrl: config.ROBOFLOW_API_URL,
        apiKey: config.ROBOFLOW_API_KEY!,
        model: config.ROBOFLOW_MODEL!,
        timeoutMs: config.VISION_TIMEOUT_MS,
      });
    case 'openai':
      return new OpenAiVisionProvider({
        baseURL: config.OPENAI_BASE_URL,
        apiKey: config.OPENAI_API_KEY ?? 'not-needed',
        model: config.OPENAI_VISION_MODEL,
        timeoutMs: config.VISION_TIMEOUT_MS,
        categoryIds,
      });
    default:
      return new NoVisionProvider();
  }
}

/** The external role's vision backend (wired in src/app/app.module.ts). */
export const visionProvider: Provider = {
  provide: VISION_PROVIDER,
  inject: [APP_CONFIG, RecyclingService],
  useFactory: (c: AppConfig, r: RecyclingService) => createVisionProvider(c, r.categoryIds),
};
