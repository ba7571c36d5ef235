import { Global, Module } from '@nestjs/common';
import { HealthService } from './health.service';
import { Metrics } from './metrics';
import { MetricsServer } from './metrics.server';

@Global()
@Module({
  providers: [Metrics, HealthService, MetricsServer],
  exports: [Metrics, HealthService, MetricsServer],
})
export class ObservabilityModule {}
