import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RunningApp } from '../../src/app/bootstrap';
import { TaskPublisher } from '../../src/core/messaging/task-publisher';
import { DEAD_LETTER_EXCHANGE, QueueName, RoutingKey } from '../../src/core/messaging/topology';
import { MetricsServer } from '../../src/core/observability/metrics.server';
import { RedisService } from '../../src/core/redis/redis.service';
import { AdminGuard } from '../../src/modules/maintenance/admin.guard';
import { QueueProbe, waitFor } from '../support/amqp';
import { bootRole, testConfig } from '../support/app';
import { Isolation, isolate } from '../support/isolation';
import {
  PROBE_MESSAGES,
  ProbeHandlers,
  probeRecords,
  publishProbe,
} from '../support/probe.handlers';

const TOKEN = 'admin-token-for-tests-0123456789abcdef';
const CLI = join(__dirname, '../../dist/cli/dlq.js');

interface Entry {
  id: string;
  routingKey: string | null;
  source: string;
  reason: string;
  error: string | null;
  where: string | null;
  attempts: number | null;
  payload: { tag?: string };
  headers?: Record<string, unknown>;
}

describe('dead letters: list without losing, replay, purge (admin API and CLI)', () => {
  let iso: Isolation;
  let workers: RunningApp;
  let api: RunningApp;
  let probe: QueueProbe;
  let permanentId: string;

  const admin = async (path: string, init: RequestInit = {}, token = TOKEN) => {
    const res = await fetch(`${api.url}/api/v1/admin/${path}`, {
      ...init,
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const list = async () =>
    (await admin('dlq')).body as unknown as { depth: number; messages: Entry[] };
  const depth = () => probe.depth(QueueName.Dlq);
  const records = (kind: 'started' | 'done', tag: string) =>
    probeRecords(workers.app.get(RedisService), kind).then((r) => r.filter((x) => x.tag === tag));

  beforeAll(async () => {
    iso = await isolate('dlq');
    // Workers with probe handlers that fail on demand; no retries, so a failure dead-letters.
    workers = await bootRole(
      iso,
      { APP_ROLE: 'all', TASK_MAX_ATTEMPTS: '1', LOCATIONS_SAMPLE_DATA: 'false' },
      { providers: [ProbeHandlers], withoutFeatures: true, messages: PROBE_MESSAGES },
    );
    api = await bootRole(iso, { APP_ROLE: 'api', ADMIN_API_TOKEN: TOKEN });
    probe = await QueueProbe.connect(iso.rabbitUrl);
  });

  afterAll(async () => {
    await probe?.close();
    await api?.close();
    await workers?.close();
    await iso?.cleanup();
  });

  it('admin endpoints need the admin token, and do not exist without one', async () => {
    const none = await admin('dlq', {}, '');
    expect(none.status).toBe(401);
    expect(none.body.code).toBe('UNAUTHORIZED');
    expect((await admin('dlq', {}, 'x'.repeat(TOKEN.length))).status).toBe(401);
    expect((await admin('dlq', {}, `${TOKEN}x`)).status).toBe(401);
    const off = new AdminGuard(testConfig(iso));
    const ctx = {
      switchToHttp: () => ({
        getRequest: () => ({ headers: { authorization: `Bearer ${TOKEN}` } }),
      }),
    };
    expect(() => off.canActivate(ctx as never)).toThrow(expect.objectContaining({ status: 404 }));
  });

  it('lists dead letters of both shapes without removing or reordering them', async () => {
    // Dispatcher-shaped: the handler fails for good.
    permanentId = await publishProbe(api.app.get(TaskPublisher), RoutingKey.AnalyticsSave, {
      tag: 'perm',
      mode: 'permanent',
    });
    await waitFor('the first dead letter', async () => (await depth()) === 1);
    // Broker-shaped: a real TTL expiry in a side queue whose dead-letter exchange is tasks.dlx.
    const ch = probe.channel;
    await ch.assertExchange('test.side', 'topic', { durable: false, autoDelete: true });
    await ch.assertQueue('test.expire', {
      durable: false,
      arguments: { 'x-message-ttl': 1, 'x-dead-letter-exchange': DEAD_LETTER_EXCHANGE },
    });
    await ch.bindQueue('test.expire', 'test.side', '#');
    ch.publish(
      'test.side',
      RoutingKey.WasteDownload,
      Buffer.from(JSON.stringify({ tag: 'expired-ok', mode: 'ok' })),
      { messageId: 'm-expired', priority: 8, contentType: 'application/json', persistent: true },
    );
    await waitFor('the expired message in q.dlq', async () => (await depth()) === 2);

    const first = await list();
    expect(first.depth).toBe(2);
    expect(first.messages).toHaveLength(2);
    const perm = first.messages.find((m) => m.id === permanentId)!;
    expect(perm).toMatchObject({
      routingKey: RoutingKey.AnalyticsSave,
      source: 'dispatcher',
      reason: 'PROBE_BROKEN',
      where: 'all',
      attempts: 1,
      payload: { tag: 'perm', mode: 'permanent' },
    });
    expect(perm.error).toContain('fails for good');
    const expired = first.messages.find((m) => m.id === 'm-expired')!;
    expect(expired).toMatchObject({
      routingKey: RoutingKey.WasteDownload,
      source: 'broker',
      reason: 'expired',
      where: 'test.expire',
      payload: { tag: 'expired-ok' },
    });
    expect(await depth()).toBe(2);
    const again = await list();
    expect(again.messages.map((m) => m.id)).toEqual(first.messages.map((m) => m.id));

    const shown = await admin('dlq/m-expired');
    expect(shown.status).toBe(200);
    const xDeath = (shown.body.headers as Record<string, unknown>)['x-death'] as unknown[];
    expect(xDeath[0]).toMatchObject({ queue: 'test.expire', reason: 'expired' });
    expect((await admin('dlq/no-such-id')).status).toBe(404);
    expect(await depth()).toBe(2);
  });

  it('replay delivers a dead-lettered message back to its handler', async () => {
    const res = await admin('dlq/replay', {
      method: 'POST',
      body: JSON.stringify({ ids: ['m-expired'] }),
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      dryRun: false,
      replayed: [{ id: 'm-expired', routingKey: RoutingKey.WasteDownload }],
      skipped: [],
      notFound: [],
    });
    const done = await waitFor('the replayed message to be handled', async () => {
      const r = await records('done', 'expired-ok');
      return r.length ? r : undefined;
    });
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject({ key: RoutingKey.WasteDownload, attempt: 1 });
    expect(await depth()).toBe(1);
    expect((await list()).messages.map((m) => m.id)).toEqual([permanentId]);
  });

  it('a replayed message that fails again is back in q.dlq, marked as replayed', async () => {
    const res = await admin('dlq/replay', {
      method: 'POST',
      body: JSON.stringify({ ids: [permanentId, 'gone'] }),
    });
    expect(res.body.replayed).toEqual([{ id: permanentId, routingKey: RoutingKey.AnalyticsSave }]);
    expect(res.body.notFound).toEqual(['gone']);
    await waitFor(
      'the second failure',
      async () => (await records('started', 'perm')).length === 2,
    );
    await waitFor('the message back in q.dlq', async () => (await depth()) === 1);
    const back = await admin(`dlq/${permanentId}`);
    expect(back.status).toBe(200);
    const headers = back.body.headers as Record<string, unknown>;
    expect(headers['x-replay-count']).toBe(1);
    expect(headers['x-error-code']).toBe('PROBE_BROKEN');
    expect((await records('started', 'perm')).map((r) => r.attempt)).toEqual([1, 1]);
  });

  it('exports the q.dlq depth as rabbitmq_dlq_messages', async () => {
    const port = api.app.get(MetricsServer).port!;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toMatch(/^rabbitmq_dlq_messages 1$/m);
  });

  it('the CLI lists, shows and replays (built dist/cli/dlq.js)', async () => {
    expect(existsSync(CLI)).toBe(true);
    const run = (...args: string[]) =>
      promisify(execFile)(process.execPath, [CLI, ...args], {
        env: { ...process.env, ...iso.env },
        timeout: 20_000,
      });
    const listed = JSON.parse((await run('list', '--json')).stdout) as {
      depth: number;
      messages: Entry[];
    };
    expect(listed.depth).toBe(1);
    expect(listed.messages.map((m) => m.id)).toEqual([permanentId]);
    expect(await depth()).toBe(1);
    const table = (await run('list')).stdout;
    expect(table).toContain(permanentId);
    expect(table).toContain('PROBE_BROKEN');
    const shown = JSON.parse((await run('show', permanentId)).stdout) as Entry;
    expect(shown.headers!['x-original-routing-key']).toBe(RoutingKey.AnalyticsSave);
    await expect(run('show', 'nope')).rejects.toMatchObject({ code: 1 });
    await expect(run('replay')).rejects.toMatchObject({ code: 2 });
    const badUrl = promisify(execFile)(process.execPath, [CLI, 'list'], {
      env: { ...process.env, RABBITMQ_URL: 'http://127.0.0.1:5672' },
    });
    await expect(badUrl).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('RABBITMQ_URL: expected a amqp: or amqps: URL'),
    });
    await expect(run('purge', permanentId, '--all')).rejects.toMatchObject({ code: 2 });
    const dry = JSON.parse((await run('purge', '--all', '--dry-run', '--json')).stdout) as {
      dryRun: boolean;
      ids: string[];
    };
    expect(dry.dryRun).toBe(true);
    expect(dry.ids).toContain(permanentId);
    expect(await depth()).toBeGreaterThanOrEqual(1);
    const replayed = JSON.parse((await run('replay', '--all', '--json')).stdout) as {
      replayed: unknown[];
    };
    expect(replayed.replayed).toHaveLength(1);
    await waitFor('a third failure', async () => (await records('started', 'perm')).length === 3);
    await waitFor('back in q.dlq', async () => (await depth()) === 1);
  });

  it('strict selection: ids and all are exclusive, booleans are booleans; a dry run changes nothing', async () => {
    // Other dead letters may arrive meanwhile (the beat's ticks): count relative to now.
    await waitFor('the dead letter back', async () => (await depth()) >= 1);
    const before = await depth();
    for (const query of [
      'ids=nope&all=false',
      'ids=nope&all=true',
      'all=false',
      'all=1',
      'all=yes',
      'all=true&all=true',
      'all=true&dryRun=yes',
      'ids=',
    ]) {
      const bad = await admin(`dlq?${query}`, { method: 'DELETE' });
      expect([query, bad.status, bad.body.code]).toEqual([query, 400, 'VALIDATION_FAILED']);
    }
    for (const body of [
      { ids: ['nope'], all: 'no' },
      { ids: ['nope'], all: true },
      { all: 'true' },
      { all: 1 },
      { all: true, dryRun: 'true' },
    ]) {
      const bad = await admin('dlq/replay', { method: 'POST', body: JSON.stringify(body) });
      expect([body, bad.status]).toEqual([body, 400]);
    }
    expect(await depth()).toBeGreaterThanOrEqual(before);
    expect((await admin(`dlq/${permanentId}`)).status).toBe(200); // a dry run touched nothing
    const started = (await records('started', 'perm')).length;
    const purge = await admin('dlq?all=true&dryRun=true', { method: 'DELETE' });
    expect(purge.body).toMatchObject({ dryRun: true, notFound: [] });
    expect(purge.body.purged).toBeGreaterThanOrEqual(before);
    expect(purge.body.ids).toContain(permanentId);
    const byId = await admin(`dlq?ids=${permanentId},nope&dryRun=true`, { method: 'DELETE' });
    expect(byId.body).toEqual({ dryRun: true, purged: 1, ids: [permanentId], notFound: ['nope'] });
    const replay = await admin('dlq/replay', {
      method: 'POST',
      body: JSON.stringify({ all: true, dryRun: true }),
    });
    expect(replay.body).toMatchObject({ dryRun: true });
    expect(replay.body.replayed).toContainEqual({
      id: permanentId,
      routingKey: expect.any(String),
    });
    expect(await depth()).toBeGreaterThanOrEqual(before);
    expect((await admin(`dlq/${permanentId}`)).status).toBe(200);
    expect((await records('started', 'perm')).length).toBe(started);
  });

  it('purges selected messages, then everything', async () => {
    const other = await publishProbe(api.app.get(TaskPublisher), RoutingKey.ReportDaily, {
      tag: 'perm2',
      mode: 'permanent',
    });
    await waitFor('two dead letters', async () => (await depth()) === 2);
    const one = await admin(`dlq?ids=${other}`, { method: 'DELETE' });
    expect(one.body).toEqual({ dryRun: false, purged: 1, ids: [other], notFound: [] });
    expect((await list()).messages.map((m) => m.id)).toEqual([permanentId]);
    expect((await admin('dlq', { method: 'DELETE' })).status).toBe(400);
    for (const body of [{}, { ids: [] }, { all: false }, { ids: ['a'], extra: 1 }]) {
      const bad = await admin('dlq/replay', { method: 'POST', body: JSON.stringify(body) });
      expect(bad.status).toBe(400);
      expect(bad.body.code).toBe('VALIDATION_FAILED');
    }
    expect(await depth()).toBe(1);
    const all = await admin('dlq?all=true', { method: 'DELETE' });
    expect(all.body).toEqual({ dryRun: false, purged: 1, ids: [permanentId], notFound: [] });
    expect(await depth()).toBe(0);
  });
});
