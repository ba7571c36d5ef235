import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { ProblemException } from '../../../core/http/problem';
import { RedisSubscriber } from '../../../core/redis/redis-subscriber';
import { RedisService } from '../../../core/redis/redis.service';
import { revokedChannel } from '../../auth';
import { JobView } from './job.types';

export interface JobEvent {
  userId: string;
  version: number;
  job: JobView;
}

/** The event of a deleted snapshot (JobEventsEmitter.forgotten). */
export interface ForgottenJob {
  jobId: string;
  forgotten: true;
}

export type JobListener = (event: JobEvent) => void;

export function jobEventsChannel(config: AppConfig): string {
  // The prefix keeps deployments (and test files) sharing one Redis apart.
  return `${config.REDIS_PREFIX}.waste.job.updated`;
}

/**
 * Emits job changes on Redis pub/sub, so every API replica hears every change, whichever worker
 * made it. Published on the process's main Redis connection in the wire format of
 * @nestjs/microservices' Redis transport (`{ pattern, data }`, which earlier replicas used; the
 * package itself cost the API ~0.6 ms per job per replica and is no longer a dependency), so
 * that the snapshot write and the event of one change leave in one write (auto-pipelining) and
 * in that order: a subscriber never hears of a version the snapshot does not have yet.
 */
