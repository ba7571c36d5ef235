import { Type } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, ModulesContainer } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { AppModule } from '../../src/app/app.module';
import { RunningApp } from '../../src/app/bootstrap';
import { AppRole } from '../../src/core/config/roles';
import { ROLE_QUEUES } from '../../src/core/messaging/messaging.module';
import { TaskHandlerMetadata } from '../../src/core/messaging/task-handler.decorator';
import { ALL_ROUTING_KEYS, queueFor } from '../../src/core/messaging/topology';
import { AuthModule } from '../../src/modules/auth/auth.module';
import { LocationsModule } from '../../src/modules/locations/locations.module';
import { SampleDataLoader } from '../../src/modules/locations/sample-data.loader';
import { BeatModule } from '../../src/modules/maintenance/beat.module';
import { MaintenanceModule } from '../../src/modules/maintenance/maintenance.module';
import { OpsModule } from '../../src/modules/maintenance/ops.module';
import { KNOWLEDGE_BASE } from '../../src/modules/recycling/recycling.service';
import { RecyclingModule } from '../../src/modules/recycling/recycling.module';
import { HistoryService } from '../../src/modules/users/history.service';
import { UsersModule } from '../../src/modules/users/users.module';
import { JobEventsHub } from '../../src/modules/waste/jobs/job-events';
import { WasteModule } from '../../src/modules/waste/waste.module';
import { bootRole } from '../support/app';
import { Isolation, isolate } from '../support/isolation';

const FEATURES: Type[] = [
  AuthModule,
  UsersModule,
  WasteModule,
  RecyclingModule,
  LocationsModule,
  MaintenanceModule,
];

/** Every Nest module, provider wrapper and route of a booted role. */
function graph(app: RunningApp) {
  const modules = [...app.app.get(ModulesContainer).values()];
  const providers = modules.flatMap((m) => [...m.providers.values()]);
  const count = (token: unknown) => providers.filter((p) => p.token === token).length;
  const discovery = app.app.get(DiscoveryService);
  const scanner = app.app.get(MetadataScanner);
  const handlers: string[] = [];
  for (const wrapper of discovery.getProviders() as InstanceWrapper[]) {
    const instance = wrapper.instance as object | undefined;
    if (!instance || typeof instance !== 'object') continue;
    for (const method of scanner.getAllMethodNames(Object.getPrototypeOf(instance) as object)) {
      const key = discovery.getMetadataByDecorator(TaskHandlerMetadata, wrapper, method);
      if (key) handlers.push(key);
    }
  }
  const routes: string[] = [];
  if (app.http) {
    const fastify = app.http.getHttpAdapter().getInstance() as unknown as {
      printRoutes(opts: { commonPrefix: boolean }): string;
    };
    // Fastify prints its routing tree: each line a path segment under the line above it that is
    // one level less indented, with the methods served there. HEAD is Fastify's own for each GET.
    const parents: string[] = [];
    for (const line of fastify.printRoutes({ commonPrefix: false }).split('\n')) {
      const m = /^(.*?)[├└]── (.*?)(?: \(([^)]*)\))?$/.exec(line);
      if (!m) continue;
      const depth = m[1].length / 4;
      const path = (parents[depth - 1] ?? '') + m[2];
      parents[depth] = path;
      for (const method of (m[3] ?? '').split(', ').filter((x) => x && x !== 'HEAD')) {
        routes.push(`${method} ${path}`);
      }
    }
  }
  return {
    moduleCount: (type: Type) => modules.filter((m) => m.metatype === type).length,
    count,
    handlers,
    routes,
  };
}

const duplicates = (xs: string[]) => xs.filter((x, i) => xs.indexOf(x) !== i);

describe('each role builds every module, route and task handler exactly once', () => {
  let iso: Isolation;
  beforeAll(async () => {
    iso = await isolate('modgraph');
  });
  afterAll(() => iso.cleanup());

  // `all` first: it migrates the database the other roles then use.
  const ROLES: AppRole[] = ['all', 'api', 'fast', 'external', 'bulk', 'beat', 'workers'];
  it.each<AppRole>(ROLES)('%s', async (role) => {
    const app = await bootRole(iso, { APP_ROLE: role, LOCATIONS_SAMPLE_DATA: 'true' });
    try {
      const g = graph(app);
      expect(g.moduleCount(AppModule)).toBe(1);
      expect(g.moduleCount(OpsModule)).toBe(1);
      for (const feature of FEATURES) {
        expect([feature.name, g.moduleCount(feature)]).toEqual([
          feature.name,
          role === 'beat' ? 0 : 1,
        ]);
      }
      expect(g.moduleCount(BeatModule)).toBe(['beat', 'all', 'workers'].includes(role) ? 1 : 0);

      // What loads data or listens once per process: the knowledge base, the guest-merge
      // listener, the sample collection points, the SSE hub.
      expect(g.count(KNOWLEDGE_BASE)).toBe(role === 'beat' ? 0 : 1);
      expect(g.count(HistoryService)).toBe(role === 'beat' ? 0 : 1);
      expect(g.count(SampleDataLoader)).toBe(role === 'all' ? 1 : 0);
      expect(g.count(JobEventsHub)).toBe(role === 'api' || role === 'all' ? 1 : 0);

      // One handler per routing key of the queues the role consumes, and none for other keys.
      const expected = ALL_ROUTING_KEYS.filter((k) => ROLE_QUEUES[role].includes(queueFor(k)!));
      expect(duplicates(g.handlers)).toEqual([]);
      expect([...g.handlers].sort()).toEqual([...expected].sort());

      if (role === 'api' || role === 'all') {
        expect(g.routes.length).toBeGreaterThan(20);
        expect(duplicates(g.routes)).toEqual([]);
        for (const route of [
          'POST /api/v1/auth/guest',
          'GET /api/v1/users/me',
          'POST /api/v1/waste/analyze',
          'GET /api/v1/recycling/categories',
          'GET /api/v1/locations/nearby',
          'GET /api/v1/admin/dlq',
          'GET /health/ready',
        ]) {
          expect(g.routes).toContain(route);
        }
      } else {
        expect(app.http).toBeUndefined();
      }
    } finally {
      await app.close();
    }
  });

  it('API_MODULES limits the routes to the named groups, each once', async () => {
    const app = await bootRole(iso, { APP_ROLE: 'api', API_MODULES: 'auth,users' });
    try {
      const { routes } = graph(app);
      expect(duplicates(routes)).toEqual([]);
      const groups = new Set(routes.map((r) => r.split(' ')[1].split('/')[3] ?? r));
      expect(
        routes.filter((r) => r.includes('/api/v1/')).every((r) => /\/(auth|users)\//.test(r)),
      ).toBe(true);
      expect(groups.has('auth')).toBe(true);
      expect(groups.has('users')).toBe(true);
      expect(routes).toContain('GET /health/live');
    } finally {
      await app.close();
    }
  });
});
