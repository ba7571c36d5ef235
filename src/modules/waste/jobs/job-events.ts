import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { ClientRedis, ServerRedis } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { JobView } from './job.types';
import { redisTransportOptions } from './redis-options.util';

export interface JobEvent {
  userId: string;
  version: number;
  job: JobView;
}

export type JobListener = (event: JobEvent) => void;

function pattern(config: AppConfig): string {
  // The prefix keeps deployments (and test files) sharing one Redis apart.
  return `${config.REDIS_PREFIX}.waste.job.updated`;
}

/**
 * Emits job changes on @nestjs/microservices' Redis transport (Redis pub/sub), so every API
 * replica hears every change, whichever worker made it.
 */
@Injectable()
export class JobEventsEmitter implements OnApplicationShutdown {
  private readonly logger = new Logger(JobEventsEmitter.name);
  private readonly client: ClientRedis;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.client = new ClientRedis(redisTransportOptions(config.REDIS_URL));
  }

  async emit(event: JobEvent): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      // Never let a Redis outage stall a pipeline stage: the event is best-effort.
      await Promise.race([
        lastValueFrom(this.client.emit(pattern(this.config), event), { defaultValue: undefined }),
        new Promise(
          (_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), 1000)),
        ),
      ]);
    } catch (err) {
      // A lost event is tolerable: status reads the snapshot, SSE resyncs from it on reconnect.
      this.logger.warn(`job event for ${event.job.jobId} not emitted: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }
}

/**
 * The API side: one Redis transport server per process receives every job event and hands it
 * to the SSE streams that follow that job in this process.
 */
@Injectable()
export class JobEventsHub implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(JobEventsHub.name);
  private readonly server: ServerRedis;
  private readonly listeners = new Map<string, Set<JobListener>>();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.server = new ServerRedis(redisTransportOptions(config.REDIS_URL));
  }

  async onApplicationBootstrap(): Promise<void> {
    this.server.addHandler(
      pattern(this.config),
      async (event: JobEvent) => this.dispatch(event),
      true,
    );
    await new Promise<void>((resolve, reject) =>
      this.server.listen((err) => (err ? reject(err) : resolve())),
    );
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

  async onApplicationShutdown(): Promise<void> {
    await this.server.close();
  }
}
