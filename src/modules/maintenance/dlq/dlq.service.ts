import type { Channel, ConfirmChannel, GetMessage } from 'amqplib';
import { QueueName, TASKS_EXCHANGE } from '../../../core/messaging/topology';
import { DlqEntry, DlqEntryDetail, describe, detail, entryId, replayOptions } from './dlq-message';

/** The part of an amqplib connection the DLQ tool needs (the app's or the CLI's own). */
export interface DlqConnection {
  createChannel(): Promise<Channel>;
  createConfirmChannel(): Promise<ConfirmChannel>;
}

export interface DlqSelection {
  ids?: string[];
  all?: boolean;
}

export interface DlqList {
  depth: number;
  messages: DlqEntry[];
}

export interface ReplayReport {
  replayed: { id: string; routingKey: string }[];
  /** Selected but not replayable (no known routing key) or refused by the broker: left in q.dlq. */
  skipped: { id: string; reason: string }[];
  notFound: string[];
}

export interface PurgeReport {
  purged: number;
  notFound: string[];
}

/** Never hold more than this many messages at once (list, show, replay and purge by id). */
export const MAX_SCAN = 10_000;

/**
 * Looks into q.dlq without losing anything: messages are taken with basic.get and no ack on a
 * channel of our own, read, and handed back (nack with requeue, then the channel closes) — the
 * broker puts requeued messages back in their original positions. Only messages a replay has
 * republished (publisher-confirmed) or a purge selected are acked. While a listing holds them,
 * those messages are invisible to a second listing; each operation is short.
 */
export class DlqService {
  constructor(
    private readonly connection: () => DlqConnection | Promise<DlqConnection>,
    private readonly queue: string = QueueName.Dlq,
  ) {}

  async depth(): Promise<number> {
    return this.withChannel(false, async (ch) => (await ch.checkQueue(this.queue)).messageCount);
  }

  async list(limit = 100): Promise<DlqList> {
    return this.withChannel(false, async (ch) => {
      const depth = (await ch.checkQueue(this.queue)).messageCount;
      const held = await this.take(ch, Math.min(limit, depth, MAX_SCAN));
      return { depth, messages: held.map(describe) };
    });
  }

  async show(id: string): Promise<DlqEntryDetail | undefined> {
    return this.withChannel(false, async (ch) => {
      const held = await this.take(ch, MAX_SCAN);
      const found = held.find((m) => entryId(m) === id);
      return found ? detail(found) : undefined;
    });
  }

  /**
   * Republishes the selected messages to `tasks` under their original routing key (x-attempt
   * back to 1, same message id, priority and body), and acks each in q.dlq only once the broker
   * confirmed the copy. Only the messages present when the replay started are considered, so a
   * replayed message that fails again (and returns to q.dlq meanwhile) is not replayed twice.
   */
  async replay(sel: DlqSelection): Promise<ReplayReport> {
    return this.withChannel(true, async (ch) => {
      const wanted = new Set(sel.ids ?? []);
      const depth = (await ch.checkQueue(this.queue)).messageCount;
      const report: ReplayReport = { replayed: [], skipped: [], notFound: [] };
      const seen = new Set<string>();
      for (const msg of await this.take(ch, Math.min(depth, MAX_SCAN))) {
        const entry = describe(msg);
        if (!sel.all && !wanted.has(entry.id)) continue;
        seen.add(entry.id);
        if (!entry.routingKey) {
          report.skipped.push({ id: entry.id, reason: 'no known original routing key' });
          continue;
        }
        try {
          await publishConfirmed(ch, entry.routingKey, msg, replayOptions(msg));
          ch.ack(msg);
          report.replayed.push({ id: entry.id, routingKey: entry.routingKey });
        } catch (err) {
          report.skipped.push({ id: entry.id, reason: `not confirmed: ${String(err)}` });
        }
      }
      report.notFound = [...wanted].filter((id) => !seen.has(id));
      return report;
    });
  }

  /** Deletes everything (`all`) or the selected messages. */
  async purge(sel: DlqSelection): Promise<PurgeReport> {
    return this.withChannel(false, async (ch) => {
      if (sel.all) return { purged: (await ch.purgeQueue(this.queue)).messageCount, notFound: [] };
      const wanted = new Set(sel.ids ?? []);
      const depth = (await ch.checkQueue(this.queue)).messageCount;
      const seen = new Set<string>();
      let purged = 0;
      for (const msg of await this.take(ch, Math.min(depth, MAX_SCAN))) {
        const id = entryId(msg);
        if (!wanted.has(id)) continue;
        ch.ack(msg);
        seen.add(id);
        purged++;
      }
      return { purged, notFound: [...wanted].filter((id) => !seen.has(id)) };
    });
  }

  /** Gets up to `max` messages without acking them (they stay ours until acked or nacked). */
  private async take(ch: Channel, max: number): Promise<GetMessage[]> {
    const held: GetMessage[] = [];
    while (held.length < max) {
      const msg = await ch.get(this.queue, { noAck: false });
      if (!msg) break;
      held.push(msg);
    }
    return held;
  }

  private async withChannel<T, C extends Channel>(
    confirm: boolean,
    fn: (ch: C) => Promise<T>,
  ): Promise<T> {
    const conn = await this.connection();
    const ch = (confirm ? await conn.createConfirmChannel() : await conn.createChannel()) as C;
    let failure: unknown;
    ch.on('error', (err: unknown) => (failure = err));
    try {
      return await fn(ch);
    } catch (err) {
      throw failure ?? err;
    } finally {
      // Whatever is still unacked goes back where it was.
      try {
        ch.nackAll(true);
      } catch {
        /* channel already closed: the broker requeued them */
      }
      await ch.close().catch(() => undefined);
    }
  }
}

function publishConfirmed(
  ch: Channel,
  routingKey: string,
  msg: GetMessage,
  options: ReturnType<typeof replayOptions>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    (ch as ConfirmChannel).publish(TASKS_EXCHANGE, routingKey, msg.content, options, (err) =>
      err ? reject(err instanceof Error ? err : new Error('nacked by the broker')) : resolve(),
    );
  });
}
