import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { ParseArgsConfig, parseArgs } from 'node:util';
import { DataSource } from 'typeorm';
import { ConfigError, loadConfig } from '../core/config/app-config';
import { CsvEncoding, CsvFormatError, CsvImportReport } from '../core/csv/public-data-csv';
import { dataSourceOptions } from '../core/database/data-source.options';

type Values = Record<string, string | boolean | undefined>;

/**
 * The shape both public-data importers share (import:locations, import:schedules): one file,
 * `--encoding`, `--dataset` (default: the file name), `--json`, a one-line report plus one line
 * per skipped row. `prepare` checks the importer's own options (a number = exit with it).
 */
export async function runCsvImportCli(
  argv: string[],
  o: {
    usage: string;
    options?: NonNullable<ParseArgsConfig['options']>;
    prepare?: (values: Values) => number | undefined;
    run: (
      ds: DataSource,
      bytes: Buffer,
      common: { encoding: CsvEncoding; dataset: string },
      values: Values,
    ) => Promise<CsvImportReport>;
  },
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      encoding: { type: 'string', default: 'auto' },
      dataset: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      ...o.options,
    },
  });
  if (values.help || positionals.length !== 1) {
    (values.help ? process.stdout : process.stderr).write(o.usage);
    return values.help ? 0 : 2;
  }
  const encoding = values.encoding as CsvEncoding;
  if (!['auto', 'utf8', 'cp949'].includes(encoding)) {
    console.error(`--encoding must be auto, utf8 or cp949 (got "${String(values.encoding)}")`);
    return 2;
  }
  const bad = o.prepare?.(values);
  if (bad !== undefined) return bad;
  const file = positionals[0];
  const bytes = await readFile(file);

  const config = loadConfig({ ...process.env, APP_ROLE: 'all' });
  const ds = new DataSource({ ...dataSourceOptions(config), migrations: [] });
  await ds.initialize();
  try {
    const dataset = (values.dataset as string | undefined) ?? basename(file, extname(file));
    const report = await o.run(ds, bytes, { encoding, dataset }, values);
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

/** `node dist/cli/x.js …`: run, exit with its code; config and format errors print their message. */
export function runAsScript(mod: NodeModule, main: (argv: string[]) => Promise<number>): void {
  if (require.main !== mod) return;
  main(process.argv.slice(2))
    .then((code) => process.exit(code))
    .catch((err: unknown) => {
      if (err instanceof ConfigError || err instanceof CsvFormatError) console.error(err.message);
      else console.error(err);
      process.exit(1);
    });
}
