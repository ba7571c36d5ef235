import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/core/config/app-config';
import { envSchema } from '../../src/core/config/env.schema';

describe('configuration', () => {
  it('defaults serve a developer machine in the all role', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      APP_ROLE: 'all',
      PORT: 3000,
      METRICS_PORT: 9464,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/waste_coach',
      STORAGE_DRIVER: 'local',
      JWT_ACCESS_TTL: 900,
      JWT_REFRESH_TTL: 30 * 86400,
      CACHE_TTL_DAYS: 7,
      IMAGE_RETENTION_DAYS: 30,
      MAX_UPLOAD_BYTES: 10 * 1024 * 1024,
      VISION_PROVIDER: 'none',
      LLM_PROVIDER: 'none',
      API_MODULES: ['auth', 'users', 'waste', 'recycling', 'locations', 'admin'],
    });
    expect(c.jwtSecretEphemeral).toBe(true);
    expect(c.JWT_SECRET.length).toBeGreaterThanOrEqual(32);
  });

  it('names every bad variable at once, without echoing secrets', () => {
    let err: ConfigError | undefined;
    try {
      loadConfig({
        APP_ROLE: 'api',
        PORT: '70000',
        JWT_SECRET: 'short',
        JWT_ACCESS_TTL: 'soon',
        S3_ENDPOINT: 'ftp://x',
        API_MODULES: 'auth,shop',
      });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const names = err!.problems.map((p) => p.split(':')[0]);
    expect(names).toEqual(
      expect.arrayContaining(['PORT', 'JWT_ACCESS_TTL', 'S3_ENDPOINT', 'API_MODULES']),
    );
    expect(err!.message).not.toContain('short');
  });

  it('cross-field rules: provider keys, S3 bucket, production secret', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (e) {
        return (e as ConfigError).problems;
      }
    };
    expect(problems({ VISION_PROVIDER: 'roboflow' }).join('\n')).toMatch(
      /ROBOFLOW_API_KEY[\s\S]*ROBOFLOW_MODEL/,
    );
    expect(problems({ STORAGE_DRIVER: 's3' })[0]).toMatch(/^S3_BUCKET/);
    expect(problems({ LLM_PROVIDER: 'openai' })[0]).toMatch(/^OPENAI_API_KEY/);
    expect(
      problems({ LLM_PROVIDER: 'openai', OPENAI_BASE_URL: 'http://localhost:11434/v1' }),
    ).toEqual([]);
    expect(problems({ APP_ROLE: 'external' })[0]).toMatch(/^JWT_SECRET: required/);
    expect(problems({ APP_ROLE: 'external', JWT_SECRET: 'x'.repeat(32) })).toEqual([]);
  });

  it('docs/configuration.md lists every variable the schema reads', () => {
    const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'configuration.md'), 'utf8');
    const missing = Object.keys(envSchema.shape).filter((name) => !doc.includes(name));
    expect(missing).toEqual([]);
  });
});
