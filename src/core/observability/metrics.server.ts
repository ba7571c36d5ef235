import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  BeforeApplicationShutdown,
} from '@nestjs/common';
import { Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { HealthService } from './health.service';
import { Metrics } from './metrics';

/** False in the `all` role's workers thread: the main thread serves the process's port. */
let servesHere = true;

/**
 * Called by the `all` role's workers thread (src/app/workers-thread.ts) before it starts: the
 * main thread serves METRICS_PORT for the whole process and asks this thread for its readiness
 * and metrics (src/app/threads.ts), so the port is not bound twice.
 */
export function metricsServedByMainThread(): void {
  servesHere = false;
}

/**
 * A small HTTP server on METRICS_PORT for every role: /metrics (Prometheus), /health/live and
 * /health/ready. Worker roles have no API port, so their probes come here too. Not behind the
 * ingress.
 */
@Injectable()
export class MetricsServer
  implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly logger = new Logger(MetricsServer.name);
  private server?: Server;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: Metrics,
    private readonly health: HealthService,
  ) {}

  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!servesHere) return;
    this.server = createServer((req, res) => {
      void this.handle(req.url ?? '/').then(({ status, type, body }) => {
        res.writeHead(status, { 'Content-Type': type }).end(body);
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.config.METRICS_PORT, this.config.BIND_HOST, () => resolve());
    });
    this.logger.log(`metrics and health on :${this.port}`);
  }

  private async handle(url: string): Promise<{ status: number; type: string; body: string }> {
    const path = url.split('?')[0];
    if (path === '/metrics') {
      return {
        status: 200,
        type: this.metrics.registry.contentType,
        // With the `all` role's worker thread's metrics merged in (src/app/threads.ts).
        body: await this.metrics.scrape(),
      };
    }
    if (path === '/health/live') {
      return {
        status: 200,
        type: 'application/json',
        body: JSON.stringify({ status: 'ok', role: this.config.APP_ROLE }),
      };
    }
    if (path === '/health/ready') {
      const report = await this.health.readiness();
      return {
        status: report.status === 'ok' ? 200 : 503,
        type: 'application/json',
        body: JSON.stringify(report),
      };
    }
    return {
      status: 404,
      type: 'application/json',
      body: JSON.stringify({ status: 404, title: 'Not Found' }),
    };
  }

  beforeApplicationShutdown(): void {
    this.health.markShuttingDown();
  }

  async onApplicationShutdown(): Promise<void> {
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }
}
