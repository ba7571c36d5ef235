// Steady arrival (issue 12; docs/benchmarks.md "Steady arrival"): at each rate R, new users
// arrive at R/s for 60 s (open loop, lib/steady.mjs), first against our system, then against the
// seed's stack (the peer) at the same R in the same run, and the report gives both side by side
// with the ratios (peer ÷ ours: > 1 means we are faster).
//
//   npm run bench:steady -- --rates 4,8,12,25 --peer ../shared/peers/seedstack
//
// Options: --rates a,b,c (users/s), --duration S (60), --topology all|split (all: one process,
// `npm start`'s role), --peer DIR (or BENCH_PEER; default ../shared/peers/seedstack from the
// repo root), --no-peer, --vision MS (3000) --llm MS (5000): the stand-ins' fixed latencies,
// --no-report (skip docs/benchmarks.md), --keep, --dist DIR (another build's dist/, e.g. an
// earlier commit's, for a before/after), --threads auto|on|off (ALL_ROLE_THREADS of the `all`
// role: its workers in a worker thread or on the API's event loop; default: the app's, auto).
//
// CPU per job is read from /proc for each group of processes: the app (our roles; the peer's
// uvicorn + Celery process group), PostgreSQL (the backends connected to the system's own
// database), Redis (each system has a private redis-server), RabbitMQ (the shared broker: its
// CPU includes other users' traffic), the stand-ins and this driver. "other cores" is what the
// rest of the machine used meanwhile — the noise.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import pg from 'pg';
import { verify } from './lib/checks.mjs';
import { clearImageCache } from './lib/journeys.mjs';
import { Peer } from './lib/peer.mjs';
import { photoPool } from './lib/photos.mjs';
import { commPids, groupPids, Meter, pgBackends } from './lib/procs.mjs';
import { dist, fmtDist, round, table } from './lib/stats.mjs';
import { LATENCIES, ratios, runRate, steadyTargets } from './lib/steady.mjs';
import { log, root, startStandins, System } from './lib/sut.mjs';
import { isolate, machine, snapshotDist } from './lib/system.mjs';

const argv = process.argv.slice(2);
const flag = (n) => argv.includes(`--${n}`);
const opt = (n, d) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 ? argv[i + 1] : d;
};
const RATES = opt('rates', '4,8,12,25').split(',').map(Number);
const DURATION_S = Number(opt('duration', '60'));
const VISION_MS = Number(opt('vision', '3000'));
const LLM_MS = Number(opt('llm', '5000'));
const TOPOLOGY = opt('topology', 'all');
const THREADS = opt('threads', undefined);
const peerOpt = opt('peer', process.env.BENCH_PEER ?? '../shared/peers/seedstack');
/** A relative --peer is taken from the repo root, or (in a git worktree) from the main checkout's. */
function peerDir() {
  if (flag('no-peer')) return null;
  if (isAbsolute(peerOpt)) return peerOpt;
  const here = join(root, peerOpt);
  if (existsSync(here)) return here;
  try {
    const common = execFileSync(
      'git',
      ['rev-parse', '--path-format=absolute', '--git-common-dir'],
      {
        cwd: root,
        stdio: 'pipe',
      },
    );
    return join(dirname(common.toString().trim()), peerOpt);
  } catch {
    return here;
  }
}
const PEER_DIR = peerDir();
// Each rate: arrivals + at most 60 s following + checks, both systems; plus start-up.
const HARD_LIMIT_S = 300 + RATES.length * 2 * (DURATION_S + 120);

const S = {
  vision: `${VISION_MS}-${VISION_MS}`,
  llm: `${LLM_MS}-${LLM_MS}`,
  visionTimeoutMs: VISION_MS + 5000,
  threads: THREADS,
};

