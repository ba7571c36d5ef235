import type { Channel, ConfirmChannel, GetMessage } from 'amqplib';
import { QueueName, TASKS_EXCHANGE } from '../../../core/messaging/topology';
import { DlqEntry, DlqEntryDetail, entryId, replayOptions, toDetail, toEntry } from './dlq-message';

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
  /** Nothing was changed: `replayed` and `skipped` say what a real replay would do. */
  dryRun: boolean;
  replayed: { id: string; routingKey: string }[];
  /** Selected but not replayable (no known routing key) or refused by the broker: left in q.dlq. */
  skipped: { id: string; reason: string }[];
  notFound: string[];
}

export interface PurgeReport {
  /** Nothing was deleted: `purged` and `ids` say what a real purge would delete. */
  dryRun: boolean;
  purged: number;
  /** The (would-be) deleted messages' ids, at most MAX_SCAN of them. */
  ids: string[];
  notFound: string[];
}

/** Never hold more than this many messages at once (list, show, replay and purge by id). */
export const MAX_SCAN = 10_000;

/** One operation's hold on q.dlq: what it took, what it acked. */
interface Hold<C extends Channel> {
  ch: C;
  /** q.dlq depth when the operation started. */
  depth: number;
  /** Gets up to `max` more messages without acking them. */
  take(max: number): Promise<GetMessage[]>;
  ack(msg: GetMessage): void;
}

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
    /** How long an operation waits for the messages it gave back to be visible again. */
    private readonly settleMs = 3000,
  ) {}

  async depth(): Promise<number> {
    return this.hold(false, async (h) => h.depth);
  }

  async list(limit = 100): Promise<DlqList> {
    return this.hold(false, async (h) => ({
      depth: h.depth,
      messages: (await h.take(Math.min(limit, h.depth, MAX_SCAN))).map(toEntry),
    }));
  }

  async show(id: string): Promise<DlqEntryDetail | undefined> {
    return this.hold(false, async (h) => {
      const found = (await h.take(MAX_SCAN)).find((m) => entryId(m) === id);
      return found ? toDetail(found) : undefined;
    });
  }

  /**
   * Republishes the selected messages to `tasks` under their original routing key (x-attempt
   * back to 1, same message id, priority and body), and acks each in q.dlq only once the broker
   * confirmed the copy. Only the messages present when the replay started are considered, so a
   * replayed message that fails again (and returns to q.dlq meanwhile) is not replayed twice.
   */
  async replay(sel: DlqSelection, opts: { dryRun?: boolean } = {}): Promise<ReplayReport> {
    const dryRun = opts.dryRun === true;
    return this.hold(!dryRun, async (h) => {
      const wanted = new Set(sel.ids ?? []);
      const report: ReplayReport = { dryRun, replayed: [], skipped: [], notFound: [] };
      const seen = new Set<string>();
      const sent: { msg: GetMessage; id: string; routingKey: string; confirmed: Promise<void> }[] =
        [];
      for (const msg of await h.take(Math.min(h.depth, MAX_SCAN))) {
        const entry = toEntry(msg);
        if (!sel.all && !wanted.has(entry.id)) continue;
        seen.add(entry.id);
        if (!entry.routingKey) {
          report.skipped.push({ id: entry.id, reason: 'no known original routing key' });
          continue;
        }
        if (dryRun) {
          report.replayed.push({ id: entry.id, routingKey: entry.routingKey });
          continue;
        }
        const confirmed = publishConfirmed(h.ch, entry.routingKey, msg, replayOptions(msg));
        confirmed.catch(() => undefined); // awaited below
        sent.push({ msg, id: entry.id, routingKey: entry.routingKey, confirmed });
      }
      // Confirms arrive in batches (the broker syncs persistent messages to disk together).
      const outcomes = await Promise.allSettled(sent.map((x) => x.confirmed));
      outcomes.forEach((outcome, i) => {
        const { msg, id, routingKey } = sent[i];
        if (outcome.status === 'fulfilled') {
          h.ack(msg);
          report.replayed.push({ id, routingKey });
        } else {
          report.skipped.push({ id, reason: `not confirmed: ${String(outcome.reason)}` });
        }
      });
      report.notFound = [...wanted].filter((id) => !seen.has(id));
      return report;
    });
  }

  /** Deletes everything (`all`) or the selected messages; a dry run only reports them. */
  async purge(sel: DlqSelection, opts: { dryRun?: boolean } = {}): Promise<PurgeReport> {
    const dryRun = opts.dryRun === true;
    return this.hold(false, async (h) => {
      const held = await h.take(Math.min(h.depth, MAX_SCAN));
      if (sel.all) {
        const ids = held.map(entryId);
        if (dryRun) return { dryRun, purged: h.depth, ids, notFound: [] };
        for (const msg of held) h.ack(msg);
        // Beyond MAX_SCAN: the rest goes unread.
        const rest = (await h.ch.purgeQueue(this.queue)).messageCount;
        return { dryRun, purged: held.length + rest, ids, notFound: [] };
      }
      const wanted = new Set(sel.ids ?? []);
      const seen = new Set<string>();
      const ids: string[] = [];
      for (const msg of held) {
        const id = entryId(msg);
        if (!wanted.has(id)) continue;
        if (!dryRun) h.ack(msg);
        seen.add(id);
        ids.push(id);
      }
      return {
        dryRun,
        purged: ids.length,
        ids,
        notFound: [...wanted].filter((id) => !seen.has(id)),
      };
    });
  }

  /**
   * Runs `fn` on a channel of its own; afterwards every message it took and did not ack goes
   * back (nack with requeue, channel closed), and the call returns once they are visible in
   * q.dlq again, so the next operation (a replay right after a listing) sees them all.
   */
  private async hold<T, C extends Channel = Channel>(
    confirm: boolean,
    fn: (h: Hold<C>) => Promise<T>,
  ): Promise<T> {
    const conn = await this.connection();
    const ch = (confirm ? await conn.createConfirmChannel() : await conn.createChannel()) as C;
    let failure: unknown;
    ch.on('error', (err: unknown) => (failure = err));
    let taken = 0;
    let acked = 0;
    let depth = 0;
    try {
      depth = (await ch.checkQueue(this.queue)).messageCount;
      const queue = this.queue;
      return await fn({
        ch,
        depth,
        async take(max) {
          const held: GetMessage[] = [];
          while (held.length < max) {
            const msg = await ch.get(queue, { noAck: false });
            if (!msg) break;
            held.push(msg);
          }
          taken += held.length;
          return held;
        },
        ack(msg) {
          ch.ack(msg);
          acked++;
        },
      });
    } catch (err) {
      throw failure ?? err;
    } finally {
      try {
        ch.nackAll(true);
      } catch {
        /* channel already closed: the broker requeued them itself */
      }
      await ch.close().catch(() => undefined);
      if (taken > acked) await this.settle(conn, depth - acked);
    }
  }

  /** Waits (bounded) until q.dlq holds at least `expected` messages again. */
  private async settle(conn: DlqConnection, expected: number): Promise<void> {
    const ch = await conn.createChannel().catch(() => undefined);
    if (!ch) return;
    ch.on('error', () => undefined);
    try {
      const deadline = Date.now() + this.settleMs;
      while (Date.now() < deadline) {
        if ((await ch.checkQueue(this.queue)).messageCount >= expected) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    } catch {
      /* best effort: the messages are back in any case */
    } finally {
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
