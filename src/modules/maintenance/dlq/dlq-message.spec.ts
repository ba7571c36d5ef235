import type { GetMessage } from 'amqplib';
import { entryId, originalRoutingKey, replayOptions, toEntry } from './dlq-message';

function message(routingKey: string, headers: Record<string, unknown>, messageId?: string) {
  return {
    content: Buffer.from('{"jobId":"j1"}'),
    fields: {
      deliveryTag: 1,
      redelivered: false,
      exchange: 'tasks.dlx',
      routingKey,
      messageCount: 0,
    },
    properties: { headers, messageId, priority: 7, contentType: 'application/json' },
  } as unknown as GetMessage;
}

describe('dead-letter message shapes', () => {
  it('takes the routing key from our header, else the oldest x-death, else the message', () => {
    expect(
      originalRoutingKey(message('x', { 'x-original-routing-key': 'external.llm.feedback' })),
    ).toBe('external.llm.feedback');
    const deaths = [
      { queue: 'q.fast', reason: 'expired', 'routing-keys': ['waste.high.save'] },
      { queue: 'q.retry.1s', reason: 'expired', 'routing-keys': ['waste.high.download'] },
    ];
    expect(originalRoutingKey(message('other', { 'x-death': deaths }))).toBe('waste.high.download');
    expect(originalRoutingKey(message('report.low.daily', {}))).toBe('report.low.daily');
    expect(originalRoutingKey(message('not.a.key', { 'x-death': [] }))).toBeNull();
  });

  it('describes a broker dead letter with its reason, queue and time', () => {
    const e = toEntry(
      message('waste.high.download', {
        'x-death': [
          { queue: 'q.fast', reason: 'maxlen', time: { '!': 'timestamp', value: 1764160000 } },
        ],
      }),
    );
    expect(e).toMatchObject({
      source: 'broker',
      reason: 'maxlen',
      where: 'q.fast',
      failedAt: new Date(1764160000 * 1000).toISOString(),
      payload: { jobId: 'j1' },
    });
  });

  it('names a message without a message id by its body', () => {
    const a = entryId(message('k', {}));
    expect(a).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(entryId(message('k', { other: 1 }))).toBe(a);
    expect(entryId(message('k', {}, 'mid'))).toBe('mid');
  });

  it('a replay starts over: failure headers dropped, attempt 1, replay counted', () => {
    const opts = replayOptions(
      message(
        'k',
        {
          'x-request-id': 'r1',
          'x-attempt': 5,
          'x-error-code': 'X',
          'x-death': [],
          'x-first-death-queue': 'q.fast',
          'retry-tier': '4s',
          'x-replay-count': 2,
        },
        'mid',
      ),
    );
    expect(opts).toMatchObject({ messageId: 'mid', priority: 7, persistent: true });
    expect(opts.headers).toEqual({
      'x-request-id': 'r1',
      'x-attempt': 1,
      'x-replay-count': 3,
      'x-replayed-at': expect.any(String),
    });
  });
});
