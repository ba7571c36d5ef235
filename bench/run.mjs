// The pipeline under load and under faults (issue 9).
//
//   npm run bench        quick (~1 min, CI smoke test): 50 virtual users, short stand-in
//                        latencies, one process (APP_ROLE=all), a 5 s vision fault window;
//                        exits non-zero when a job is lost, duplicated or wrongly failed.
//   npm run bench:full   500 pollers, 1000 SSE followers, autocannon on status polling, the
//                        fault scenarios (each under load), then all roles in one process.
//
// Options: --phases a,b,c (subset, by name), --topology all|split, --keep (leave the database,
// vhost and files), --shared-faults (really stop_app/start_app the shared RabbitMQ instead of
// cutting only this run's vhost off), --no-report (skip docs/benchmarks.md), --no-faults, and for
// trying a phase out: --vision 200-500 --llm 300-800 (stand-in ms), --duration S, --users FACTOR.
//
// The steady-arrival mode (open-loop arrivals at fixed rates, the seed's stack side by side) is
// bench/steady.mjs. The pieces are in bench/lib/ (sut, journeys, faults, summary, capacity, report).
//
// Everything listens on 127.0.0.1 (the roles run with BIND_HOST=127.0.0.1); every phase is
// bounded in users, journeys and seconds; the run stops by itself and removes what it created.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { runAutocannon, runPollHold } from './lib/capacity.mjs';
import { runJourneys } from './lib/journeys.mjs';
import { photoPool } from './lib/photos.mjs';
import { markdown, targetsOf } from './lib/report.mjs';
import { fmtDist, round } from './lib/stats.mjs';
import { log, root, startStandins, System } from './lib/sut.mjs';
import { isolate, machine, rabbitmqctl, sleep, snapshotDist } from './lib/system.mjs';

const argv = process.argv.slice(2);
const flag = (n) => argv.includes(`--${n}`);
const opt = (n, d) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 ? argv[i + 1] : d;
};
const FULL = flag('full');
const MODE = FULL ? 'full' : 'quick';
const HARD_LIMIT_S = FULL ? 40 * 60 : 5 * 60;

// ---------------------------------------------------------------------------------------------
// Settings

const S = FULL
  ? {
      photos: 1500,
      vision: '2000-5000',
      llm: '3000-8000',
      visionTimeoutMs: 8000,
      topology: opt('topology', 'split'),
      mix: { repeat: 0.2, near: 0.1 },
    }
  : {
      photos: 160,
      vision: '200-500',
      llm: '300-800',
      visionTimeoutMs: 2000,
      topology: opt('topology', 'all'),
      mix: { repeat: 0.25, near: 0.15 },
    };

/** Load shapes. users: how many VUs follow by polling and by SSE. */
const PHASES = FULL
  ? [
      // ~12 jobs/s: about what image processing on two shared cores sustains (docs/benchmarks.md).
      {
        name: 'poll-500',
        poll: 500,
        sse: 0,
        journeys: 3,
        think: [25000, 45000],
        rampS: 30,
        durationS: 90,
      },
      // 500 pollers at 0.5 s each (1000 req/s) on their own schedules, then autocannon flat out.
      { name: 'poll-hold-500', pollHold: 500, durationS: 20 },
      { name: 'autocannon-poll', autocannon: true, connections: 100, durationS: 15 },
      {
        name: 'sse-1000',
        poll: 0,
        sse: 1000,
        journeys: 1,
        think: [0, 0],
        rampS: 80,
        durationS: 85,
      },
      ...['kill-workers', 'rabbitmq-restart', 'redis-stop', 'vision-faults', 'rolling-sigterm'].map(
        (fault) => ({
          name: fault,
          fault,
          poll: 60,
          sse: 60,
          journeys: 100,
          think: [3000, 9000],
          rampS: 5,
          durationS: fault === 'vision-faults' ? 70 : 55,
          faultAtS: 20,
        }),
      ),
      {
        name: 'all-in-one',
        topology: 'all',
        poll: 150,
        sse: 150,
        journeys: 3,
        think: [15000, 30000],
        rampS: 20,
        durationS: 60,
      },
    ]
  : [
      {
        name: 'smoke',
        poll: 25,
        sse: 25,
        journeys: 8,
        think: [300, 1500],
        rampS: 3,
        durationS: 30,
        fault: 'vision-faults',
        faultAtS: 10,
        faultSeconds: 5,
      },
    ];

const only = opt('phases');
const phases = (only ? PHASES.filter((p) => only.split(',').includes(p.name)) : PHASES).map((p) => {
  const q = { ...p };
  if (flag('no-faults')) delete q.fault;
  if (opt('duration')) q.durationS = Number(opt('duration'));
  if (opt('users') && !q.autocannon) {
    q.poll = Math.round(q.poll * Number(opt('users')));
    q.sse = Math.round(q.sse * Number(opt('users')));
  }
  return q;
});

// ---------------------------------------------------------------------------------------------
// Main

