import { Module } from '@nestjs/common';
import { DlqMetrics, dlqServiceProvider } from './dlq/dlq.provider';
import { DlqService } from './dlq/dlq.service';

/**
 * Dead letters: DlqService and the q.dlq gauge, in every role (beat included, which has no
 * database). The admin endpoints and the bulk tasks are wired in src/app/app.module.ts.
 */
@Module({
  providers: [dlqServiceProvider, DlqMetrics],
  exports: [DlqService],
})
export class OpsModule {}
