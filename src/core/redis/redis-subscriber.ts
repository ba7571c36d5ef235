import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import type Redis from 'ioredis';
import { RedisService } from './redis.service';

export type ChannelHandler = (message: Buffer) => void;

/** How often the connection is checked with a PING, and how long its answer may take. */
const CHECK_EVERY_MS = 5_000;
const CHECK_TIMEOUT_MS = 2_000;

/**
 * The process's one Redis pub/sub connection, opened by the first `listen()` (only the API's
 * roles listen). Besides delivering messages it says whether this process is hearing a channel
 * without a gap, which is what lets a process keep answers in memory that a message can
 * invalidate (docs/architecture.md → In-process answers):
 *
 * - `epoch(channel)` is a number while the channel's subscription is confirmed and the
 *   connection has not dropped since; `undefined` otherwise. Every loss and every recovery
 *   changes the number, so a value read before an asynchronous step and compared after it
 *   tells whether a message could have been missed in between.
 * - `onLoss(listener)` runs when the connection drops: whatever was kept on the strength of
 *   the messages must then be dropped (pub/sub does not replay what was sent meanwhile).
 *
 * A connection cut without a reset (a partition, a NAT that forgets it) would look alive for as
 * long as TCP keep-alive takes to notice (hours): it is checked with a PING every 5 s, and one
 * unanswered for 2 s is closed and made again, which counts as a drop.
 */
@Injectable()
export class RedisSubscriber implements OnApplicationShutdown {
  private readonly logger = new Logger(RedisSubscriber.name);
  private conn?: Redis;
  private readonly handlers = new Map<string, ChannelHandler[]>();
  /** Channels whose SUBSCRIBE Redis has confirmed on the current connection. */
  private readonly confirmed = new Set<string>();
  private readonly lossListeners: (() => void)[] = [];
  private generation = 0;
  /** Connection drops so far: a confirmation that waited across one does not count. */
  private losses = 0;
  private check?: NodeJS.Timeout;

  constructor(private readonly redis: RedisService) {}

  /** Delivers the channel's messages to `handler`; resolves once Redis confirmed the subscription. */
  async listen(channel: string, handler: ChannelHandler): Promise<void> {
    const list = this.handlers.get(channel);
    if (list) list.push(handler);
    else this.handlers.set(channel, [handler]);
    await this.confirm([channel]);
  }

  epoch(channel: string): number | undefined {
    return this.confirmed.has(channel) ? this.generation : undefined;
  }

  onLoss(listener: () => void): void {
    this.lossListeners.push(listener);
  }

  private connection(): Redis {
    if (this.conn) return this.conn;
    const conn = (this.conn = this.redis.createConnection('subscriber'));
    conn.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const list = this.handlers.get(channel.toString());
      if (!list) return;
      for (const handler of list) {
        try {
          handler(message);
        } catch (err) {
          this.logger.warn(`handler of ${channel.toString()} failed: ${(err as Error).message}`);
        }
      }
    });
    conn.on('close', () => this.lost());
    this.check = setInterval(() => void this.ping(conn), CHECK_EVERY_MS).unref();
    // ioredis subscribes again by itself after a reconnect (sent before this event is emitted);
    // our own SUBSCRIBE, answered after those, confirms that the channels are heard again.
    conn.on('ready', () => {
      if (this.confirmed.size === 0 && this.handlers.size > 0) {
        this.confirm([...this.handlers.keys()]).catch((err: Error) =>
          this.logger.warn(`subscriptions not confirmed: ${err.message}`),
        );
      }
    });
    return conn;
  }

  private async confirm(channels: string[]): Promise<void> {
    const conn = this.connection();
    const at = this.losses;
    await conn.subscribe(...channels);
    // A drop while waiting: `lost()` ran, the next 'ready' confirms again.
    if (at !== this.losses || conn.status !== 'ready') return;
    if (this.confirmed.size === 0) this.generation++;
    for (const c of channels) this.confirmed.add(c);
  }

  private async ping(conn: Redis): Promise<void> {
    if (conn.status !== 'ready' || this.confirmed.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), CHECK_TIMEOUT_MS);
    });
    const answer = await Promise.race([conn.ping().catch(() => 'failed'), late]);
    clearTimeout(timer);
    if (answer === 'late' && conn.status === 'ready') {
      this.logger.warn(`no answer to PING in ${CHECK_TIMEOUT_MS} ms: subscriber reconnects`);
      conn.disconnect(true);
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.check);
  }

  private lost(): void {
    this.losses++;
    this.generation++;
    if (this.confirmed.size === 0) return;
    this.confirmed.clear();
    // The connection's error is logged by RedisService; this also runs at shutdown.
    this.logger.debug('subscriber connection closed: in-process answers dropped until it is back');
    for (const listener of this.lossListeners) {
      try {
        listener();
      } catch (err) {
        this.logger.warn(`loss listener failed: ${(err as Error).message}`);
      }
    }
  }
}
