import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { RedisSubscriber } from '../../../core/redis/redis-subscriber';
import { eventJobId, jobEventsChannel } from './job-events';
import { JobsService, SnapshotHead, snapshotHead } from './jobs.service';

/** Snapshots kept per API process: the jobs polled in the last minute. */
const KEPT_JOBS = 10_000;
/** A kept snapshot is read from Redis again after this long, even if no event replaced it. */
const KEPT_MS = 60_000;

/** A snapshot as snapshotHead() reads it: its head is matched once, not on every poll. */
type Kept = SnapshotHead;

interface Pending {
  reads: number;
  /** The snapshot was deleted meanwhile: what the reads bring is not kept. */
  forgotten?: boolean;
  /** The newest version an event brought while a read was in flight. */
  newest?: Kept;
}

/**
 * The status snapshots this API process answers polls with from memory (docs/architecture.md →
 * In-process answers). A phone polls its job twice a second, and every change of a job is
 * published as an event carrying the whole new snapshot (JobEventsEmitter); so a snapshot read
 * from Redis once is kept, and replaced by the events of its job, for as long as this process
 * hears the channel without a gap (RedisSubscriber's epoch). Only a newer version replaces a
 * kept one (concurrent stages publish out of order). An event that arrives while a read is in
 * flight is kept beside it and the newer of the two wins: the read may have been answered
 * before the change and the event is not sent again. If the subscriber connection drops, every
 * kept snapshot goes and polls read Redis until the subscription is confirmed again.
 *
 * What a poll then costs is the guard's (TokenDenyList keeps its answers the same way) and the
 * route's own work: no Redis round trip (docs/benchmarks.md → Status from memory).
 */
@Injectable()
export class StatusSnapshots implements OnApplicationBootstrap {
  private readonly logger = new Logger(StatusSnapshots.name);
  private readonly channel: string;
  private readonly kept = new LRUCache<string, Kept>({ max: KEPT_JOBS, ttl: KEPT_MS });
  private readonly pending = new Map<string, Pending>();

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly subscriber: RedisSubscriber,
    private readonly jobs: JobsService,
  ) {
    this.channel = jobEventsChannel(config);
    subscriber.onLoss(() => this.kept.clear());
    jobs.onForget((jobId) => this.forget(jobId));
  }

  onApplicationBootstrap(): void {
    this.subscriber
      .listen(this.channel, (message) => this.heard(message))
      .catch((err: Error) =>
        this.logger.warn(`job events not heard, every poll reads Redis: ${err.message}`),
      );
  }

  /**
   * The job's snapshot as JobsService.readView takes it: from memory, or the Redis read started
   * now (alongside the guard's, JobsService.prefetchView). Undefined for an id that is not a
   * job id.
   */
  read(jobId: unknown): Promise<Buffer | SnapshotHead | null> | undefined {
    const epoch = this.subscriber.epoch(this.channel);
    if (epoch !== undefined && typeof jobId === 'string') {
      const kept = this.kept.get(jobId);
      if (kept) return Promise.resolve(kept);
    }
    const read = this.jobs.prefetchView(jobId);
    if (!read || epoch === undefined) return read;
    const id = jobId as string;
    const pending = this.pending.get(id) ?? { reads: 0 };
    pending.reads++;
    this.pending.set(id, pending);
    const settle = () => {
      if (--pending.reads === 0) this.pending.delete(id);
    };
    read
      .then(
        (raw) => {
          settle();
          if (this.subscriber.epoch(this.channel) !== epoch || pending.forgotten) return;
          let fromRedis: Kept | undefined;
          try {
            // Copied: ioredis may hand over a slice of a buffer it reuses.
            fromRedis = raw ? snapshotHead(Buffer.from(raw)) : undefined;
          } catch {
            return; // not a snapshot this process can read: readView answers it, nothing is kept
          }
          const newest =
            pending.newest && (!fromRedis || pending.newest.version > fromRedis.version)
              ? pending.newest
              : fromRedis;
          if (newest) this.keep(id, newest);
        },
        settle, // the route sees the error (readView falls back to PostgreSQL)
      )
      .catch((err: Error) => this.logger.warn(`snapshot of ${id} not kept: ${err.message}`));
    return read;
  }

  /** How many jobs' snapshots are kept (tests). */
  get size(): number {
    return this.kept.size;
  }

  private forget(jobId: string): void {
    this.kept.delete(jobId);
    const pending = this.pending.get(jobId);
    if (pending) pending.forgotten = true;
  }

  private keep(jobId: string, next: Kept): void {
    const current = this.kept.peek(jobId);
    if (!current || next.version > current.version) this.kept.set(jobId, next);
  }

  /** A job event, `{ pattern, data: <the snapshot as stored> }`: kept if its job is. */
  private heard(message: Buffer): void {
    const jobId = eventJobId(message);
    if (jobId === undefined) return;
    const pending = this.pending.get(jobId);
    const kept = this.kept.has(jobId);
    if (!pending && !kept) return;
    const at = message.indexOf('"data":') + 7;
    if (at < 7) return;
    // JobEventsEmitter.forgotten: `data` starts with the id (a snapshot, with its owner).
    if (message.toString('latin1', at, at + 9) === '{"jobId":') return this.forget(jobId);
    // `data` is JSON.stringify of { userId, version, job }, as publish() stores the snapshot.
    const next = snapshotHead(Buffer.from(message.subarray(at, message.length - 1)));
    if (pending && (!pending.newest || next.version > pending.newest.version)) {
      pending.newest = next;
    }
    if (kept) this.keep(jobId, next);
  }
}