/** The busiest threads of the app's processes over a window, in cores: "main 0.71 · 0.52 · 0.05". */
function busiestThreads(before, after, wallS) {
  const first = new Map(before.map((t) => [`${t.pid}/${t.tid}`, t.cpuS]));
  const used = after
    .map((t) => ({ ...t, d: t.cpuS - (first.get(`${t.pid}/${t.tid}`) ?? 0) }))
    .sort((a, b) => b.d - a.d)
    .slice(0, 3);
  return used.map((t) => `${t.main ? `${t.role} main ` : ''}${round(t.d / wallS, 2)}`).join(' · ');
}

function meterSet(pidsOfApp, db, dbName, redisPid, rabbitPids, standins) {
  return [
    new Meter('app', pidsOfApp),
    new Meter('postgres', pgBackends(db, dbName)),
    new Meter('rabbitmq', async () => rabbitPids),
    new Meter('redis', async () => [redisPid]),
    new Meter('stand-ins', async () => [standins.child.pid]),
    new Meter('driver', async () => [process.pid]),
  ];
}

const GROUPS = ['app', 'postgres', 'rabbitmq', 'redis', 'stand-ins', 'driver'];

/**
 * Our pipeline's own overhead with no probe in it: each completed job's server timings (queued →
 * completed, minus the vision and coaching calls), for the jobs that called vision since `since`.
 */
async function serverOverhead(db, since) {
  const { rows } = await db.query(
    `SELECT (result->'timings'->>'totalMs')::int - (result->'timings'->>'visionMs')::int
            - coalesce((result->'timings'->>'coachingMs')::int, 0) AS ms
       FROM waste.jobs
      WHERE status = 'completed' AND created_at >= $1
        AND result->'timings'->>'visionMs' IS NOT NULL AND result->'timings'->>'totalMs' IS NOT NULL`,
    [since],
  );
  return dist(rows.map((r) => r.ms));
}

/** The p95 of a 50 ms probe's own sampling delay (uniform in [0, 50) ms): in both systems' figures. */
const PROBE_P95_MS = 47.5;

