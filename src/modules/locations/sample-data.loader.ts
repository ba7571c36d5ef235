import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { LocationsService } from './locations.service';

/** The bundled SAMPLE data (made-up points around Seoul City Hall; not real collection points). */
export const SAMPLE_FILE = join(__dirname, 'data', 'sample-collection-points.csv');
export const SAMPLE_DATASET = 'sample';

/**
 * The one-process developer run (`all` role) imports the sample file when the table is empty, so
 * nearby search answers something out of the box. Deployed roles never do: they get real data from
 * `node dist/cli/import-locations.js`.
 */
@Injectable()
export class SampleDataLoader implements OnApplicationBootstrap {
  private readonly logger = new Logger(SampleDataLoader.name);

  constructor(private readonly locations: LocationsService) {}

  async onApplicationBootstrap(): Promise<void> {
    try {
      if ((await this.locations.points.count()) > 0) return;
      const report = await this.locations.importCsv(await readFile(SAMPLE_FILE), {
        dataset: SAMPLE_DATASET,
      });
      this.logger.log(
        `imported ${report.inserted} SAMPLE collection points from ${SAMPLE_FILE} (empty table)`,
      );
    } catch (err) {
      this.logger.warn(`sample collection points not imported: ${(err as Error).message}`);
    }
  }
}
