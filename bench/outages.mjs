// Outages of our own dependencies under a steady stream of new jobs (issue 16):
//   node bench/outages.mjs [--topology all|split|both] [--only name,name] [--rate 5]
// Per scenario: accepted, completed, failed by code, still open a minute after the outage,
// duplicated, and what the API answered during the outage (status counts and latency per call).
// Scenarios: RabbitMQ unreachable 10 s; Redis restarted empty after 10 s (as documented, it
// keeps nothing: the beat schedule must come back); PostgreSQL unreachable 90 s (longer than the
// ~63 s retry budget); split only: no fast worker for 75 s (q.fast's 60 s TTL).
// Faults never touch a shared service: PostgreSQL and RabbitMQ are reached through TCP proxies
// of this run that are cut (bench/outages/tcp-proxy.mjs), Redis is a private redis-server.
// Figures: .tmp/bench/outages-<time>.json; the markdown is printed (docs/benchmarks.md → Outages).
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { verify } from './lib/checks.mjs';
import { photoPool } from './lib/photos.mjs';
import { dist, table } from './lib/stats.mjs';
import { log, root, startStandins, System } from './lib/sut.mjs';
import { isolate, machine, sleep, snapshotDist } from './lib/system.mjs';
import { OutageLoad } from './outages/load.mjs';
import { TcpProxy } from './outages/tcp-proxy.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const TOPOLOGIES = { all: ['all'], split: ['split'], both: ['all', 'split'] }[
  arg('topology', 'both')
];
const ONLY = arg('only', '')?.split(',').filter(Boolean);
const RATE = Number(arg('rate', '5'));
const BEFORE_S = 10;
const AFTER_S = 15;
const DRAIN_MS = 60_000;

const SCENARIOS = [
  {
    name: 'rabbitmq-10s',
    what: 'RabbitMQ unreachable for 10 s',
    outageS: 10,
    down: (ctx) => ctx.amqpProxy.cut(),
    up: (ctx) => ctx.amqpProxy.restore(),
  },
  {
    name: 'redis-restart-10s',
    what: 'Redis stopped 10 s, back empty (no persistence)',
    outageS: 10,
    down: async (ctx) => {
      await ctx.iso.redis.stop();
      await rm(join(ctx.iso.redis.dir, 'dump.rdb'), { force: true });
    },
    up: async (ctx) => {
      await ctx.iso.redis.start();
      ctx.redisBackAt = Date.now();
    },
    after: async (ctx, r) => {
      // When is beat's schedule registered again (all four entries)?
      const key = `${ctx.iso.env.REDIS_PREFIX}:bull:schedule:repeat`;
      const until = Date.now() + 90_000;
      while (Date.now() < until) {
        const n = Number(
          execFileSync('redis-cli', ['-p', String(ctx.iso.redis.port), 'ZCARD', key]).toString(),
        );
        if (n >= 4) {
          r.scheduleBackAfterS = Math.round((Date.now() - ctx.redisBackAt) / 100) / 10;
          return;
        }
        await sleep(250);
      }
      r.scheduleBackAfterS = 'not within 90 s';
    },
  },
  {
    name: 'postgres-90s',
    what: 'PostgreSQL unreachable for 90 s',
    outageS: 90,
    down: (ctx) => ctx.pgProxy.cut(),
    up: (ctx) => ctx.pgProxy.restore(),
  },
  {
    name: 'no-fast-75s',
    what: 'no fast worker for 75 s',
    topologies: ['split'],
    outageS: 75,
    down: (ctx) => ctx.sys.role('fast').stop('SIGTERM', 30_000),
    up: async (ctx) => {
      const i = ctx.sys.roles.indexOf(ctx.sys.role('fast'));
      ctx.sys.roles[i] = await ctx.sys.spawnRole('fast');
    },
  },
];

