import { loadConfig } from '../core/config/app-config';
import { AppRole } from '../core/config/roles';
import { HealthController } from '../core/observability/health.controller';
import { AuthController } from '../modules/auth/auth.controller';
import { SampleDataLoader } from '../modules/locations/sample-data.loader';
import { BeatModule } from '../modules/maintenance/beat.module';
import { CleanupHandlers } from '../modules/maintenance/cleanup/cleanup.handler';
import { DlqController } from '../modules/maintenance/dlq/dlq.controller';
import { UsersController } from '../modules/users/users.controller';
import { ExternalPipelineHandlers } from '../modules/waste/pipeline/external.handler';
import { FastPipelineHandlers } from '../modules/waste/pipeline/fast.handler';
import { WasteController } from '../modules/waste/waste.controller';
import { roleParts } from './app.module';
import { SampleScheduleLoader } from '../modules/recycling/schedules/sample-schedule.loader';
import { PipelineExpiryHandler } from '../modules/waste/pipeline/expiry.handler';

const parts = (
  role: AppRole,
  env: Record<string, string> = {},
  extras: { withoutWorkers?: boolean } = {},
) => roleParts(loadConfig({ APP_ROLE: role, JWT_SECRET: 'x'.repeat(32), ...env }), extras);

describe('roleParts: what each role runs', () => {
  it('api serves every route group and runs no handler', () => {
    const p = parts('api');
    expect(p.controllers).toEqual(
      expect.arrayContaining([HealthController, AuthController, WasteController, DlqController]),
    );
    expect(p.providers).not.toContain(FastPipelineHandlers);
    expect(p.imports).toEqual([]);
  });

  it('API_MODULES narrows the controllers to the named groups', () => {
    const p = parts('api', { API_MODULES: 'auth,users' });
    expect(p.controllers).toEqual([HealthController, AuthController, UsersController]);
  });

  it('each worker role runs only its own handlers, and no controller', () => {
    const fast = parts('fast');
    expect(fast.controllers).toEqual([]);
    expect(fast.imports).toEqual([]);
    expect(fast.providers).toContain(FastPipelineHandlers);
    expect(fast.providers).not.toContain(ExternalPipelineHandlers);
    expect(fast.providers).not.toContain(CleanupHandlers);
    expect(parts('external').providers).toContain(ExternalPipelineHandlers);
    expect(parts('external').providers).not.toContain(FastPipelineHandlers);
    expect(parts('bulk').providers).toContain(CleanupHandlers);
    expect(parts('beat')).toEqual({ controllers: [], providers: [], imports: [BeatModule] });
  });

  it('all runs everything once, and the sample data only there', () => {
    const p = parts('all', { LOCATIONS_SAMPLE_DATA: 'true' });
    expect(new Set(p.controllers).size).toBe(p.controllers.length);
    expect(new Set(p.providers).size).toBe(p.providers.length);
    expect(p.providers).toEqual(
      expect.arrayContaining([FastPipelineHandlers, ExternalPipelineHandlers, SampleDataLoader]),
    );
    expect(p.imports).toEqual([BeatModule]);
    expect(parts('api', { LOCATIONS_SAMPLE_DATA: 'true' }).providers).not.toContain(
      SampleDataLoader,
    );
  });

  it('all on two threads: the API half runs what `all` does once, the workers role the rest', () => {
    const env = { LOCATIONS_SAMPLE_DATA: 'true', SCHEDULES_SAMPLE_DATA: 'true' };
    const whole = parts('all', env);
    const api = parts('all', env, { withoutWorkers: true });
    const workers = parts('workers', env);
    expect(api.controllers).toEqual(whole.controllers);
    expect(api.imports).toEqual([]);
    expect(api.providers).toEqual(
      expect.arrayContaining([SampleDataLoader, SampleScheduleLoader, PipelineExpiryHandler]),
    );
    expect(api.providers).not.toContain(FastPipelineHandlers);
    expect(workers.controllers).toEqual([]);
    expect(workers.imports).toEqual([BeatModule]);
    expect(workers.providers).not.toContain(SampleDataLoader);
    expect(workers.providers).not.toContain(SampleScheduleLoader);
    // Together: exactly the whole role (the expiry consumer runs in both, as competing consumers).
    const union = new Set([...api.providers, ...workers.providers]);
    expect(union).toEqual(new Set(whole.providers));
  });
});
