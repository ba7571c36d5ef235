import { RunningApp } from '../../src/app/bootstrap';
import { MetricsServer } from '../../src/core/observability/metrics.server';
import { RedisSubscriber } from '../../src/core/redis/redis-subscriber';
import { bootRole } from '../support/app';
import { Isolation, isolate } from '../support/isolation';

describe('each role boots and reports ready', () => {
  let iso: Isolation;
  beforeAll(async () => {
    iso = await isolate('roles');
  });
  afterAll(() => iso.cleanup());

  it('all: serves HTTP, migrates, and is ready on both ports', async () => {
    const app = await bootRole(iso, { APP_ROLE: 'all' });
    try {
      const ready = await fetch(`${app.url}/health/ready`);
      expect(ready.status).toBe(200);
      // Beat's schedule is a check of its own; the consumer counts are the broker's.
      expect(await ready.json()).toEqual({
        status: 'ok',
        role: 'all',
        checks: { postgres: 'up', redis: 'up', rabbitmq: 'up', schedule: 'up' },
        consumers: { 'q.fast': 1, 'q.external': 1, 'q.bulk': 1, 'q.sched': 1, 'q.expired': 1 },
      });
      const port = app.app.get(MetricsServer).port;
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toContain('process_resident_memory_bytes');
      expect(metrics).toContain('http_request_duration_seconds_bucket');
    } finally {
      await app.close();
    }
  });

  it.each(['api', 'fast', 'external', 'bulk', 'beat'])('%s is ready', async (role) => {
    let app: RunningApp | undefined;
    try {
      app = await bootRole(iso, { APP_ROLE: role });
      const port = app.app.get(MetricsServer).port;
      const res = await fetch(`http://127.0.0.1:${port}/health/ready`);
      const body = (await res.json()) as {
        status: string;
        role: string;
        checks: Record<string, string>;
      };
      expect(res.status).toBe(200);
      expect(body.role).toBe(role);
      expect(body.checks.redis).toBe('up');
      expect(body.checks.rabbitmq).toBe('up');
      expect(body.checks.postgres).toBe(role === 'beat' ? undefined : 'up');
      if (role === 'api') {
        expect((await fetch(`${app.url}/health/live`)).status).toBe(200);
      } else {
        expect(app.url).toBeUndefined();
        // Only processes that answer clients keep answers in memory: no pub/sub connection here.
        expect(app.app.get(RedisSubscriber)['conn']).toBeUndefined();
      }
    } finally {
      await app?.close();
    }
  });
});
