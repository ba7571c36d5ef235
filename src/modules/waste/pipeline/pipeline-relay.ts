import { Injectable } from '@nestjs/common';
import { TaskPublisher } from '../../../core/messaging/task-publisher';
import { RoutingKey } from '../../../core/messaging/topology';
import { JobEntity } from '../jobs/job.entity';
import { SaveTask } from './task-payloads';

/**
 * Publishes the message a job is waiting for, from its state alone. Each stage writes its state
 * first and publishes the next message second; if that publish is lost (the broker went away in
 * between), a redelivered message for the earlier stage finds the job already past it — instead
 * of skipping, the handler asks the relay to send the next message again. The watchdog does the
 * same for jobs that made no progress for a while. Handlers are idempotent, so a duplicate costs
 * nothing but the work.
 */
@Injectable()
export class PipelineRelay {
  constructor(private readonly publisher: TaskPublisher) {}

  /** After guidance: coaching, and nearby points when the photo came with a location. */
  async afterGuidance(job: JobEntity, requestId?: string): Promise<void> {
    if (!job.result?.coaching) {
      await this.publisher.publish(RoutingKey.Feedback, { jobId: job.id }, { requestId });
    }
    if (job.lat !== null && job.lng !== null && !job.result?.nearby) {
      await this.publisher.publish(RoutingKey.MapNearby, { jobId: job.id }, { requestId });
    }
  }

  /** Re-sends whatever the job's current state waits for; false when it waits for nothing. */
  async resume(job: JobEntity, requestId?: string): Promise<boolean> {
    if (job.status === 'queued') {
      await this.publisher.publish(RoutingKey.WasteDownload, { jobId: job.id }, { requestId });
      return true;
    }
    if (job.status !== 'processing') return false;
    switch (job.stage) {
      case 'downloading':
      case 'hashing':
      case 'preprocessing':
        await this.publisher.publish(RoutingKey.WasteDownload, { jobId: job.id }, { requestId });
        return true;
      case 'classifying':
        await this.publisher.publish(RoutingKey.Vision, { jobId: job.id }, { requestId });
        return true;
      case 'coaching':
      case 'saving':
        if (job.result?.coaching && (job.lat === null || job.result.nearby !== null)) {
          // Every part is in but the job never completed (its save was dead-lettered while
          // PostgreSQL was down): the save handler completes it from the stored parts.
          const task: SaveTask = {
            jobId: job.id,
            part: 'coaching',
            coaching: job.result.coaching,
            coachingMs: job.result.timings.coachingMs ?? 0,
          };
          // (No queuedAt: the part is stored already, so the save completes the job from the
          // stored parts with a read, as before.)
          await this.publisher.publish(RoutingKey.WasteSave, task, { requestId });
          return true;
        }
        await this.afterGuidance(job, requestId);
        return true;
      default:
        return false;
    }
  }
}
