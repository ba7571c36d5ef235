// Per-stage pipeline timings from a run's database: every job stores the milliseconds it spent in
// each stage in waste.jobs.timings (queue, download, validate, hash, cache, preprocess, vision,
// guidance, coaching, nearby, total). Prints p50/p95/p99 per stage and the pipeline's own
// overhead (total minus the time spent waiting on vision and coaching).
//
// Usage: node bench/stage-report.mjs <DATABASE_URL> [--since ISO] [--json]
import pg from 'pg';

const [url, ...rest] = process.argv.slice(2);
if (!url) {
  console.error('usage: node bench/stage-report.mjs <DATABASE_URL> [--since ISO] [--json]');
  process.exit(2);
}
const since = rest.includes('--since') ? rest[rest.indexOf('--since') + 1] : '1970-01-01';

const client = new pg.Client({ connectionString: url });
await client.connect();
try {
  const { rows } = await client.query(
    `WITH jobs AS (
       SELECT coalesce(result->'cache'->>'kind', 'miss') AS path, timings
         FROM waste.jobs WHERE status = 'completed' AND created_at >= $1
     ), stages AS (
       SELECT path, s.key AS stage, s.value::numeric AS ms FROM jobs, jsonb_each_text(timings) s
       UNION ALL
       SELECT path, 'overhead', (timings->>'total')::numeric
                                - coalesce((timings->>'vision')::numeric, 0)
                                - coalesce((timings->>'coaching')::numeric, 0)
         FROM jobs WHERE timings ? 'total'
     )
     SELECT path, stage, count(*)::int AS n,
            round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS p50,
            round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS p95,
            round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS p99
       FROM stages
      GROUP BY path, stage
      ORDER BY path, array_position(ARRAY['queue','download','validate','hash','cache','preprocess',
               'vision','guidance','coaching','nearby','total','overhead'], stage)`,
    [since],
  );
  if (rest.includes('--json')) {
    console.log(JSON.stringify(rows));
  } else {
    console.log('| path | stage | n | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|---|');
    for (const r of rows)
      console.log(`| ${r.path} | ${r.stage} | ${r.n} | ${r.p50} | ${r.p95} | ${r.p99} |`);
  }
} finally {
  await client.end();
}