function markdown(run) {
  const m = run.machine;
  const L = [
    `### ${run.startedAt.slice(0, 16).replace('T', ' ')} UTC — steady arrival (${run.topology}${run.threads ? `, ALL_ROLE_THREADS=${run.threads}` : ''}${run.peerDir ? ', peer side by side' : ''})`,
    '',
    `Machine: ${m.cpus} × ${m.model}, ${m.memGb} GB, Node ${m.node}, load average at start ${m.loadavg}. Commit \`${m.commit}\`${m.dirty ? ' (+ uncommitted src changes)' : ''}. ${run.durationS} s of arrivals per rate; vision ${VISION_MS} ms, LLM ${LLM_MS} ms (fixed); every photo new to both systems (caches emptied per rate); every ${10}th user polls every 50 ms (a probe: guidance and overhead are read from the probes; a 0.5 s poller adds up to 500 ms of its own schedule, shown apart). Wall time ${run.wallS} s.`,
    '',
    '**Latency** (p50 / p95 / p99, ms) and completion',
    '',
  ];
  const rows = [
    [
      'R',
      'system',
      'completed',
      'submit (analyze+PUT+complete)',
      'status poll',
      'guidance − vision (probes)',
      'overhead (probes)',
      'overhead (0.5 s pollers)',
      'other cores (noise)',
    ],
  ];
  for (const r of run.rates) {
    for (const [name, x] of [
      ['ours', r.ours],
      ['peer', r.peer],
    ]) {
      if (!x) continue;
      rows.push([
        r.rate,
        name,
        `${x.completed}/${x.users}${x.driverLate ? ` (driver late ×${x.driverLate})` : ''}`,
        fmtDist(x.submit),
        fmtDist(x.poll),
        fmtDist(x.guidanceMinusVision),
        fmtDist(x.overhead),
        fmtDist(x.overheadAllPollers),
        x.otherCores,
      ]);
    }
    if (r.peer)
      rows.push([
        r.rate,
        '**peer ÷ ours (p95)**',
        '',
        ...LATENCIES.map(([k]) => `**${r.ratios[k] ?? '–'}×**`),
        '',
        '',
      ]);
  }
  L.push(table(rows), '');
  const withServer = run.rates.filter((r) => r.ours.serverOverhead?.n);
  if (withServer.length)
    L.push(
      `Our pipeline's own overhead, from the jobs' server timings (queued → completed, minus the vision and coaching calls; no probe in it), p50 / p95 / p99: ${withServer.map((r) => `R=${r.rate} ${fmtDist(r.ours.serverOverhead)}`).join('; ')}.`,
      '',
      `A 50 ms probe sees a job end at its next poll: its own sampling delay, uniform in [0, 50) ms (p95 ${PROBE_P95_MS} ms), is in both systems' overhead figures, so even a pipeline with no overhead at all would show an overhead p95 of ~${PROBE_P95_MS} ms, and a peer ÷ ours ratio of at most ${
        run.rates
          .filter((r) => r.peer?.overhead?.p95)
          .map((r) => `${round(r.peer.overhead.p95 / PROBE_P95_MS, 2)}× (R=${r.rate})`)
          .join(', ') || '(no peer in this run)'
      }.`,
      '',
    );
  L.push('**CPU ms per completed job** (by process group) and max RSS (MB)', '');
  const cpu = [
    ['R', 'system', ...GROUPS.map((g) => `${g} CPU`), 'app RSS', 'postgres RSS', 'redis RSS'],
  ];
  for (const r of run.rates)
    for (const [name, x] of [
      ['ours', r.ours],
      ['peer', r.peer],
    ])
      if (x)
        cpu.push([
          r.rate,
          name,
          ...GROUPS.map((g) => x.cpuMsPerJob[g]),
          x.maxRssMb.app,
          x.maxRssMb.postgres,
          x.maxRssMb.redis,
        ]);
  L.push(table(cpu));
  const threadLines = run.rates.filter((r) => r.ours.threadCores);
  if (threadLines.length)
    L.push(
      '',
      `Busiest threads of our app (cores, over the rate's window): ${threadLines.map((r) => `R=${r.rate}: ${r.ours.threadCores}`).join('; ')}.`,
    );
  L.push(
    '',
    '**Targets** (issue 12, item 2)',
    '',
    table([['what', 'measured', 'target', ''], ...run.targets]),
  );
  const bad = run.rates.filter((r) => r.check && !r.check.ok);
  if (bad.length) {
    L.push('', '**Problems**', '');
    for (const r of bad) L.push(`- R=${r.rate}: ${r.check.problems.join('; ')}`);
  }
  L.push('', `Raw figures: \`.tmp/bench/${run.file}\`.`, '');
  return L.join('\n');
}

