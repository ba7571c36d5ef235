// GET /recycling/schedule through HTTP: the real `all` process (dist/), its own database, vhost
// and Redis prefix, the bundled sample schedules, offline region lookup (no Kakao key).
//   npm run build && node bench/schedule-http.bench.mjs [--requests 400] [--port 3914] [--json]
// Times sequential requests (one client, loopback) after 20 warm-up ones, for a region name, for
// coordinates in districts with data, and for coordinates in districts without. The first
// coordinate request of the process also loads the boundaries: reported on its own.
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Client } = require('pg');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const requests = Number(arg('requests', 400));
const port = Number(arg('port', 3914));
const json = process.argv.includes('--json');

const id = `b_sched_${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const pgAdmin = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const admin = new Client({ connectionString: pgAdmin });
await admin.connect();
await admin.query(`CREATE DATABASE "${id}"`);
execFileSync('rabbitmqctl', ['-q', 'add_vhost', id]);
execFileSync('rabbitmqctl', ['-q', 'set_permissions', '-p', id, 'guest', '.*', '.*', '.*']);
const db = new URL(pgAdmin);
db.pathname = `/${id}`;

const child = spawn(process.execPath, ['dist/main.js'], {
  env: {
    ...process.env,
    APP_ROLE: 'all',
    DATABASE_URL: db.toString(),
    RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:5672/${id}`,
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_PREFIX: id,
    PORT: String(port),
    METRICS_PORT: '0',
    BIND_HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    KAKAO_REST_API_KEY: '',
    STORAGE_LOCAL_DIR: `/tmp/${id}`,
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const base = `http://127.0.0.1:${port}`;
const quantile = (xs, q) => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))];
try {
  for (let i = 0; ; i++) {
    const ok = await fetch(`${base}/health/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 240) throw new Error('the app did not become ready in 120 s');
    await new Promise((r) => setTimeout(r, 500));
  }
  const login = await (
    await fetch(`${base}/api/v1/auth/guest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    })
  ).json();
  const headers = { authorization: `Bearer ${login.accessToken}` };
  const get = async (query) => {
    const t = performance.now();
    const res = await fetch(`${base}/api/v1/recycling/schedule?${query}`, { headers });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${query}: HTTP ${res.status}`);
    return performance.now() - t;
  };
  const firstPointMs = await get('lat=37.5173&lng=127.0474');
  const cases = {
    'region name (서울 강남구)': () => `region=${encodeURIComponent('서울 강남구')}`,
    'lat/lng, districts with data': (i) =>
      [
        'lat=37.5173&lng=127.0474',
        'lat=37.5663&lng=126.9779',
        'lat=37.5662&lng=126.9016',
        'lat=35.1631&lng=129.1636',
      ][i % 4],
    'lat/lng, random points in Seoul (most without data)': (i) =>
      `lat=${(37.45 + ((i * 7919) % 1000) / 5000).toFixed(4)}&lng=${(126.85 + ((i * 104729) % 1000) / 3300).toFixed(4)}`,
  };
  const out = { firstCoordinateRequestMs: Math.round(firstPointMs), requests, cases: {} };
  for (const [name, query] of Object.entries(cases)) {
    for (let i = 0; i < 20; i++) await get(query(i));
    const times = [];
    for (let i = 0; i < requests; i++) times.push(await get(query(i)));
    times.sort((a, b) => a - b);
    out.cases[name] = Object.fromEntries(
      [
        ['p50', 0.5],
        ['p95', 0.95],
        ['p99', 0.99],
      ].map(([k, q]) => [k, Math.round(quantile(times, q) * 100) / 100]),
    );
  }
  if (json) console.log(JSON.stringify(out, null, 2));
  else {
    console.log(
      `first coordinate request (loads the boundaries): ${out.firstCoordinateRequestMs} ms`,
    );
    for (const [name, r] of Object.entries(out.cases))
      console.log(`${name}: p50 ${r.p50} ms, p95 ${r.p95} ms, p99 ${r.p99} ms`);
  }
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await admin.query(`DROP DATABASE IF EXISTS "${id}" WITH (FORCE)`);
  await admin.end();
  try {
    execFileSync('rabbitmqctl', ['-q', 'delete_vhost', id]);
  } catch {
    /* gone */
  }
  const Redis = require('ioredis');
  const redis = new Redis('redis://127.0.0.1:6379');
  const keys = await redis.keys(`${id}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
}
