import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ScheduleService } from './schedule.service';

/** The bundled SAMPLE schedules (made-up 관리구역 of a few real districts; not real data). */
export const SAMPLE_SCHEDULE_FILE = join(__dirname, '..', 'data', 'sample-disposal-schedules.csv');
export const SAMPLE_DATASET = 'sample';

/**
 * The one-process developer run (`all` role) imports the sample file when the table is empty, so
 * GET /recycling/schedule answers out of the box (as the collection-point sample does). Deployed
 * roles never do: they get real data from `npm run import:schedules`.
 */
@Injectable()
export class SampleScheduleLoader implements OnApplicationBootstrap {
  private readonly logger = new Logger(SampleScheduleLoader.name);

  constructor(private readonly schedules: ScheduleService) {}

  async onApplicationBootstrap(): Promise<void> {
    try {
      if ((await this.schedules.rows.count()) > 0) return;
      const report = await this.schedules.importCsv(await readFile(SAMPLE_SCHEDULE_FILE), {
        dataset: SAMPLE_DATASET,
      });
      this.logger.log(
        `imported ${report.inserted} SAMPLE disposal schedules from ${SAMPLE_SCHEDULE_FILE} (empty table)`,
      );
    } catch (err) {
      this.logger.warn(`sample disposal schedules not imported: ${(err as Error).message}`);
    }
  }
}
