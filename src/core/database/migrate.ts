import { DataSource } from 'typeorm';
import { ConfigError, loadConfig } from '../config/app-config';
import { dataSourceOptions } from './data-source.options';

/** `npm run migration:run` (the Helm hook Job runs the same): apply pending migrations and exit. */
export async function runMigrations(databaseUrl?: string): Promise<string[]> {
  const config = loadConfig({
    ...process.env,
    APP_ROLE: 'all',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  });
  const ds = new DataSource(dataSourceOptions(config));
  await ds.initialize();
  try {
    const ran = await ds.runMigrations({ transaction: 'each' });
    return ran.map((m) => m.name);
  } finally {
    await ds.destroy();
  }
}

if (require.main === module) {
  runMigrations()
    .then((names) => {
      console.warn(JSON.stringify({ level: 'info', msg: 'migrations applied', migrations: names }));
    })
    .catch((err: unknown) => {
      console.error(err instanceof ConfigError ? err.message : err);
      process.exit(1);
    });
}
