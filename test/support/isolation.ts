import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { Client } from 'pg';

/**
 * Each test file gets its own PostgreSQL database, RabbitMQ vhost and Redis key prefix, so two
 * files (or two runs) never see each other's rows, messages or keys. The real services on this
 * machine are used; nothing is faked.
 */
export interface Isolation {
  id: string;
  env: Record<string, string>;
  databaseUrl: string;
  rabbitUrl: string;
  redisPrefix: string;
  vhost: string;
  cleanup(): Promise<void>;
}

const PG_ADMIN = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PG_BASE = new URL(PG_ADMIN);
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const RABBIT_HOST = process.env.TEST_RABBITMQ_HOST ?? 'guest:guest@127.0.0.1:5672';

function rabbitmqctl(...args: string[]): void {
  execFileSync('rabbitmqctl', ['-q', ...args], { stdio: 'pipe', timeout: 30_000 });
}

export async function isolate(label: string): Promise<Isolation> {
  const id = `t_${label
    .replace(/[^a-z0-9]/gi, '')
    .toLowerCase()
    .slice(0, 16)}_${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const admin = new Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${id}"`);
  await admin.end();
  const dbUrl = new URL(PG_BASE.toString());
  dbUrl.pathname = `/${id}`;

  rabbitmqctl('add_vhost', id);
  rabbitmqctl('set_permissions', '-p', id, 'guest', '.*', '.*', '.*');
  const rabbitUrl = `amqp://${RABBIT_HOST}/${encodeURIComponent(id)}`;

  const env: Record<string, string> = {
    DATABASE_URL: dbUrl.toString(),
    RABBITMQ_URL: rabbitUrl,
    REDIS_URL: REDIS_URL,
    REDIS_PREFIX: id,
    PORT: '0',
    METRICS_PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    STORAGE_LOCAL_DIR: `/tmp/waste-coach-test/${id}`,
  };

  return {
    id,
    env,
    databaseUrl: dbUrl.toString(),
    rabbitUrl,
    redisPrefix: id,
    vhost: id,
    async cleanup() {
      if (process.env.TEST_KEEP === '1') return;
      const a = new Client({ connectionString: PG_ADMIN });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS "${id}" WITH (FORCE)`);
      await a.end();
      try {
        rabbitmqctl('delete_vhost', id);
      } catch {
        /* already gone */
      }
      const redis = new Redis(REDIS_URL);
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${id}:*`, 'COUNT', 1000);
        if (keys.length) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
      await redis.quit();
    },
  };
}

/** Rows of an imported table that carry this `dataset` label (the importers' tests). */
export async function countDataset(
  ds: { query: (sql: string, params: unknown[]) => Promise<unknown> },
  table: 'locations.collection_points' | 'recycling.disposal_schedules',
  dataset: string,
): Promise<number> {
  const rows = (await ds.query(`SELECT count(*)::int AS n FROM ${table} WHERE dataset = $1`, [
    dataset,
  ])) as { n: number }[];
  return rows[0].n;
}
