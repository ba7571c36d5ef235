// `npm start`: the whole system in one process (APP_ROLE=all) on this machine's PostgreSQL, Redis
// and RabbitMQ, with local-disk storage. Checks each service first and says how to start the
// one that is down; creates the database if it is missing; then runs dist/main.js.
// package.json's `start` runs this with MALLOC_ARENA_MAX=2 --max-old-space-size=512
// --max-semi-space-size=8: the main thread's heap as src/app/threads.ts sizes the workers
// thread's (docs/benchmarks.md → Worker side and memory: 472 → ~300 MB RSS at 12 jobs/s).
import { createConnection } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import pg from 'pg';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.env.APP_ROLE ??= 'all';
process.env.STORAGE_DRIVER ??= 'local';
process.env.STORAGE_LOCAL_DIR ??= join(root, 'data', 'storage');
const DATABASE_URL = (process.env.DATABASE_URL ??=
  'postgres://postgres@127.0.0.1:5432/waste_coach');
const REDIS_URL = (process.env.REDIS_URL ??= 'redis://127.0.0.1:6379');
const RABBITMQ_URL = (process.env.RABBITMQ_URL ??= 'amqp://guest:guest@127.0.0.1:5672');

const services = [
  {
    name: 'PostgreSQL',
    url: DATABASE_URL,
    port: 5432,
    start: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
  },
  {
    name: 'Redis',
    url: REDIS_URL,
    port: 6379,
    start: 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
  },
  { name: 'RabbitMQ', url: RABBITMQ_URL, port: 5672, start: 'rabbitmq-server -detached' },
];

function reachable(host, port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port, timeout: 2000 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

let down = 0;
for (const s of services) {
  const u = new URL(s.url);
  const host = u.hostname || '127.0.0.1';
  const port = Number(u.port || s.port);
  if (!(await reachable(host, port))) {
    down++;
    console.error(
      `✗ ${s.name} is not reachable at ${host}:${port}. Start it with:\n    ${s.start}`,
    );
  }
}
if (down) {
  console.error(
    '\nStart the services above (or point DATABASE_URL / REDIS_URL / RABBITMQ_URL elsewhere), then run `npm start` again.',
  );
  process.exit(1);
}

// Create the database on first run.
const target = new URL(DATABASE_URL);
const dbName = decodeURIComponent(target.pathname.slice(1));
const admin = new URL(DATABASE_URL);
admin.pathname = '/postgres';
const client = new pg.Client({ connectionString: admin.toString() });
await client.connect();
const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [dbName]);
if (!rowCount) {
  await client.query(`CREATE DATABASE "${dbName.replace(/"/g, '""')}"`);
  console.warn(`created database ${dbName}`);
}
await client.end();

// src/app/threads.ts decides the same way: the workers in a thread of their own from 2 cores on.
const threads = process.env.ALL_ROLE_THREADS ?? 'auto';
const layout =
  process.env.APP_ROLE === 'all'
    ? threads === 'on' || (threads === 'auto' && availableParallelism() >= 2)
      ? ', API on the main thread, workers in a worker thread'
      : ', API and workers on one thread'
    : '';
console.warn(
  `starting waste-coach (APP_ROLE=${process.env.APP_ROLE}${layout}) — API http://localhost:${process.env.PORT ?? 3000}/api/v1, docs http://localhost:${process.env.PORT ?? 3000}/docs`,
);
await import(join(root, 'dist', 'main.js'));
