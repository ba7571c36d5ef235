import { AppModuleExtras } from '../../src/app/app.module';
import { RunningApp, startApp } from '../../src/app/bootstrap';
import { AppConfig, loadConfig } from '../../src/core/config/app-config';
import { Isolation } from './isolation';

export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret-0123456789';

/** A validated config for this test file's isolated services, plus overrides. */
export function testConfig(iso: Isolation, overrides: Record<string, string> = {}): AppConfig {
  return loadConfig({ JWT_SECRET: TEST_JWT_SECRET, ...iso.env, ...overrides });
}

/** Boots a role in this process (the `all` role migrates its database on boot). */
export async function bootRole(
  iso: Isolation,
  overrides: Record<string, string> = {},
  extras: AppModuleExtras = {},
): Promise<RunningApp> {
  return startApp(testConfig(iso, overrides), extras);
}