async function main() {
  const startedAt = new Date();
  setTimeout(() => {
    console.error(`bench:steady: hard limit of ${HARD_LIMIT_S} s reached, stopping`);
    process.exit(3);
  }, HARD_LIMIT_S * 1000).unref();
  const m = await machine(root);
  log(
    `steady run on ${m.cpus} × ${m.model}, commit ${m.commit}, load ${m.loadavg}; rates ${RATES.join(', ')}`,
  );
  const iso = await isolate(root);
  let sys;
  let standins;
  let peer;
  let db;
  let admin;
  let ok = true;
  try {
    const distDir = await snapshotDist(
      root,
      iso.work,
      opt('dist') ? resolve(root, opt('dist')) : undefined,
    );
    // Photos before the clock: enough new ones for the highest rate.
    const pool = await photoPool(root, Math.max(...RATES) * DURATION_S);
    log(`${pool.originals.length} photos ready`);
    standins = await startStandins(S);
    sys = new System(iso, distDir, standins, S);
    await sys.start(TOPOLOGY);
    log(`system up (${TOPOLOGY}) at ${sys.base}`);
    db = new pg.Client({ connectionString: iso.databaseUrl });
    await db.connect();
    admin = new pg.Client({
      connectionString:
        process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    });
    await admin.connect();
    const rabbitPids = await commPids('beam.smp')();
    if (PEER_DIR) {
      peer = await new Peer(PEER_DIR, iso, standins).start();
      log(`peer up at ${peer.base} (${PEER_DIR})`);
    }
    const oursMeters = meterSet(
      async () => sys.roles.map((r) => r.pid),
      admin,
      iso.id,
      iso.redis.pid,
      rabbitPids,
      standins,
    );
    const peerMeters = peer
      ? meterSet(groupPids(peer.pgid), admin, peer.dbName, peer.redis.pid, rabbitPids, standins)
      : [];
    const results = [];
    for (const rate of RATES) {
      log(`R=${rate}: ours`);
      await clearImageCache(iso);
      const since = new Date();
      const threads0 = await sys.threadCpu();
      const ours = await runRate({
        base: sys.base,
        rate,
        durationS: DURATION_S,
        pool,
        meters: oursMeters,
        visionMs: VISION_MS,
        llmMs: LLM_MS,
        log,
      });
      ours.threadCores = busiestThreads(threads0, await sys.threadCpu(), ours.wallS);
      const check = await verify(db, ours.journeys, { drainMs: 30_000, since });
      if (!check.ok) ok = false;
      ours.serverOverhead = await serverOverhead(db, since);
      delete ours.journeys;
      log(
        `R=${rate} ours: ${ours.completed}/${ours.users} completed, submit ${fmtDist(ours.submit)}, poll ${fmtDist(ours.poll)}, overhead ${fmtDist(ours.overhead)}; busiest threads (cores) ${ours.threadCores}`,
      );
      let peerR;
      if (peer) {
        log(`R=${rate}: peer`);
        await peer.clearCache();
        peerR = await runRate({
          base: peer.base,
          rate,
          durationS: DURATION_S,
          pool,
          meters: peerMeters,
          visionMs: VISION_MS,
          llmMs: LLM_MS,
          log,
        });
        delete peerR.journeys;
        log(
          `R=${rate} peer: ${peerR.completed}/${peerR.users} completed, submit ${fmtDist(peerR.submit)}, poll ${fmtDist(peerR.poll)}, overhead ${fmtDist(peerR.overhead)}`,
        );
      }
      const r = { rate, ours, peer: peerR, check: { ok: check.ok, problems: check.problems } };
      r.ratios = ratios(ours, peerR);
      results.push(r);
      if (peerR) log(`R=${rate} peer ÷ ours (p95): ${JSON.stringify(r.ratios)}`);
    }
    const run = {
      mode: 'steady',
      startedAt: startedAt.toISOString(),
      wallS: round((Date.now() - startedAt.getTime()) / 1000),
      machine: m,
      topology: TOPOLOGY,
      threads: THREADS ?? null,
      durationS: DURATION_S,
      settings: { ...S, rates: RATES },
      peerDir: PEER_DIR,
      rates: results,
      ok,
    };
    run.targets = results.flatMap(steadyTargets);
    const dir = join(root, '.tmp', 'bench');
    await mkdir(dir, { recursive: true });
    run.file = `${startedAt.toISOString().replace(/[:.]/g, '-')}-steady.json`;
    await writeFile(join(dir, run.file), JSON.stringify(run, null, 2));
    const md = markdown(run);
    console.log(`\n${md}`);
    if (!flag('no-report')) {
      const doc = join(root, 'docs', 'benchmarks.md');
      let text = await readFile(doc, 'utf8');
      if (!text.includes('\n## Runs')) text += '\n## Runs\n';
      await writeFile(doc, `${text.trimEnd()}\n\n${md}`);
      log('report appended to docs/benchmarks.md');
    }
  } finally {
    await db?.end().catch(() => {});
    await admin?.end().catch(() => {});
    if (sys) await sys.stopAll().catch(() => {});
    if (peer) await peer.stop().catch((e) => console.error('peer stop:', e.message));
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
