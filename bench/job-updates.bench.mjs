// PostgreSQL CPU of a job's state changes (issue 12: our PostgreSQL cost 6–11 ms per job against
// the peer's 1–2.5). Replays one job's writes as JobsRepository issues them — insert, queued,
// downloading, hashing, preprocessing, classifying, coaching (result jsonb), saving (jsonb_set),
// completed — for N jobs on one connection, against waste.jobs as the migrations leave it, and
// reads the backend's CPU from /proc and the table's HOT-update counters. Each round also replays
// on a variant of the table (VARIANT_SQL: the (status, updated_at) index replaced by a partial one
// without updated_at and fillfactor 80, so that most updates can be HOT) and, with --prepared,
// with named prepared statements instead of unnamed ones (what TypeORM's query() sends).
//
//   npx nest build && node bench/job-updates.bench.mjs [--jobs 3000] [--rounds 3] [--prepared]
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import pg from 'pg';
import { root } from './lib/sut.mjs';
import { round } from './lib/stats.mjs';

const argv = process.argv.slice(2);
const opt = (n, d) => (argv.includes(`--${n}`) ? argv[argv.indexOf(`--${n}`) + 1] : d);
const JOBS = Number(opt('jobs', '3000'));
const ROUNDS = Number(opt('rounds', '3'));
const ADMIN = process.env.PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PREPARED = argv.includes('--prepared');
const VARIANT_SQL = [
  `CREATE INDEX jobs_unfinished_idx ON waste.jobs (status)
    WHERE status IN ('awaiting_upload', 'queued', 'processing')`,
  'DROP INDEX waste.jobs_status_updated_idx',
  'ALTER TABLE waste.jobs SET (fillfactor = 80)',
];

const require = createRequire(import.meta.url);
const hash = (text) => createHash('sha1').update(text).digest('hex').slice(0, 12);

