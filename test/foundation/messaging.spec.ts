import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { RunningApp } from '../../src/app/bootstrap';
import { TaskPublisher } from '../../src/core/messaging/task-publisher';
import {
  ALL_ROUTING_KEYS,
  QueueName,
  RoutingKey,
  queueFor,
} from '../../src/core/messaging/topology';
import { Metrics } from '../../src/core/observability/metrics';
import { RedisService } from '../../src/core/redis/redis.service';
import { QueueProbe, waitFor } from '../support/amqp';
import { bootRole } from '../support/app';
import { Isolation, isolate } from '../support/isolation';
import {
  PROBE_MESSAGES,
  ProbeHandlers,
  ProbePayload,
  probeRecords,
  publishProbe,
} from '../support/probe.handlers';

const ROLE_OF: Record<string, string> = {
  [QueueName.Fast]: 'fast',
  [QueueName.External]: 'external',
  [QueueName.Bulk]: 'bulk',
  [QueueName.Sched]: 'bulk',
};

describe('RabbitMQ topology, routing and failure handling', () => {
  let iso: Isolation;
  let probe: QueueProbe;
  const apps: RunningApp[] = [];
  let api: RunningApp;

  beforeAll(async () => {
    iso = await isolate('messaging');
    const boot = (role: string) =>
      bootRole(
        iso,
        { APP_ROLE: role },
        { providers: [ProbeHandlers], withoutFeatures: true, messages: PROBE_MESSAGES },
      );
    api = await boot('api');
    for (const role of ['fast', 'external', 'bulk']) apps.push(await boot(role));
    probe = await QueueProbe.connect(iso.rabbitUrl);
  });

  afterAll(async () => {
    await probe?.close();
    for (const app of [api, ...apps]) await app?.close();
    await iso.cleanup();
  });

  /** Replaces the role's worker (apps: fast, external, bulk) by one allowing 2 attempts. */
  async function withShortRetries(role: 'fast' | 'bulk'): Promise<void> {
    const shortRetries = await bootRole(
      iso,
      { APP_ROLE: role, TASK_MAX_ATTEMPTS: '2' },
      { providers: [ProbeHandlers], withoutFeatures: true, messages: PROBE_MESSAGES },
    );
    const at = role === 'fast' ? 0 : 2;
    await apps[at].close();
    apps.splice(at, 1, shortRetries);
  }

  const redis = () => api.app.get(RedisService);
  const publish = (key: RoutingKey, payload: ProbePayload) =>
    publishProbe(api.app.get(TaskPublisher), key, payload);

  it('declares the seed topology: priorities, TTLs, max-length and dead-lettering', async () => {
    // Re-declaring with the seed's arguments succeeds only if the queues were created with exactly them.
    const ch = probe.channel;
    await expect(
      ch.assertQueue('q.fast', {
        durable: true,
        arguments: {
          'x-queue-type': 'classic',
          'x-max-priority': 10,
          'x-message-ttl': 60000,
          'x-max-length': 100000,
          'x-overflow': 'reject-publish-dlx',
          'x-dead-letter-exchange': 'tasks.dlx',
        },
      }),
    ).resolves.toMatchObject({ queue: 'q.fast' });
    const conn = (probe as unknown as { conn: { createChannel(): Promise<typeof ch> } }).conn;
    const other = await conn.createChannel();
    other.on('error', () => undefined);
    // A different priority is refused (PRECONDITION_FAILED): the live queue really has max-priority 1.
    await expect(
      other.assertQueue('q.bulk', { durable: true, arguments: { 'x-max-priority': 7 } }),
    ).rejects.toThrow(/PRECONDITION_FAILED/);
    for (const q of ['q.external', 'q.bulk', 'q.sched', 'q.dlq']) {
      expect((await ch.checkQueue(q)).queue).toBe(q);
    }
  });

  it('every routing key lands in its queue and is handled by the role that owns it', async () => {
    for (const key of ALL_ROUTING_KEYS) await publish(key, { tag: `route-${key}` });
    const done = await waitFor('all routing keys handled', async () => {
      const recs = await probeRecords(redis(), 'done');
      return (
        recs.filter((r) => r.tag.startsWith('route-')).length >= ALL_ROUTING_KEYS.length && recs
      );
    });
    for (const key of ALL_ROUTING_KEYS) {
      const rec = done.filter((r) => r.tag === `route-${key}`);
      expect(rec).toHaveLength(1);
      expect(rec[0].role).toBe(ROLE_OF[queueFor(key)!]);
    }
    // Handled messages are counted per routing key and outcome in the handling role's metrics.
    const fast = apps[0].app.get(Metrics);
    const text = await fast.registry.metrics();
    expect(text).toMatch(/task_messages_total\{routing_key="waste.high.download",outcome="ok"\} 1/);
  });

  it('a handler that fails for good sends its message to q.dlq with the reason, once', async () => {
    await publish(RoutingKey.Vision, { tag: 'broken', mode: 'permanent' });
    const dead = await waitFor('dead letter', async () => {
      const msgs = await probe.drain('q.dlq');
      return msgs.length ? msgs : undefined;
    });
    expect(dead).toHaveLength(1);
    const h = dead[0].properties.headers as Record<string, unknown>;
    expect(h['x-error-code']).toBe('PROBE_BROKEN');
    expect(String(h['x-error-message'])).toContain('fails for good');
    expect(h['x-original-routing-key']).toBe('external.ai.vision');
    expect(h['x-failed-role']).toBe('external');
    expect(JSON.parse(dead[0].content.toString())).toEqual({ tag: 'broken', mode: 'permanent' });
    const attempts = (await probeRecords(redis(), 'started')).filter((r) => r.tag === 'broken');
    expect(attempts).toHaveLength(1); // no requeue loop
  });

  it('a transient failure is retried after a backoff delay and then succeeds', async () => {
    await publish(RoutingKey.WasteDownload, { tag: 'flaky', mode: 'transient-once' });
    const done = await waitFor('retried message handled', async () =>
      (await probeRecords(redis(), 'done')).find((r) => r.tag === 'flaky'),
    );
    const started = (await probeRecords(redis(), 'started')).filter((r) => r.tag === 'flaky');
    expect(started.map((r) => r.attempt)).toEqual([1, 2]);
    expect(done.attempt).toBe(2);
    expect(started[1].at - started[0].at).toBeGreaterThanOrEqual(900); // the 1 s delay tier
  });

  it('a delayed retry goes to exactly one delay queue (its tier), keeping its routing key', async () => {
    const ch = probe.channel;
    ch.publish('tasks.retry', 'waste.high.save', Buffer.from('{"tag":"tier-probe"}'), {
      headers: { 'retry-tier': '32s', 'x-attempt': 2 },
    });
    await waitFor('routed to q.retry.32s', async () => (await probe.depth('q.retry.32s')) === 1);
    for (const tier of [1, 2, 4, 8, 16, 60]) expect(await probe.depth(`q.retry.${tier}s`)).toBe(0);
    const [msg] = await probe.drain('q.retry.32s');
    expect(msg.fields.routingKey).toBe('waste.high.save');
  });

  it('exhausted retries end in q.dlq with the last error', async () => {
    // Stop the default bulk worker so the 2-attempt one gets the message.
    await withShortRetries('bulk');
    await publish(RoutingKey.AnalyticsSave, { tag: 'hopeless', mode: 'transient-always' });
    const dead = await waitFor(
      'dead letter after retries',
      async () => {
        const msgs = await probe.drain('q.dlq');
        return msgs.length ? msgs : undefined;
      },
      20_000,
    );
    const h = dead[0].properties.headers as Record<string, unknown>;
    expect(h['x-error-code']).toBe('PROBE_FLAKY');
    expect(h['x-attempt']).toBe(2);
    const attempts = (await probeRecords(redis(), 'started')).filter((r) => r.tag === 'hopeless');
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
  });

  it("an outage of our own dependency outlasts the attempts for a job's message: it keeps retrying instead of being dead-lettered", async () => {
    // Like the bulk worker of the test above, a fast worker allowing 2 attempts; a database that
    // refuses connections is not the message's fault, and its job could not even be failed.
    await withShortRetries('fast');
    await publish(RoutingKey.WasteDownload, { tag: 'outage', mode: 'outage-always' });
    await waitFor(
      'a third attempt',
      async () =>
        (await probeRecords(redis(), 'started')).some((r) => r.tag === 'outage' && r.attempt >= 3),
      30_000,
    );
    const dead = await probe.drain('q.dlq');
    expect(dead.filter((m) => m.content.toString().includes('"outage"'))).toEqual([]);
  });

  it('the same outage dead-letters a non-job message (analytics) after its attempts', async () => {
    await publish(RoutingKey.AnalyticsSave, { tag: 'outage-bulk', mode: 'outage-always' });
    const dead = await waitFor(
      'dead letter after 2 attempts',
      async () =>
        (await probe.drain('q.dlq')).find((m) => m.content.toString().includes('"outage-bulk"')),
      30_000,
    );
    expect((dead.properties.headers as Record<string, unknown>)['x-attempt']).toBe(2);
    const attempts = (await probeRecords(redis(), 'started')).filter(
      (r) => r.tag === 'outage-bulk',
    );
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
  });

  it('a message no handler knows is dead-lettered, not lost or looped', async () => {
    const amqp = probe.channel;
    amqp.publish('tasks', 'waste.high.unknown', Buffer.from('{"tag":"nobody"}'), {
      persistent: true,
    });
    const dead = await waitFor('unhandled message dead-lettered', async () => {
      const msgs = await probe.drain('q.dlq');
      return msgs.length ? msgs : undefined;
    });
    expect((dead[0].properties.headers as Record<string, unknown>)['x-error-code']).toBe(
      'NO_HANDLER',
    );
  });

  it('a worker role without a handler for one of its routing keys refuses to start, and closes what it opened', async () => {
    // Nest's close() alone rethrows the failed start before any shutdown hook: the role's Redis
    // connection (and the rest) stayed open (src/app/bootstrap.ts → closeAfterFailedStart).
    const closed: string[] = [];
    const redisQuit = jest.spyOn(RedisService.prototype, 'onApplicationShutdown');
    @Injectable()
    class ShutdownWitness implements OnApplicationShutdown {
      onApplicationShutdown(): void {
        closed.push('witness');
      }
    }
    try {
      await expect(
        bootRole(
          iso,
          { APP_ROLE: 'external' },
          { withoutFeatures: true, providers: [ShutdownWitness] },
        ),
      ).rejects.toThrow(
        /role external has no handler for external\.ai\.vision, external\.llm\.feedback, external\.map\.nearby/,
      );
      expect(closed).toEqual(['witness']);
      expect(redisQuit).toHaveBeenCalledTimes(1);
    } finally {
      redisQuit.mockRestore();
    }
  });

  it('a message that is not JSON is dead-lettered', async () => {
    probe.channel.publish('tasks', 'waste.high.save', Buffer.from('not json{'), {
      persistent: true,
    });
    const dead = await waitFor('garbage dead-lettered', async () => {
      const msgs = await probe.drain('q.dlq');
      return msgs.length ? msgs : undefined;
    });
    expect(dead[0].content.toString()).toBe('not json{');
  });
});