/** --cleanup: drop what earlier runs kept (--keep) or left after a crash: bench_* only. */
async function cleanupLeftovers() {
  const admin = new pg.Client({
    connectionString:
      process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  });
  await admin.connect();
  const { rows } = await admin.query(
    "SELECT datname FROM pg_database WHERE datname LIKE 'bench\\_%'",
  );
  for (const { datname } of rows) {
    await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    log(`dropped database ${datname}`);
  }
  await admin.end();
  for (const vhost of rabbitmqctl('list_vhosts', 'name').split('\n')) {
    if (!/^bench_\w+$/.test(vhost.trim())) continue;
    rabbitmqctl('delete_vhost', vhost.trim());
    log(`deleted vhost ${vhost.trim()}`);
  }
  await rm(join(root, '.tmp', 'bench', 'run'), { recursive: true, force: true });
}

async function main() {
  if (flag('cleanup')) {
    await cleanupLeftovers();
    return process.exit(0);
  }
  const startedAt = new Date();
  const killTimer = setTimeout(() => {
    console.error(`bench: hard limit of ${HARD_LIMIT_S} s reached, stopping`);
    process.exit(3);
  }, HARD_LIMIT_S * 1000);
  killTimer.unref();
  const m = await machine(root);
  log(`${MODE} run on ${m.cpus} × ${m.model}, commit ${m.commit}, load ${m.loadavg}`);
  // A rebuild in the work tree (nest build empties dist/ first) may be under way: wait a little.
  const { existsSync } = await import('node:fs');
  for (let i = 0; i < 60 && !existsSync(join(root, 'dist', 'main.js')); i++) await sleep(2000);
  if (!existsSync(join(root, 'dist', 'main.js'))) {
    throw new Error('dist/ is missing: run `npx nest build` first');
  }
  const iso = await isolate(root);
  let sys;
  let standins;
  let db;
  const results = [];
  let ok = true;
  try {
    const distDir = await snapshotDist(root, iso.work);
    log(`isolated: database/vhost/redis prefix ${iso.id}, private redis ${iso.redis.url}`);
    const pool = await photoPool(root, S.photos);
    log(`${pool.originals.length} photos ready`);
    standins = await startStandins(S);
    sys = new System(iso, distDir, standins, S);
    let topology = phases[0]?.topology ?? S.topology;
    await sys.start(topology);
    log(`system up (${topology}) at ${sys.base}`);
    db = new pg.Client({ connectionString: iso.databaseUrl });
    await db.connect();
    const ctx = {
      sys,
      standins,
      pool,
      db,
      settings: S,
      full: FULL,
      sharedFaults: flag('shared-faults'),
    };
    for (const phase of phases) {
      const want = phase.topology ?? S.topology;
      if (!phase.autocannon && !phase.pollHold && want !== topology) {
        log(`switching topology to ${want}`);
        await sys.stopAll();
        await sys.start(want);
        topology = want;
      }
      log(`phase ${phase.name} starts`);
      let r;
      if (phase.autocannon) {
        r = await runAutocannon(phase, ctx);
      } else if (phase.pollHold) {
        r = await runPollHold(phase, ctx);
      } else {
        r = await runJourneys(phase, ctx);
        // Completed jobs (with their owner's token) for the autocannon poll phase.
        const tokens = ctx.lastDriver.tokens;
        ctx.completedTargets = tokens?.length ? tokens : ctx.completedTargets;
      }
      await ctx.lastDriver?.close?.();
      results.push(r);
      log(
        `phase ${phase.name}: ${r.check?.ok ? 'ok' : `PROBLEMS: ${r.check?.problems.join('; ')}`}`,
      );
      if (r.latency) {
        log(
          `  submit ${fmtDist(r.latency.submit)} | poll ${fmtDist(r.latency.poll)} | guidance−vision(SSE) ${fmtDist(r.guidance.sseMinusVision)} | overhead server ${fmtDist(r.overhead.server)} | completed ${r.check.completed}/${r.check.accepted}, cache ${r.cache.hitRate} %`,
        );
      }
      if (r.check && !r.check.ok) ok = false;
    }
    const run = {
      mode: MODE,
      startedAt: startedAt.toISOString(),
      wallS: round((Date.now() - startedAt.getTime()) / 1000),
      machine: m,
      topology: [...new Set(phases.map((p) => p.topology ?? S.topology))].join(', then '),
      settings: S,
      phases,
      results,
      ok,
      note: process.env.BENCH_NOTE,
    };
    run.targets = targetsOf(results);
    const dir = join(root, '.tmp', 'bench');
    await mkdir(dir, { recursive: true });
    run.file = `${startedAt.toISOString().replace(/[:.]/g, '-')}-${MODE}.json`;
    await writeFile(join(dir, run.file), JSON.stringify(run, null, 2));
    const md = markdown(run);
    console.log(`\n${md}`);
    if (!flag('no-report')) {
      const doc = join(root, 'docs', 'benchmarks.md');
      let text = '';
      try {
        text = await readFile(doc, 'utf8');
      } catch {
        text = '# Benchmarks\n\n## Runs\n';
      }
      if (!text.includes('\n## Runs')) text += '\n## Runs\n';
      await writeFile(doc, `${text.trimEnd()}\n\n${md}`);
      log('report appended to docs/benchmarks.md');
    }
  } finally {
    await db?.end().catch(() => {});
    if (sys) await sys.stopAll().catch(() => {});
    standins?.child.kill('SIGTERM');
    await iso.cleanup({ keep: flag('keep') }).catch((e) => console.error('cleanup:', e.message));
  }
  log(ok ? 'no job lost, none duplicated, every job ended' : 'CORRECTNESS FAILURE');
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