async function backendCpuS(client) {
  const { rows } = await client.query('SELECT pg_backend_pid() AS pid');
  const stat = await readFile(`/proc/${rows[0].pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, clock ticks (100 Hz)
}

const RESULT = {
  items: [
    {
      label: 'plastic_bottle',
      confidence: 0.93,
      box: { x: 0.1, y: 0.2, w: 0.3, h: 0.5 },
      categoryId: 'pet',
      categoryName: '페트병',
      bin: '투명 페트병 전용 수거함',
      steps: ['내용물을 비우고 헹굽니다', '라벨을 떼어 냅니다', '찌그러뜨려 뚜껑을 닫습니다'],
      tip: '유색 페트병은 플라스틱으로 배출합니다',
    },
  ],
  coaching: null,
  cache: { hit: false, kind: null, source: null },
  nearby: null,
  schedule: null,
  timings: { totalMs: null, visionMs: 3004, coachingMs: null },
};

/** One job's writes, in the order and shape JobsRepository sends them. */
async function replay(c, userId, prepared) {
  const id = randomUUID();
  const q = (text, values) =>
    prepared ? c.query({ name: `s${hash(text)}`, text, values }) : c.query(text, values);
  const upd = (sets, where, params) =>
    q(
      `UPDATE waste.jobs SET version = version + 1, updated_at = now(), ${sets} WHERE id = $1 AND ${where} RETURNING *`,
      [id, ...params],
    );
  await q(
    `INSERT INTO waste.jobs (id, user_id, status, content_type, content_length, locale, storage_key, upload_expires_at)
     VALUES ($1, $2, 'awaiting_upload', 'image/jpeg', 120000, 'ko', $3, now() + interval '10 minutes') RETURNING *`,
    [id, userId, `uploads/${userId}/${id}/original`],
  );
  const from = (s) => `status = ANY($${s}::text[])`;
  await upd('status = $2, progress = $3, queued_at = $4', from(5), [
    'queued',
    5,
    new Date(),
    ['awaiting_upload'],
  ]);
  for (const [stage, progress] of [
    ['downloading', 10],
    ['hashing', 20],
    ['preprocessing', 30],
  ]) {
    await upd(`status = $2, stage = $3, progress = $4, timings = timings || $5::jsonb`, from(6), [
      'processing',
      stage,
      progress,
      JSON.stringify({ [stage]: 3 }),
      ['queued', 'processing'],
    ]);
  }
  await upd(
    `stage = $2, progress = $3, image_sha256 = $4, image_phash = $5, timings = timings || $6::jsonb`,
    from(7),
    [
      'classifying',
      40,
      'a'.repeat(64),
      'b'.repeat(16),
      JSON.stringify({ preprocess: 4 }),
      ['processing'],
    ],
  );
  await upd(`stage = $2, progress = $3, result = $4::jsonb`, from(5), [
    'coaching',
    70,
    JSON.stringify(RESULT),
    ['processing'],
  ]);
  await upd(
    `stage = $2, progress = $3, result = jsonb_set(result, '{coaching}', $4::jsonb, true)`,
    `${from(5)} AND result->'coaching' = 'null'::jsonb`,
    [
      'saving',
      90,
      JSON.stringify({ message: '라벨을 떼고 헹궈 투명 페트병 수거함에 넣으세요.', source: 'llm' }),
      ['processing'],
    ],
  );
  await upd(
    `status = $2, stage = NULL, progress = 100, finished_at = now(), finalized_at = now(), timings = timings || $3::jsonb`,
    from(4),
    ['completed', JSON.stringify({ total: 8100 }), ['processing']],
  );
}

async function measure(url, label, prepared = false) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const users = Array.from({ length: 200 }, () => randomUUID());
  // Warm the table (a few thousand finished rows, as a live table has) and the backend.
  for (let i = 0; i < 500; i++) await replay(c, users[i % users.length], prepared);
  await c.query('VACUUM ANALYZE waste.jobs');
  const s0 = (
    await c.query(
      `SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE schemaname = 'waste' AND relname = 'jobs'`,
    )
  ).rows[0];
  const cpu0 = await backendCpuS(c);
  const t0 = performance.now();
  for (let i = 0; i < JOBS; i++) await replay(c, users[i % users.length], prepared);
  const wall = performance.now() - t0;
  const cpu = (await backendCpuS(c)) - cpu0;
  await new Promise((r) => setTimeout(r, 800)); // the stats collector's flush
  const s1 = (
    await c.query(
      `SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE schemaname = 'waste' AND relname = 'jobs'`,
    )
  ).rows[0];
  await c.end();
  const upd = Number(s1.n_tup_upd) - Number(s0.n_tup_upd);
  const hot = Number(s1.n_tup_hot_upd) - Number(s0.n_tup_hot_upd);
  return {
    label,
    pgCpuMsPerJob: round((cpu * 1000) / JOBS, 2),
    wallMsPerJob: round(wall / JOBS, 2),
    hotPct: upd ? round((hot / upd) * 100, 1) : null,
  };
}

async function freshDb(admin) {
  const name = `bench_jobupd_${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const url = ADMIN.replace(/\/[^/]*$/, `/${name}`);
  process.env.DATABASE_URL = url;
  const { runMigrations } = require(`${root}/dist/core/database/migrate.js`);
  await runMigrations(url);
  return { name, url };
}

const admin = new pg.Client({ connectionString: ADMIN });
await admin.connect();
const made = [];
try {
  const rows = [];
  for (let r = 0; r < ROUNDS; r++) {
    const plain = await freshDb(admin);
    const variant = await freshDb(admin);
    made.push(plain.name, variant.name);
    const v = new pg.Client({ connectionString: variant.url });
    await v.connect();
    for (const sql of VARIANT_SQL) await v.query(sql);
    await v.end();
    const runs = [
      () => measure(plain.url, 'as migrated'),
      () => measure(variant.url, 'HOT variant'),
    ];
    if (PREPARED) {
      const third = await freshDb(admin);
      made.push(third.name);
      runs.push(() => measure(third.url, 'as migrated, prepared', true));
    }
    // Rotate which goes first, so a drift of the machine does not favour one.
    const order = runs.map((_, i) => (i + r) % runs.length);
    const out = [];
    for (const i of order) out[i] = await runs[i]();
    rows.push(out);
    console.log(JSON.stringify(out));
  }
  const med = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const [i, { label }] of rows[0].entries()) {
    console.log(
      `${label}: PostgreSQL CPU ${med(rows.map((p) => p[i].pgCpuMsPerJob))} ms per job (median of ${ROUNDS}), ` +
        `wall ${med(rows.map((p) => p[i].wallMsPerJob))} ms, HOT updates ${med(rows.map((p) => p[i].hotPct))} %`,
    );
  }
} finally {
  for (const name of made) await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.end();
}
