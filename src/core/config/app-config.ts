import { randomBytes } from 'node:crypto';
import { Env, envSchema } from './env.schema';

/** The validated, typed configuration. Loaded once at boot; injected with `@Inject(APP_CONFIG)`. */
export type AppConfig = Readonly<Omit<Env, 'JWT_SECRET'>> & {
  /** Always set: from the environment, or generated for this process in the `all` role. */
  readonly JWT_SECRET: string;
  /** True when JWT_SECRET was generated for this process (only allowed in the `all` role). */
  readonly jwtSecretEphemeral: boolean;
};

export const APP_CONFIG = Symbol('APP_CONFIG');

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Cross-field rules that a per-variable schema cannot express. */
function crossCheck(env: Env): string[] {
  const problems: string[] = [];
  if (!env.JWT_SECRET && env.APP_ROLE !== 'all') {
    problems.push(
      `JWT_SECRET: required when APP_ROLE is ${env.APP_ROLE} (only 'all' may run without it)`,
    );
  }
  if (env.JWT_SECRET && env.JWT_SECRET.length < 32) {
    problems.push('JWT_SECRET: must be at least 32 characters');
  }
  if (env.STORAGE_DRIVER === 's3' && !env.S3_BUCKET) {
    problems.push('S3_BUCKET: required when STORAGE_DRIVER=s3');
  }
  if (env.VISION_PROVIDER === 'roboflow') {
    if (!env.ROBOFLOW_API_KEY)
      problems.push('ROBOFLOW_API_KEY: required when VISION_PROVIDER=roboflow');
    if (!env.ROBOFLOW_MODEL || !/^[\w-]+\/\d+$/.test(env.ROBOFLOW_MODEL)) {
      problems.push(
        'ROBOFLOW_MODEL: required as project/version (e.g. taco-trash/3) when VISION_PROVIDER=roboflow',
      );
    }
  }
  const usesOpenAi = env.VISION_PROVIDER === 'openai' || env.LLM_PROVIDER === 'openai';
  if (
    usesOpenAi &&
    !env.OPENAI_API_KEY &&
    new URL(env.OPENAI_BASE_URL).hostname === 'api.openai.com'
  ) {
    problems.push(
      'OPENAI_API_KEY: required for api.openai.com (local OpenAI-compatible servers may omit it)',
    );
  }
  return problems;
}

export function loadConfig(source: NodeJS.ProcessEnv = process.env): AppConfig {
  const input: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const value = source[key];
    if (value !== undefined) input[key] = value;
  }
  const parsed = envSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const name = String(i.path[0] ?? '?');
      const shown =
        name.includes('SECRET') || name.includes('KEY') ? '' : ` (got "${input[name]}")`;
      return `${name}: ${i.message}${input[name] !== undefined ? shown : ''}`;
    });
    throw new ConfigError(problems);
  }
  const problems = crossCheck(parsed.data);
  if (problems.length) throw new ConfigError(problems);
  const ephemeral = !parsed.data.JWT_SECRET;
  return Object.freeze({
    ...parsed.data,
    JWT_SECRET: parsed.data.JWT_SECRET ?? randomBytes(48).toString('base64url'),
    jwtSecretEphemeral: ephemeral,
  });
}