/** What the API answered during [from, to): per call kind and status, count and latency. */
function answers(calls, from, to) {
  const groups = new Map();
  for (const c of calls) {
    if (c.t < from || c.t >= to) continue;
    const k = `${c.what} ${c.status}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(c.ms);
  }
  return Object.fromEntries([...groups].sort().map(([k, ms]) => [k, dist(ms)]));
}

async function scenario(ctx, s) {
  const load = new OutageLoad(ctx.sys.base, ctx.photos);
  await load.login();
  const since = new Date();
  let followDeadline = Infinity;
  load.run(RATE, () => followDeadline);
  await sleep(BEFORE_S * 1000);
  log(`${s.name}: ${s.what}`);
  const downAt = Date.now();
  await s.down(ctx);
  await sleep(s.outageS * 1000);
  const upAt = Date.now();
  await s.up(ctx);
  log(`${s.name}: back after ${Math.round((upAt - downAt) / 1000)} s`);
  const r = { scenario: s.name, what: s.what, topology: ctx.topology };
  const afterP = s.after?.(ctx, r);
  await sleep(AFTER_S * 1000);
  load.stop();
  // Clients follow their jobs for at most a minute after the outage ended.
  followDeadline = Math.max(Date.now(), upAt + DRAIN_MS);
  await load.settle();
  await afterP;
  const db = new pg.Client({ connectionString: ctx.iso.databaseUrl });
  await db.connect();
  try {
    const v = await verify(db, load.journeys, {
      drainMs: Math.max(0, upAt + DRAIN_MS - Date.now()),
      since,
      expectedFailures: ['BACKLOG_EXPIRED', 'PROCESSING_FAILED', 'TIMEOUT'],
    });
    // Jobs accepted during the outage: how long until they ended (from acceptance).
    const during = load.journeys.filter(
      (j) => j.accepted && j.acceptedAt >= downAt && j.acceptedAt < upAt,
    );
    const { rows: dup } = await db.query(
      `SELECT count(*)::int AS n FROM (SELECT job_id FROM users.history GROUP BY job_id HAVING count(*) > 1) d`,
    );
    const { rows: disagree } = await db.query(
      `SELECT count(*)::int AS n FROM waste.jobs j JOIN users.history h ON h.job_id = j.id
        WHERE h.status <> j.status`,
    );
    // How long after it was queued a job nobody could start ended (q.fast's TTL is 60 s).
    const { rows: expired } = await db.query(
      `SELECT EXTRACT(EPOCH FROM (finished_at - queued_at)) * 1000 AS ms FROM waste.jobs
        WHERE error_code = 'BACKLOG_EXPIRED' AND created_at >= $1`,
      [since],
    );
    Object.assign(r, {
      backlogExpiredAfterQueuedMs: dist(expired.map((e) => Number(e.ms))),
      submitted: v.submitted,
      accepted: v.accepted,
      notAccepted: v.notAccepted,
      completed: v.completed,
      failedByCode: v.failures,
      stillOpenAfterAMinute: v.lost,
      openSample: v.lostSample,
      duplicated: dup[0].n,
      historyDisagrees: disagree[0].n + v.historyMissing + v.historyExtra,
      problems: v.problems,
      outageS: Math.round((upAt - downAt) / 100) / 10,
      answeredDuringOutage: answers(load.calls, downAt, upAt),
      acceptedDuringOutage: during.length,
      endAfterAcceptDuringOutageMs: dist(
        during.filter((j) => j.endedAt).map((j) => j.endedAt - j.acceptedAt),
      ),
    });
  } finally {
    await db.end();
    await load.close();
  }
  log(
    `${s.name}: accepted ${r.accepted}, completed ${r.completed}, failed ${JSON.stringify(r.failedByCode)}, open ${r.stillOpenAfterAMinute}`,
  );
  return r;
}

function markdown(run) {
  const L = [
    `Run ${run.startedAt} on ${run.machine.cpus} × ${run.machine.model}, commit ${run.machine.commit}, ` +
      `${RATE} new jobs/s, stand-in vision 300–600 ms and LLM 200–400 ms.`,
    '',
  ];
  const rows = [
    [
      'topology',
      'outage',
      'accepted (of submitted)',
      'completed',
      'failed by code',
      'open after 1 min',
      'duplicated',
      'history ≠ job',
      'accepted during outage → ended in',
      'BACKLOG_EXPIRED after queued',
    ],
  ];
  for (const r of run.results) {
    rows.push([
      r.topology,
      r.what,
      `${r.accepted} (${r.submitted})`,
      r.completed,
      Object.entries(r.failedByCode ?? {})
        .map(([c, n]) => `${c} ${n}`)
        .join(', ') || '0',
      r.stillOpenAfterAMinute,
      r.duplicated,
      r.historyDisagrees,
      r.endAfterAcceptDuringOutageMs?.n
        ? `n=${r.endAfterAcceptDuringOutageMs.n}: p50 ${r.endAfterAcceptDuringOutageMs.p50} / max ${r.endAfterAcceptDuringOutageMs.max} ms`
        : '–',
      r.backlogExpiredAfterQueuedMs?.n
        ? `p50 ${r.backlogExpiredAfterQueuedMs.p50} / max ${r.backlogExpiredAfterQueuedMs.max} ms`
        : '–',
    ]);
  }
  L.push(table(rows), '', '**What the API answered during each outage** (count; p50 / max ms)', '');
  const a = [['topology', 'outage', 'answers']];
  for (const r of run.results) {
    a.push([
      r.topology,
      r.scenario,
      Object.entries(r.answeredDuringOutage ?? {})
        .map(([k, d]) => `${k}: ${d.n}× ${d.p50}/${d.max}`)
        .join('; '),
    ]);
  }
  L.push(table(a));
  const extra = run.results.filter((r) => r.scheduleBackAfterS !== undefined);
  for (const r of extra) {
    L.push(
      '',
      `- ${r.topology}, ${r.scenario}: beat's schedule back ${r.scheduleBackAfterS} s after Redis.`,
    );
  }
  const bad = run.results.filter((r) => r.problems?.length);
  for (const r of bad) L.push(`- ${r.topology}, ${r.scenario}: ${r.problems.join('; ')}`);
  return L.join('\n');
}

