import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { parseArgs } from 'node:util';
import { DataSource } from 'typeorm';
import { ConfigError, loadConfig } from '../core/config/app-config';
import { dataSourceOptions } from '../core/database/data-source.options';
import { CollectionPointsRepository } from '../modules/locations/collection-points.repository';
import { CsvEncoding, CsvFormatError } from '../modules/locations/import/collection-point-csv';
import { importCollectionPoints } from '../modules/locations/import/collection-point.importer';
import { LocationType, typesFromCell } from '../modules/locations/location.types';

const USAGE = `usage: node dist/cli/import-locations.js <file.csv> [options]

Imports collection points from a public-data CSV (Korean district open-data headers such as
시설명, 소재지도로명주소, 위도, 경도, 수거품목, 운영시간, 전화번호, 관리번호) into DATABASE_URL.
Idempotent: rows are keyed by 관리번호 (or name + address), so re-importing updates them.

options:
  --encoding auto|utf8|cp949   file encoding (default auto: UTF-8 if valid, else CP949)
  --dataset NAME               label stored with the rows (default: the file name)
  --type TYPES                 types for files without a type column, e.g. battery or 폐건전지
  --json                       print the full report as JSON
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      encoding: { type: 'string', default: 'auto' },
      dataset: { type: 'string' },
      type: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || positionals.length !== 1) {
    (values.help ? process.stdout : process.stderr).write(USAGE);
    return values.help ? 0 : 2;
  }
  const encoding = values.encoding as CsvEncoding;
  if (!['auto', 'utf8', 'cp949'].includes(encoding)) {
    console.error(`--encoding must be auto, utf8 or cp949 (got "${values.encoding}")`);
    return 2;
  }
  let defaultTypes: LocationType[] | undefined;
  if (values.type) {
    const parsed = typesFromCell(values.type);
    if (parsed.unknown.length || !parsed.types.length) {
      console.error(`--type: unknown type(s) ${parsed.unknown.join(', ') || values.type}`);
      return 2;
    }
    defaultTypes = parsed.types;
  }
  const file = positionals[0];
  const bytes = await readFile(file);

  const config = loadConfig({ ...process.env, APP_ROLE: 'all' });
  const ds = new DataSource({ ...dataSourceOptions(config), migrations: [] });
  await ds.initialize();
  try {
    const report = await importCollectionPoints(new CollectionPointsRepository(ds), bytes, {
      encoding,
      dataset: values.dataset ?? basename(file, extname(file)),
      defaultTypes,
    });
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ file, ...report }, null, 2)}\n`);
    } else {
      const rate = report.durationMs ? Math.round((report.total * 1000) / report.durationMs) : 0;
      process.stdout.write(
        `${file} (${report.encoding}): ${report.total} rows — ${report.inserted} inserted, ` +
          `${report.updated} updated, ${report.unchanged} unchanged, ${report.skipped.length} skipped ` +
          `in ${report.durationMs} ms (${rate} rows/s)\n`,
      );
      for (const s of report.skipped)
        process.stdout.write(`  skipped line ${s.row}: ${s.reason}\n`);
    }
    return 0;
  } finally {
    await ds.destroy();
  }
}

if (require.main === module) {
  main(process.argv.slice(2))
    .then((code) => process.exit(code))
    .catch((err: unknown) => {
      if (err instanceof ConfigError || err instanceof CsvFormatError) console.error(err.message);
      else console.error(err);
      process.exit(1);
    });
}

export { main as importLocationsCli };