@Injectable()
export class JobEventsEmitter {
  private readonly logger = new Logger(JobEventsEmitter.name);
  private readonly channel: string;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly redis: RedisService,
  ) {
    this.channel = jobEventsChannel(config);
  }

  async emit(event: JobEvent): Promise<void> {
    await this.send(event.job.jobId, event);
  }

  /**
   * Says that the job's snapshot was deleted (its account was purged): API processes drop the
   * snapshot they keep (StatusSnapshots). SSE streams do not dispatch it (it has no `job`).
   */
  async forgotten(jobId: string): Promise<void> {
    await this.send(jobId, { jobId, forgotten: true });
  }

  private async send(jobId: string, data: JobEvent | ForgottenJob): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      // Never let a Redis outage stall a pipeline stage: the event is best-effort.
      await Promise.race([
        this.redis.client.publish(this.channel, JSON.stringify({ pattern: this.channel, data })),
        new Promise(
          (_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), 1000)),
        ),
      ]);
    } catch (err) {
      // A lost event is tolerable: status reads the snapshot, SSE resyncs from it on reconnect.
      this.logger.warn(`job event for ${jobId} not emitted: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** One open event stream, as the caps and the revocation channel see it. */
export interface StreamHolder {
  userId: string;
  jobId: string;
  /** The client address (RateLimitService.clientIp), for SSE_MAX_STREAMS_PER_IP. */
  ip: string;
  /** The login family of the access token that opened it (logout closes it). */
  familyId: string;
  close(): void;
}

/**
 * The API side: the process's Redis subscriber connection (RedisSubscriber) receives every job
 * event (and every revoked login) and hands it to the SSE streams that follow that job in this process.
 * Every replica hears every change of every job, so an event nobody here follows is dropped by
 * its job id before it is parsed: @nestjs/microservices' ServerRedis parsed each one and tried
 * its channel name as JSON (a thrown exception per event), 379 ms of the api role's profile
 * while the workers ran 600 jobs.
 */
@Injectable()
export class JobEventsHub implements OnApplicationBootstrap {
  private readonly logger = new Logger(JobEventsHub.name);
  private readonly listeners = new Map<string, Set<JobListener>>();
  /**
   * Open streams of this process, by user, by job and by client address
   * (SSE_MAX_STREAMS_PER_USER/_PER_JOB/_PER_IP). Sets keep insertion order: oldest first.
   */
  private readonly byUser = new Map<string, Set<StreamHolder>>();
  private readonly byJob = new Map<string, Set<StreamHolder>>();
  private readonly byIp = new Map<string, Set<StreamHolder>>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly redis: RedisService,
    private readonly subscriber: RedisSubscriber,
  ) {}

  /**
   * Registers a stream, or refuses it (429 TOO_MANY_STREAMS) when the user or the client
   * address already holds the configured number in this process: each stream is a socket, a
   * file descriptor and a listener (one guest once held 3,000 on one job; guests are free, so
   * only the per-address cap bounds one machine). On a job at its cap, the same user's oldest
   * stream on it is closed instead (a reconnect after a half-open socket must not be refused).
   * Returns the release function. docs/auth.md → Held connections.
   */
  openStream(holder: StreamHolder): () => void {
    const { SSE_MAX_STREAMS_PER_USER, SSE_MAX_STREAMS_PER_JOB, SSE_MAX_STREAMS_PER_IP } =
      this.config;
    const onJob = this.byJob.get(holder.jobId) ?? new Set<StreamHolder>();
    let replaced: StreamHolder | undefined;
    if (onJob.size >= SSE_MAX_STREAMS_PER_JOB) {
      replaced = [...onJob].find((h) => h.userId === holder.userId);
      if (!replaced) this.refuse(`at most ${SSE_MAX_STREAMS_PER_JOB} open event streams per job`);
    }
    // The stream being replaced frees its slots only if it counted there.
    const mine = (this.byUser.get(holder.userId)?.size ?? 0) - (replaced ? 1 : 0);
    const fromIp =
      (this.byIp.get(holder.ip)?.size ?? 0) - (replaced && replaced.ip === holder.ip ? 1 : 0);
    if (mine >= SSE_MAX_STREAMS_PER_USER)
      this.refuse(`at most ${SSE_MAX_STREAMS_PER_USER} open event streams per user`);
    if (SSE_MAX_STREAMS_PER_IP > 0 && fromIp >= SSE_MAX_STREAMS_PER_IP)
      this.refuse(`at most ${SSE_MAX_STREAMS_PER_IP} open event streams per IP address`);
    if (replaced) {
      replaced.close();
      this.release(replaced); // close() releases too; this holds even if it did not
    }
    add(this.byUser, holder.userId, holder);
    add(this.byJob, holder.jobId, holder);
    add(this.byIp, holder.ip, holder);
    return () => this.release(holder);
  }

  private release(holder: StreamHolder): void {
    remove(this.byUser, holder.userId, holder);
    remove(this.byJob, holder.jobId, holder);
    remove(this.byIp, holder.ip, holder);
  }

  private refuse(detail: string): never {
    throw new ProblemException(429, 'TOO_MANY_STREAMS', detail, {
      headers: { 'Retry-After': '5' },
    });
  }

  /** Closes every stream a revoked login holds in this process. */
  private closeFamily(familyId: string): void {
    for (const set of [...this.byUser.values()]) {
      for (const h of [...set]) if (h.familyId === familyId) h.close();
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    // Logout, refresh-token reuse and account deletion publish the revoked family (TokenDenyList).
    await Promise.all([
      this.subscriber.listen(revokedChannel(this.redis), (m) => this.closeFamily(m.toString())),
      this.subscriber.listen(jobEventsChannel(this.config), (m) => this.onJobMessage(m)),
    ]);
  }

  /** A message in the transport's wire format, `{ pattern, data: JobEvent }`. */
  private onJobMessage(message: Buffer): void {
    if (!this.listeners.size) return;
    const jobId = eventJobId(message);
    if (jobId !== undefined && !this.listeners.has(jobId)) return;
    let event: JobEvent | undefined;
    try {
      event = (JSON.parse(message.toString()) as { data?: JobEvent }).data;
    } catch {
      // Not ours.
    }
    if (event?.job?.jobId) this.dispatch(event);
  }

  private dispatch(event: JobEvent): void {
    const set = this.listeners.get(event.job.jobId);
    if (!set) return;
    for (const l of set) {
      try {
        l(event);
      } catch (err) {
        this.logger.warn(`SSE listener failed: ${(err as Error).message}`);
      }
    }
  }

  subscribe(jobId: string, listener: JobListener): () => void {
    let set = this.listeners.get(jobId);
    if (!set) this.listeners.set(jobId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (!set.size) this.listeners.delete(jobId);
    };
  }
}

/**
 * The job id of an event message without parsing it: our own JSON.stringify puts the job's id
 * first in `job` (toView), and no string before it can hold this unescaped. Undefined for a
 * message without it (then parsed whole).
 */
export function eventJobId(message: Buffer): string | undefined {
  const at = message.indexOf('"jobId":"');
  return at >= 0 ? message.toString('latin1', at + 9, at + 45) : undefined;
}

function add<T>(map: Map<string, Set<T>>, key: string, value: T): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function remove<T>(map: Map<string, Set<T>>, key: string, value: T): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (!set.size) map.delete(key);
}