async function main() {
  const startedAt = new Date().toISOString();
  const m = await machine(root);
  log(`outages on ${m.cpus} × ${m.model}, commit ${m.commit}, load ${m.loadavg}`);
  const photos = (await photoPool(root, 60)).originals;
  const results = [];
  for (const topology of TOPOLOGIES) {
    const iso = await isolate(root);
    const pgUrl = new URL(iso.env.DATABASE_URL);
    const amqpUrl = new URL(iso.env.RABBITMQ_URL);
    const pgProxy = await new TcpProxy(pgUrl.hostname, Number(pgUrl.port || 5432)).start();
    const amqpProxy = await new TcpProxy(amqpUrl.hostname, Number(amqpUrl.port || 5672)).start();
    iso.env.DATABASE_URL = pgProxy.url(iso.env.DATABASE_URL);
    iso.env.RABBITMQ_URL = amqpProxy.url(iso.env.RABBITMQ_URL);
    const standins = await startStandins({ vision: '300-600', llm: '200-400' });
    const distDir = await snapshotDist(root, iso.work);
    const sys = new System(iso, distDir, standins, { visionTimeoutMs: 10_000 });
    const ctx = { iso, sys, pgProxy, amqpProxy, photos, topology };
    try {
      await sys.start(topology);
      for (const s of SCENARIOS) {
        if (s.topologies && !s.topologies.includes(topology)) continue;
        if (ONLY?.length && !ONLY.includes(s.name)) continue;
        results.push(await scenario(ctx, s));
        await sys.ensureAlive();
      }
    } finally {
      await sys.saveLogs('outages').catch(() => undefined);
      await sys.stopAll().catch(() => undefined);
      standins.child.kill();
      await pgProxy.cut();
      await amqpProxy.cut();
      await iso.cleanup({ keep: process.env.BENCH_KEEP === '1' });
    }
  }
  const run = { startedAt, machine: m, rate: RATE, results };
  const dir = join(root, '.tmp', 'bench');
  await mkdir(dir, { recursive: true });
  const file = `outages-${startedAt.replace(/[:.]/g, '-')}.json`;
  await writeFile(join(dir, file), JSON.stringify(run, null, 2));
  console.log(markdown(run));
  log(`raw figures: .tmp/bench/${file}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
