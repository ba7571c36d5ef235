import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { RunningApp } from '../../src/app/bootstrap';
import { Message } from '../../src/core/messaging/messages';
import { TaskContext, TaskHandler } from '../../src/core/messaging/task-handler.decorator';
import { TaskPublisher } from '../../src/core/messaging/task-publisher';
import { QueueName, RoutingKey } from '../../src/core/messaging/topology';
import { bootRole } from '../support/app';
import { QueueProbe, waitFor } from '../support/amqp';
import { Isolation, isolate } from '../support/isolation';

/** The fast role's two routing keys, typed from the message map; records what arrives. */
@Injectable()
class RecordingHandlers {
  readonly received: { key: string; payload: unknown }[] = [];

  @TaskHandler(RoutingKey.WasteDownload)
  async download(payload: Message<'waste.high.download'>, ctx: TaskContext): Promise<void> {
    this.received.push({ key: ctx.routingKey, payload });
  }

  @TaskHandler(RoutingKey.WasteSave)
  async save(payload: Message<'waste.high.save'>, ctx: TaskContext): Promise<void> {
    this.received.push({ key: ctx.routingKey, payload });
  }
}

describe('messages are typed by routing key and validated at dispatch', () => {
  let iso: Isolation;
  let app: RunningApp;
  let probe: QueueProbe;
  let recorder: RecordingHandlers;

  beforeAll(async () => {
    iso = await isolate('messages');
    app = await bootRole(
      iso,
      { APP_ROLE: 'fast' },
      { providers: [RecordingHandlers], withoutFeatures: true },
    );
    recorder = app.app.get(RecordingHandlers);
    probe = await QueueProbe.connect(iso.rabbitUrl);
  });
  afterAll(async () => {
    await probe?.close();
    await app?.close();
    await iso?.cleanup();
  });

  it('a valid payload reaches its handler, parsed (unknown keys dropped)', async () => {
    const jobId = randomUUID();
    const publisher = app.app.get(TaskPublisher);
    await publisher.publish(RoutingKey.WasteDownload, { jobId });
    await publisher.publish(RoutingKey.WasteSave, {
      jobId,
      part: 'coaching',
      coaching: { message: '헹궈서 버리세요', source: 'rules' },
      coachingMs: 3,
    });
    // A publisher that is not this codebase may add fields the map does not know.
    probe.channel.publish(
      'tasks',
      RoutingKey.WasteDownload,
      Buffer.from(JSON.stringify({ jobId, extra: 'x' })),
      { persistent: true, contentType: 'application/json' },
    );
    await waitFor('three deliveries', () => recorder.received.length >= 3);
    expect(recorder.received).toEqual(
      expect.arrayContaining([
        { key: 'waste.high.save', payload: expect.objectContaining({ part: 'coaching' }) },
      ]),
    );
    const downloads = recorder.received.filter((r) => r.key === 'waste.high.download');
    expect(downloads.map((d) => d.payload)).toEqual([{ jobId }, { jobId }]);
  });

  it('a malformed payload goes to q.dlq as INVALID_MESSAGE and never reaches the handler', async () => {
    recorder.received.length = 0;
    const bad = [
      { key: RoutingKey.WasteDownload, body: { jobId: 42 }, path: 'jobId' },
      { key: RoutingKey.WasteDownload, body: { jobId: 'not-a-uuid' }, path: 'jobId' },
      {
        key: RoutingKey.WasteSave,
        body: { jobId: randomUUID(), part: 'everything' },
        path: 'part',
      },
      { key: RoutingKey.WasteSave, body: [], path: '(payload)' },
    ];
    for (const { key, body } of bad) {
      probe.channel.publish('tasks', key, Buffer.from(JSON.stringify(body)), {
        persistent: true,
        contentType: 'application/json',
        messageId: randomUUID(),
      });
    }
    // A good one after them: once it is handled, the bad ones were dispatched before it or with it.
    const jobId = randomUUID();
    await app.app.get(TaskPublisher).publish(RoutingKey.WasteDownload, { jobId });
    await waitFor('the good delivery', () => recorder.received.length >= 1);
    await waitFor('four dead letters', async () => (await probe.depth(QueueName.Dlq)) === 4);
    expect(recorder.received).toEqual([{ key: 'waste.high.download', payload: { jobId } }]);

    const dead = await probe.drain(QueueName.Dlq);
    const seen = dead.map((m) => {
      const h = m.properties.headers as Record<string, unknown>;
      return {
        key: m.fields.routingKey,
        code: h['x-error-code'],
        message: String(h['x-error-message']),
        body: JSON.parse(m.content.toString()) as unknown,
      };
    });
    for (const { key, body, path } of bad) {
      const match = seen.find((s) => JSON.stringify(s.body) === JSON.stringify(body));
      expect(match).toMatchObject({ key, code: 'INVALID_MESSAGE' });
      expect(match!.message).toContain(`malformed ${key}: ${path}`);
    }
  });

  it('publish compiles only with the payload the map names; what slips past is still refused', async () => {
    recorder.received.length = 0;
    const publisher = app.app.get(TaskPublisher);
    // Each @ts-expect-error fails `npm run typecheck` if the map stops rejecting the line.
    // @ts-expect-error waste.high.download carries { jobId }, not { userId }
    await publisher.publish(RoutingKey.WasteDownload, { userId: randomUUID() });
    // @ts-expect-error a save needs its part
    await publisher.publish(RoutingKey.WasteSave, { jobId: randomUUID() });
    await waitFor('two dead letters', async () => (await probe.depth(QueueName.Dlq)) === 2);
    const codes = (await probe.drain(QueueName.Dlq)).map(
      (m) => (m.properties.headers as Record<string, unknown>)['x-error-code'],
    );
    expect(codes).toEqual(['INVALID_MESSAGE', 'INVALID_MESSAGE']);
    expect(recorder.received).toEqual([]);
  });
});
