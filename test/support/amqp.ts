import amqp, { Channel, ChannelModel, GetMessage } from 'amqplib';

/** A plain amqplib connection to the test's vhost, for looking into queues from outside the app. */
export class QueueProbe {
  private constructor(
    private readonly conn: ChannelModel,
    readonly channel: Channel,
  ) {}

  static async connect(url: string): Promise<QueueProbe> {
    const conn = await amqp.connect(url);
    conn.on('error', () => undefined);
    const channel = await conn.createChannel();
    channel.on('error', () => undefined);
    return new QueueProbe(conn, channel);
  }

  /** This connection's local TCP port (to tell it apart in `rabbitmqctl list_connections`). */
  get localPort(): number | undefined {
    return (this.conn as unknown as { connection: { stream: { localPort?: number } } }).connection
      .stream.localPort;
  }

  async depth(queue: string): Promise<number> {
    return (await this.channel.checkQueue(queue)).messageCount;
  }

  /** Takes every message currently in the queue (acked: they are removed). */
  async drain(queue: string): Promise<GetMessage[]> {
    const out: GetMessage[] = [];
    for (;;) {
      const msg = await this.channel.get(queue, { noAck: true });
      if (!msg) return out;
      out.push(msg);
    }
  }

  async close(): Promise<void> {
    await this.channel.close().catch(() => undefined);
    await this.conn.close().catch(() => undefined);
  }
}

export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
