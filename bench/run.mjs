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
// Everything listens on 127.0.0.1 (the roles run with BIND_HOST=127.0.0.1); every phase is
// bounded in users, journeys and seconds; the run stops by itself and removes what it created.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import pg from 'pg';
import { verify } from './lib/checks.mjs';
import { photoPool } from './lib/photos.mjs';
import { diffCounters, dist, fmtDist, parseMetrics, round, table } from './lib/stats.mjs';
import {
  freePort,
  isolate,
  machine,
  procSample,
  rabbitmqctl,
  Role,
  sleep,
  snapshotDist,
  waitReady,
} from './lib/system.mjs';
import { Driver, PhotoPicker, Recorder } from './lib/vu.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
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
// The system

const log = (...a) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

class System {
  constructor(iso, distDir, standins) {
    this.iso = iso;
    this.dist = distDir;
    this.standins = standins;
    this.roles = [];
    this.jwtSecret = randomBytes(32).toString('hex');
  }

  env(role, port, metricsPort) {
    const sa = this.standins.info;
    return {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      APP_ROLE: role,
      BIND_HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
      JWT_SECRET: this.jwtSecret,
      JWT_ACCESS_TTL: '2h',
      PUBLIC_BASE_URL: `http://127.0.0.1:${this.apiPort}`,
      VISION_PROVIDER: 'roboflow',
      ROBOFLOW_API_URL: sa.visionUrl,
      ROBOFLOW_API_KEY: sa.apiKey,
      ROBOFLOW_MODEL: 'taco-trash/3',
      VISION_TIMEOUT_MS: String(S.visionTimeoutMs),
      LLM_PROVIDER: 'openai',
      OPENAI_BASE_URL: sa.llmUrl,
      OPENAI_API_KEY: 'bench',
      LLM_TIMEOUT_MS: '15000',
      // The app's defaults since finding 3 (the seed's 4 / 16 stalled the pipeline at 500 users).
      PREFETCH_EXTERNAL: process.env.BENCH_PREFETCH_EXTERNAL ?? '256',
      PREFETCH_FAST: process.env.BENCH_PREFETCH_FAST ?? '32',
      RATE_LIMIT_LOGIN_PER_IP: '0',
      RATE_LIMIT_LOGIN_PER_USER: '0',
      RATE_LIMIT_ANALYZE_PER_IP: '0',
      RATE_LIMIT_ANALYZE_PER_USER: '0',
      LOCATIONS_SAMPLE_DATA: 'false',
      TRUSTED_PROXY_HOPS: '0',
      ...this.iso.env,
      // BENCH_APP_X=v sets X=v in every role (e.g. BENCH_APP_PREFETCH_FAST=16).
      ...Object.fromEntries(
        Object.entries(process.env)
          .filter(([k]) => k.startsWith('BENCH_APP_'))
          .map(([k, v]) => [k.slice('BENCH_APP_'.length), v]),
      ),
    };
  }

  async spawnRole(name) {
    const metricsPort = await freePort();
    const http = name === 'api' || name === 'all';
    const port = http ? this.apiPort : 0;
    const script = join(this.dist, http ? 'main.js' : 'worker.js');
    const role = new Role(name, () =>
      spawn(process.execPath, [...(process.env.BENCH_NODE_ARGS?.split(' ') ?? []), script], {
        cwd: root,
        env: this.env(name, port, metricsPort),
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    role.metricsPort = metricsPort;
    // A supervisor, as Kubernetes would be: a role that dies by itself is restarted 2 s later
    // and the crash is reported (with the last lines it logged).
    role.onCrash = (dead, how) => void this.restartCrashed(dead, how);
    role.start();
    await waitReady(metricsPort, role, 90_000);
    return role;
  }

  async start(topology) {
    this.topology = topology;
    this.apiPort ??= await freePort();
    if (topology === 'all') {
      this.roles = [await this.spawnRole('all')];
    } else {
      const migrate = spawn(process.execPath, [join(this.dist, 'core/database/migrate.js')], {
        cwd: root,
        env: this.env('api', 0, 0),
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const [code] = await once(migrate, 'exit');
      if (code !== 0) throw new Error(`migrations failed (${code})`);
      this.roles = [];
      for (const r of ['api', 'fast', 'external', 'bulk', 'beat']) {
        this.roles.push(await this.spawnRole(r));
      }
    }
    this.base = `http://127.0.0.1:${this.apiPort}`;
  }

  role(name) {
    return this.roles.find((r) => r.name === name);
  }

  /** The roles' last log lines (LOG_LEVEL=warn), for a look after a problem. */
  async saveLogs(phase) {
    const dir = join(root, '.tmp', 'bench', 'logs', this.iso.id);
    await mkdir(dir, { recursive: true });
    const all = [...this.roles, ...(this.retired ?? [])];
    await Promise.all(
      all.map((r, i) => writeFile(join(dir, `${phase}-${r.name}-${i}.log`), r.log.join(''))),
    );
    this.retired = [];
  }

  async restartCrashed(dead, how) {
    const tail = dead.log.join('').slice(-4000);
    const reason =
      /^(\w*Error: .*)$/m.exec(tail.split('triggerUncaughtException').pop() ?? '')?.[1] ??
      String(how);
    (this.crashes ??= []).push({ role: dead.name, at: new Date().toISOString(), how, reason });
    log(`${dead.name} crashed (${how}: ${reason}); restarting it in 2 s`);
    await sleep(2000);
    if (!this.roles.includes(dead)) return;
    const fresh = await this.spawnRole(dead.name);
    fresh.cpuS += dead.totalCpuS();
    fresh.maxRssMb = dead.maxRssMb;
    fresh.restarts = dead.restarts + 1;
    this.roles[this.roles.indexOf(dead)] = fresh;
    (this.retired ??= []).push(dead);
  }

  /** A role that died on its own (not by a fault) is restarted and reported. */
  async ensureAlive() {
    const dead = this.roles.filter((r) => r.proc.exitCode !== null || r.proc.signalCode);
    for (const old of dead) {
      log(`${old.name} had exited (${old.proc.exitCode ?? old.proc.signalCode}); restarting it`);
      const fresh = await this.spawnRole(old.name);
      fresh.cpuS += old.totalCpuS();
      fresh.restarts = old.restarts + 1;
      this.roles[this.roles.indexOf(old)] = fresh;
    }
    return dead.map((r) => r.name);
  }

  async stopAll() {
    await Promise.all(this.roles.map((r) => r.stop('SIGTERM', 30_000)));
    this.roles = [];
  }

  /** Replaces a role's process: SIGKILL (crash) or start-new-then-SIGTERM-old (rolling). */
  async replace(name, how) {
    const old = this.role(name);
    if (how === 'kill') {
      await old.stop('SIGKILL');
      await sleep(2000);
      const fresh = await this.spawnRole(name);
      fresh.cpuS += old.totalCpuS();
      fresh.maxRssMb = old.maxRssMb;
      fresh.restarts = old.restarts + 1;
      this.roles[this.roles.indexOf(old)] = fresh;
      (this.retired ??= []).push(old);
      return;
    }
    const fresh = await this.spawnRole(name);
    await old.stop('SIGTERM', 30_000);
    fresh.cpuS += old.totalCpuS();
    fresh.maxRssMb = Math.max(fresh.maxRssMb, old.maxRssMb);
    fresh.restarts = old.restarts + 1;
    this.roles[this.roles.indexOf(old)] = fresh;
    (this.retired ??= []).push(old);
  }

  async metrics() {
    const texts = await Promise.all(
      this.roles.map(async (r) => {
        try {
          return await (await fetch(`http://127.0.0.1:${r.metricsPort}/metrics`)).text();
        } catch {
          return '';
        }
      }),
    );
    return parseMetrics(texts, [
      'waste_cache_lookups_total',
      'recycling_coaching_total',
      'waste_jobs_total',
      'task_messages_total',
      'http_request_duration_seconds_bucket',
      'http_request_duration_seconds_sum',
      'http_request_duration_seconds_count',
    ]);
  }
}

async function startStandins() {
  const child = spawn(
    process.execPath,
    [join(root, 'bench', 'standins.mjs'), '--vision', S.vision, '--llm', S.llm],
    { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] },
  );
  const rl = createInterface({ input: child.stdout });
  const [line] = await once(rl, 'line');
  const info = JSON.parse(line);
  const ctl = async (path, method = 'GET') =>
    (await fetch(`${info.controlUrl}${path}`, { method })).json();
  const watch = new Role('stand-ins', () => child);
  watch.proc = child;
  watch.pid = child.pid;
  return { info, ctl, child, watch };
}

// ---------------------------------------------------------------------------------------------
// Faults (each returns a description of what was done)

async function inject(fault, sys, standins, phase) {
  switch (fault) {
    case 'kill-workers': {
      const times = phase.kills ?? 3;
      for (let i = 0; i < times; i++) {
        if (i) await sleep(8000);
        await Promise.all([sys.replace('fast', 'kill'), sys.replace('external', 'kill')]);
      }
      return `SIGKILL fast and external mid-run, ${times} times 8 s apart; new processes started 2 s after each kill`;
    }
    case 'rabbitmq-restart': {
      if (flag('shared-faults')) {
        const down = Date.now();
        try {
          rabbitmqctl('stop_app');
          await sleep(5000);
        } finally {
          rabbitmqctl('start_app');
        }
        return `rabbitmqctl stop_app, 5 s, start_app: the shared broker (every vhost) down ${round((Date.now() - down) / 1000)} s`;
      }
      // This run's vhost only: revoke access and drop every connection, so reconnects are
      // refused for 10 s as during a broker restart; durable queues and persistent messages stay.
      rabbitmqctl('clear_permissions', '-p', sys.iso.vhost, 'guest');
      rabbitmqctl('close_all_connections', '--vhost', sys.iso.vhost, 'bench: broker restart');
      await sleep(10_000);
      rabbitmqctl('set_permissions', '-p', sys.iso.vhost, 'guest', '.*', '.*', '.*');
      return 'vhost cut off: permissions revoked + all connections closed for 10 s, then restored (the shared broker itself stays up)';
    }
    case 'redis-stop': {
      await sys.iso.redis.stop();
      await sleep(10_000);
      await sys.iso.redis.start();
      return 'private redis-server: SHUTDOWN SAVE, down 10 s, started again on the same port and RDB';
    }
    case 'vision-faults': {
      const seconds = phase.faultSeconds ?? 30;
      await standins.ctl(`/fault?target=vision&seconds=${seconds}&mode=mixed`, 'POST');
      await sleep(seconds * 1000);
      return `stand-in vision answers 429 (Retry-After 1) / 503 (Retry-After 2) / never (timeout) for ${seconds} s`;
    }
    case 'rolling-sigterm': {
      for (const name of ['fast', 'external', 'bulk', 'beat']) await sys.replace(name, 'rolling');
      return 'rolling update: for each worker role, start a new process, then SIGTERM the old one';
    }
    default:
      throw new Error(`unknown fault ${fault}`);
  }
}

const EXPECTED_FAILURES = {
  'vision-faults': ['VISION_UNAVAILABLE', 'TIMEOUT'],
};

// ---------------------------------------------------------------------------------------------
// Phases

/** Drops the image cache (exact and dHash band keys) from the bench's private Redis. */
async function clearImageCache(iso) {
  const Redis = (await import('ioredis')).default;
  const redis = new Redis(iso.redis.url);
  try {
    for (const pattern of [`${iso.id}:waste:img:*`, `${iso.id}:waste:phash:*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        if (keys.length) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
}

async function runJourneys(phase, ctx) {
  const { sys, standins, db } = ctx;
  const rec = new Recorder();
  const driver = new Driver({
    base: sys.base,
    rec,
    photos: undefined,
    followTimeoutMs: FULL ? 60_000 : 30_000,
  });
  ctx.lastDriver = driver;
  ctx.tokens ??= [];
  const died = await sys.ensureAlive();
  const crashes0 = sys.crashes?.length ?? 0;
  // Each phase starts with a cold image cache and its own photo cycle, so "new" photos are new.
  await clearImageCache(sys.iso);
  ctx.picker = new PhotoPicker(ctx.pool, S.mix);
  driver.photos = ctx.picker;
  await standins.ctl('/reset', 'POST');
  const m0 = await sys.metrics();
  const restarts0 = new Map(sys.roles.map((r) => [r.name, r.restarts]));
  const cpu0 = new Map(sys.roles.map((r) => [r.name, r.totalCpuS()]));
  const sCpu0 = (await procSample(standins.child.pid))?.cpuS ?? 0;
  const lg0 = process.cpuUsage();
  const t0 = Date.now();
  driver.stopAt = t0 + phase.durationS * 1000;

  const users = [];
  const total = phase.poll + phase.sse;
  for (let u = 0; u < total; u++) {
    users.push(
      driver.user(u, {
        follow: u < phase.poll ? 'poll' : 'sse',
        journeys: phase.journeys,
        thinkMs: phase.think,
        startDelayMs: (u / total) * phase.rampS * 1000,
      }),
    );
  }
  let faultNote;
  const fault = phase.fault
    ? sleep(phase.faultAtS * 1000).then(async () => {
        log(`${phase.name}: fault ${phase.fault}`);
        faultNote = await inject(phase.fault, sys, standins, phase);
        log(`${phase.name}: fault over`);
      })
    : Promise.resolve();
  const sampler = setInterval(() => {
    for (const r of sys.roles) void r.sample();
    void standins.watch.sample();
  }, 1000);
  const progress = setInterval(() => {
    const done = rec.journeys.filter((j) => j.status === 'completed').length;
    log(
      `${phase.name}: ${Math.round((Date.now() - t0) / 1000)} s, journeys ${rec.journeys.length}, in flight ${rec.inFlight}, streams ${rec.streamsOpen}, completed ${done}`,
    );
  }, 10_000);
  try {
    await Promise.all([...users, fault]);
  } finally {
    clearInterval(progress);
  }
  const loadEnd = Date.now();
  const check = await verify(db, rec.journeys, {
    drainMs: 60_000,
    since: new Date(t0),
    expectedFailures: EXPECTED_FAILURES[phase.fault] ?? [],
  });
  clearInterval(sampler);
  await Promise.all(sys.roles.map((r) => r.sample()));
  const crashes = (sys.crashes ?? []).slice(crashes0);
  // Not a lost job by itself, but a defect worth its own line in the report.
  if (crashes.length) check.crashes = crashes;
  if (died.length) {
    check.ok = false;
    check.problems.push(`before the phase, ${died.join(', ')} had died by itself`);
  }
  if (!check.accepted) {
    check.ok = false;
    check.problems.push('no job was accepted');
  }
  if (!phase.fault && check.notAccepted) {
    check.ok = false;
    check.problems.push(`${check.notAccepted} submission(s) refused without a fault`);
  }
  const wallS = (loadEnd - t0) / 1000;
  const lg = process.cpuUsage(lg0);
  const sCpu = ((await procSample(standins.child.pid))?.cpuS ?? sCpu0) - sCpu0;
  const resources = sys.roles.map((r) => ({
    role: r.name,
    maxRssMb: round(r.maxRssMb),
    meanRssMb: round(r.rssSamples.reduce((a, b) => a + b, 0) / Math.max(1, r.rssSamples.length)),
    cpuPct: round(((r.totalCpuS() - (cpu0.get(r.name) ?? 0)) / wallS) * 100),
    restarts: r.restarts - (restarts0.get(r.name) ?? 0),
  }));
  resources.push({
    role: 'stand-ins',
    maxRssMb: round(standins.watch.maxRssMb),
    cpuPct: round((sCpu / wallS) * 100),
  });
  resources.push({
    role: 'load generator',
    maxRssMb: round(process.memoryUsage().rss / 1048576),
    cpuPct: round(((lg.user + lg.system) / 1e6 / wallS) * 100),
  });
  // Event-loop delay per role (prom-client's default metrics), at the end of the phase.
  await Promise.all(
    resources.map(async (x) => {
      const role = sys.role(x.role);
      if (!role) return;
      try {
        const text = await (await fetch(`http://127.0.0.1:${role.metricsPort}/metrics`)).text();
        const g = (n) => Number(new RegExp(`^${n} ([\\d.e+-]+)`, 'm').exec(text)?.[1]);
        x.loopP99Ms = round(g('nodejs_eventloop_lag_p99_seconds') * 1000);
        x.loopMaxMs = round(g('nodejs_eventloop_lag_max_seconds') * 1000);
      } catch {
        /* role gone */
      }
    }),
  );
  for (const r of sys.roles) r.rssSamples = [];
  await sys.saveLogs(phase.name);
  const stand = await standins.ctl('/stats');
  const counters = diffCounters(await sys.metrics(), m0);
  const summary = summarise(phase, rec, check, stand, wallS);
  summary.serverHttp = serverHttp(counters);
  for (const k of Object.keys(counters)) if (k.startsWith('http_request')) delete counters[k];
  return { ...summary, resources, fault: faultNote, counters, wallS: round(wallS) };
}

/** Server-side view of the API's routes (http_request_duration_seconds): mean and ≤ 25/50 ms. */
function serverHttp(counters) {
  const routes = {
    analyze: 'POST",route="/api/v1/waste/analyze',
    complete: 'POST",route="/api/v1/waste/upload-complete/:jobId',
    status: 'GET",route="/api/v1/waste/status/:jobId',
  };
  const out = {};
  for (const [name, frag] of Object.entries(routes)) {
    const pick = (suffix, le) =>
      Object.entries(counters)
        .filter(
          ([k]) =>
            k.startsWith(`http_request_duration_seconds_${suffix}{`) &&
            k.includes(`method="${frag}"`) &&
            (le === undefined || k.includes(`le="${le}"`)),
        )
        .reduce((a, [, v]) => a + v, 0);
    const count = pick('count');
    if (!count) continue;
    out[name] = {
      count,
      meanMs: round((pick('sum') / count) * 1000),
      le25: round((pick('bucket', '0.025') / count) * 100),
      le50: round((pick('bucket', '0.05') / count) * 100),
    };
  }
  return out;
}

function summarise(phase, rec, check, stand, wallS) {
  const J = rec.journeys;
  const acc = J.filter((j) => j.accepted);
  const done = acc.filter((j) => j.db?.status === 'completed');
  const sse = done.filter((j) => j.follow === 'sse');
  const poll = done.filter((j) => j.follow === 'poll');
  const vision = done.filter((j) => j.timings?.visionMs != null);
  const hits = done.filter((j) => j.cache === 'exact' || j.cache === 'similar');
  const overhead = (j) => j.endMs - (j.timings?.visionMs ?? 0) - (j.timings?.coachingMs ?? 0);
  const serverOverhead = (j) =>
    (j.db?.total_ms ?? NaN) - (j.db?.vision_ms ?? 0) - (j.db?.coaching_ms ?? 0);
  const byPhoto = {};
  for (const kind of ['new', 'repeat', 'near']) {
    const js = done.filter((j) => j.photo === kind);
    byPhoto[kind] = {
      n: js.length,
      exact: js.filter((j) => j.cache === 'exact').length,
      similar: js.filter((j) => j.cache === 'similar').length,
      miss: js.filter((j) => j.cache === 'miss').length,
    };
  }
  const firstAccept = Math.min(...acc.map((j) => j.at));
  const lastEnd = Math.max(...done.map((j) => j.at + (j.endMs ?? 0)));
  const activeMin = Math.max(1e-9, (lastEnd - firstAccept) / 60_000);
  return {
    name: phase.name,
    users: { poll: phase.poll, sse: phase.sse },
    peakInFlight: rec.peakInFlight,
    peakStreams: rec.peakStreams,
    check,
    latency: {
      submit: dist(acc.map((j) => j.submitMs)),
      analyze: dist(acc.map((j) => j.analyzeMs)),
      upload: dist(acc.map((j) => j.uploadMs)),
      complete: dist(acc.map((j) => j.completeMs)),
      poll: dist(rec.polls),
      login: dist(rec.logins),
    },
    guidance: {
      sse: dist(sse.map((j) => j.guidanceMs)),
      poll: dist(poll.map((j) => j.guidanceMs)),
      sseMinusVision: dist(
        sse
          .filter((j) => j.timings?.visionMs != null)
          .map((j) => j.guidanceMs - j.timings.visionMs),
      ),
    },
    endToEnd: {
      sse: dist(sse.map((j) => j.endMs)),
      poll: dist(poll.map((j) => j.endMs)),
      server: dist(done.map((j) => j.db?.total_ms)),
    },
    overhead: {
      sse: dist(sse.map(overhead)),
      server: dist(done.map(serverOverhead)),
    },
    repeat: {
      sseEnd: dist(sse.filter((j) => hits.includes(j)).map((j) => j.endMs)),
      serverTotal: dist(hits.map((j) => j.db?.total_ms)),
    },
    vision: {
      workerMs: dist(vision.map((j) => j.timings.visionMs)),
      injectedMeanMs: stand.vision.answered
        ? round(stand.vision.injectedMs / stand.vision.answered)
        : null,
      calls: stand.vision.requests,
      answered: stand.vision.answered,
      faults: stand.vision.faults,
      jobsWithVision: vision.length,
    },
    llm: {
      calls: stand.llm.requests,
      answered: stand.llm.answered,
      injectedMeanMs: stand.llm.answered ? round(stand.llm.injectedMs / stand.llm.answered) : null,
      coaching: {
        llm: done.filter((j) => j.coaching === 'llm').length,
        rules: done.filter((j) => j.coaching === 'rules').length,
      },
    },
    stages: Object.fromEntries(
      [
        'queue',
        'download',
        'validate',
        'hash',
        'cache',
        'preprocess',
        'vision',
        'guidance',
        'coaching',
        'total',
      ].map((k) => [k, dist(done.map((j) => j.db?.stages?.[k]))]),
    ),
    throughputPerMin: round(done.length / activeMin),
    completionRate: acc.length ? round((done.length / acc.length) * 100, 2) : null,
    cache: {
      hitRate: done.length ? round((hits.length / done.length) * 100) : null,
      exact: done.filter((j) => j.cache === 'exact').length,
      similar: done.filter((j) => j.cache === 'similar').length,
      byPhoto,
    },
    clientErrors: Object.fromEntries([...rec.errors].sort((a, b) => b[1] - a[1]).slice(0, 12)),
    wallS,
  };
}

async function runPollHold(phase, ctx) {
  const targets = ctx.completedTargets;
  if (!targets?.length) return { name: phase.name, skipped: 'no completed jobs to poll' };
  const rec = new Recorder();
  const driver = new Driver({ base: ctx.sys.base, rec, followTimeoutMs: 0 });
  const cpu0 = new Map(ctx.sys.roles.map((r) => [r.name, r.totalCpuS()]));
  const lg0 = process.cpuUsage();
  const t0 = Date.now();
  const sampler = setInterval(() => ctx.sys.roles.forEach((r) => void r.sample()), 1000);
  await driver.pollHold(targets, phase.pollHold, phase.durationS);
  clearInterval(sampler);
  await driver.close();
  const wallS = (Date.now() - t0) / 1000;
  const lg = process.cpuUsage(lg0);
  return {
    name: phase.name,
    pollHold: {
      users: phase.pollHold,
      seconds: phase.durationS,
      requests: rec.polls.length,
      rps: round(rec.polls.length / wallS),
      errors: rec.pollErrors,
      latency: dist(rec.polls),
    },
    resources: [
      ...ctx.sys.roles.map((r) => ({
        role: r.name,
        maxRssMb: round(r.maxRssMb),
        cpuPct: round(((r.totalCpuS() - (cpu0.get(r.name) ?? 0)) / wallS) * 100),
      })),
      {
        role: 'load generator',
        maxRssMb: round(process.memoryUsage().rss / 1048576),
        cpuPct: round(((lg.user + lg.system) / 1e6 / wallS) * 100),
      },
    ],
    check: {
      ok: rec.pollErrors === 0,
      problems: rec.pollErrors ? [`${rec.pollErrors} poll errors`] : [],
    },
  };
}

async function runAutocannon(phase, ctx) {
  const targets = ctx.completedTargets;
  if (!targets?.length) return { name: phase.name, skipped: 'no completed jobs to poll' };
  const times = [];
  const cpu0 = new Map(ctx.sys.roles.map((r) => [r.name, r.totalCpuS()]));
  const lg0 = process.cpuUsage();
  const t0 = Date.now();
  const sampler = setInterval(() => ctx.sys.roles.forEach((r) => void r.sample()), 1000);
  const result = await new Promise((resolve, reject) => {
    const inst = autocannon(
      {
        url: ctx.sys.base,
        connections: phase.connections,
        duration: phase.durationS,
        timeout: 10,
        requests: [
          {
            method: 'GET',
            setupRequest: (req) => {
              const t = targets[Math.floor(Math.random() * targets.length)];
              return {
                ...req,
                path: `/api/v1/waste/status/${t.jobId}`,
                headers: { ...req.headers, authorization: `Bearer ${t.token}` },
              };
            },
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    inst.on('response', (_client, _status, _bytes, ms) => times.push(ms));
  });
  clearInterval(sampler);
  const wallS = (Date.now() - t0) / 1000;
  const lg = process.cpuUsage(lg0);
  return {
    name: phase.name,
    autocannon: {
      connections: phase.connections,
      requests: result.requests.total,
      rps: round(result.requests.average),
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      latency: dist(times),
      autocannonP99: result.latency.p99,
    },
    resources: [
      ...ctx.sys.roles.map((r) => ({
        role: r.name,
        maxRssMb: round(r.maxRssMb),
        cpuPct: round(((r.totalCpuS() - (cpu0.get(r.name) ?? 0)) / wallS) * 100),
      })),
      {
        role: 'load generator',
        maxRssMb: round(process.memoryUsage().rss / 1048576),
        cpuPct: round(((lg.user + lg.system) / 1e6 / wallS) * 100),
      },
    ],
    check: { ok: result.non2xx === 0 && result.errors === 0, problems: [] },
  };
}

// ---------------------------------------------------------------------------------------------
// Report

function targetsOf(results) {
  const T = [];
  const by = (n) => results.find((r) => r.name === n);
  const add = (what, value, target, ok) =>
    T.push([what, value ?? '–', target, value == null ? 'n/a' : ok ? 'met' : 'MISSED']);
  const load = results.filter((r) => r.latency && !r.fault);
  for (const r of load) {
    add(
      `${r.name}: jobs completed`,
      `${r.check.completed}/${r.check.accepted}`,
      '100 %, none lost',
      r.check.ok && r.check.completed === r.check.accepted,
    );
    add(`${r.name}: submit p95`, r.latency.submit.p95, '< 50 ms', r.latency.submit.p95 < 50);
    if (r.latency.poll.n)
      add(`${r.name}: status poll p95`, r.latency.poll.p95, '< 25 ms', r.latency.poll.p95 < 25);
    if (r.guidance.sseMinusVision.n)
      add(
        `${r.name}: time to guidance − vision, p95 (SSE)`,
        r.guidance.sseMinusVision.p95,
        '≤ 200 ms',
        r.guidance.sseMinusVision.p95 <= 200,
      );
    if (r.overhead.sse.n)
      add(
        `${r.name}: overhead p95 (SSE, client-observed)`,
        r.overhead.sse.p95,
        '< 250 ms',
        r.overhead.sse.p95 < 250,
      );
    add(
      `${r.name}: overhead p95 (server: total − vision − coaching)`,
      r.overhead.server.p95,
      '< 250 ms',
      r.overhead.server.p95 < 250,
    );
    if (r.repeat.sseEnd.n)
      add(
        `${r.name}: repeated photo, upload-complete → completed p95 (SSE)`,
        r.repeat.sseEnd.p95,
        '≤ 150 ms',
        r.repeat.sseEnd.p95 <= 150,
      );
    add(
      `${r.name}: repeated photo, server total p95`,
      r.repeat.serverTotal.p95,
      '≤ 150 ms',
      r.repeat.serverTotal.p95 <= 150,
    );
  }
  const ph = by('poll-hold-500');
  if (ph?.pollHold)
    add(
      `500 pollers × 2 req/s (${ph.pollHold.rps} req/s measured): status poll p95`,
      ph.pollHold.latency.p95,
      '< 25 ms',
      ph.pollHold.latency.p95 < 25,
    );
  const one =
    by('all-in-one') ??
    (results[0]?.resources?.find((x) => x.role === 'all') ? results[0] : undefined);
  const rss = one?.resources?.find((x) => x.role === 'all')?.maxRssMb;
  if (rss !== undefined) add('all roles in one process: max RSS', rss, '< 400 MB', rss < 400);
  for (const r of results.filter((x) => x.fault)) {
    add(
      `fault ${r.name}: every accepted job ended, none lost or duplicated`,
      `${r.check.completed} completed, ${
        Object.entries(r.check.failures)
          .map(([c, n]) => `${c}×${n}`)
          .join(' ') || 'no'
      } failed, ${r.check.lost} lost`,
      'all end',
      r.check.ok,
    );
  }
  return T;
}

function markdown(run) {
  const L = [];
  const m = run.machine;
  L.push(
    `### ${run.startedAt.slice(0, 16).replace('T', ' ')} UTC — ${run.mode} (${run.ok ? 'correct' : 'CORRECTNESS FAILURE'})`,
  );
  L.push('');
  L.push(
    `Machine: ${m.cpus} × ${m.model}, ${m.memGb} GB, Node ${m.node}, load average at start ${m.loadavg}. Commit \`${m.commit}\`${m.dirty ? ' (+ uncommitted src changes)' : ''}. Topology: ${run.topology}. Stand-ins: vision ${run.settings.vision} ms, LLM ${run.settings.llm} ms (uniform). Photos: ${run.settings.photos} distinct + near-copies; mix ${Math.round(run.settings.mix.repeat * 100)} % exact repeats, ${Math.round(run.settings.mix.near * 100)} % near-repeats. Wall time ${run.wallS} s.`,
  );
  if (run.note) L.push('', run.note);
  L.push(
    '',
    '**Targets**',
    '',
    table([['what', 'measured (ms unless said)', 'target', ''], ...run.targets]),
  );
  const load = run.results.filter((r) => r.latency);
  if (load.length) {
    L.push('', '**Latency** (p50 / p95 / p99)', '');
    L.push(
      table([
        [
          'phase',
          'users (poll+SSE), peak in flight',
          'submit (analyze+complete)',
          'upload (PUT)',
          'status poll',
          'guidance (SSE)',
          'guidance (poll)',
          'guidance − vision (SSE)',
        ],
        ...load.map((r) => [
          r.name,
          `${r.users.poll}+${r.users.sse}, ${r.peakInFlight}`,
          fmtDist(r.latency.submit),
          fmtDist(r.latency.upload),
          fmtDist(r.latency.poll),
          fmtDist(r.guidance.sse),
          fmtDist(r.guidance.poll),
          fmtDist(r.guidance.sseMinusVision),
        ]),
      ]),
    );
    L.push('', '**End to end and overhead** (p50 / p95 / p99)', '');
    L.push(
      table([
        [
          'phase',
          'end to end (SSE)',
          'end to end (poll)',
          'server total',
          'overhead (SSE)',
          'overhead (server)',
          'repeat: end (SSE)',
          'repeat: server total',
        ],
        ...load.map((r) => [
          r.name,
          fmtDist(r.endToEnd.sse),
          fmtDist(r.endToEnd.poll),
          fmtDist(r.endToEnd.server),
          fmtDist(r.overhead.sse),
          fmtDist(r.overhead.server),
          fmtDist(r.repeat.sseEnd),
          fmtDist(r.repeat.serverTotal),
        ]),
      ]),
    );
    L.push('', '**Jobs, throughput, caches, third parties**', '');
    L.push(
      table([
        [
          'phase',
          'accepted',
          'completed',
          'failed',
          'lost',
          'completion',
          'jobs/min',
          'cache hits (exact / similar)',
          'repeat → exact',
          'near → similar',
          'new → any hit',
          'coaching llm / rules',
          'vision calls (answered, mean injected)',
          'LLM calls (mean injected)',
        ],
        ...load.map((r) => {
          const bp = r.cache.byPhoto;
          return [
            r.name,
            r.check.accepted,
            r.check.completed,
            Object.entries(r.check.failures)
              .map(([c, n]) => `${c}×${n}`)
              .join(' ') || 0,
            r.check.lost,
            `${r.completionRate} %`,
            r.throughputPerMin,
            `${r.cache.hitRate} % (${r.cache.exact} / ${r.cache.similar})`,
            `${bp.repeat.exact}/${bp.repeat.n}`,
            `${bp.near.similar + bp.near.exact}/${bp.near.n}`,
            `${bp.new.exact + bp.new.similar}/${bp.new.n}`,
            `${r.llm.coaching.llm} / ${r.llm.coaching.rules}`,
            `${r.vision.calls} (${r.vision.answered}, ${r.vision.injectedMeanMs} ms)`,
            `${r.llm.calls} (${r.llm.injectedMeanMs} ms)`,
          ];
        }),
      ]),
    );
  }
  if (load.length) {
    const keys = Object.keys(load[0].stages);
    L.push('', '**Server-side stage timings** (waste.jobs.timings, ms, p50 / p95)', '');
    L.push(
      table([
        ['phase', ...keys],
        ...load.map((r) => [
          r.name,
          ...keys.map((k) => (r.stages[k].n ? `${r.stages[k].p50} / ${r.stages[k].p95}` : '–')),
        ]),
      ]),
    );
  }
  const ac = run.results.find((r) => r.autocannon);
  if (ac) {
    const a = ac.autocannon;
    L.push(
      '',
      `**autocannon, status poll flat out** (capacity): ${a.connections} connections, no rate limit, ${PHASES.find((p) => p.autocannon)?.durationS} s: ${a.requests} requests, ${a.rps} req/s, latency ${fmtDist(a.latency)}, non-2xx ${a.non2xx}, errors ${a.errors}, timeouts ${a.timeouts}.`,
    );
  }
  const hold = run.results.find((r) => r.pollHold);
  if (hold) {
    const h = hold.pollHold;
    L.push(
      '',
      `**500 pollers holding** (each polls one completed job every 0.5 s on its own schedule): ${h.users} users, ${h.seconds} s, ${h.requests} requests, ${h.rps} req/s, latency ${fmtDist(h.latency)}, errors ${h.errors}.`,
    );
  }
  L.push(
    '',
    '**Resources per role** (max RSS MB / CPU % of one core over the phase / event-loop delay p99 at the end)',
    '',
  );
  const roles = [...new Set(run.results.flatMap((r) => (r.resources ?? []).map((x) => x.role)))];
  L.push(
    table([
      ['phase', ...roles],
      ...run.results.map((r) => [
        r.name,
        ...roles.map((name) => {
          const x = r.resources?.find((y) => y.role === name);
          return x
            ? `${x.maxRssMb} / ${x.cpuPct} %${x.loopP99Ms ? ` / loop p99 ${x.loopP99Ms} ms` : ''}${x.restarts ? ` (${x.restarts} restart)` : ''}`
            : '–';
        }),
      ]),
    ]),
  );
  const faults = run.results.filter((r) => r.fault);
  if (faults.length) {
    L.push('', '**Faults** (each under load)', '');
    L.push(
      table([
        [
          'scenario',
          'what was done',
          'accepted',
          'completed',
          'failed (code×n)',
          'refused at submit (retried by the app)',
          'lost',
          'history rows = completed',
          'verdict',
        ],
        ...faults.map((r) => [
          r.name,
          r.fault,
          r.check.accepted,
          r.check.completed,
          Object.entries(r.check.failures)
            .map(([c, n]) => `${c}×${n}`)
            .join(' ') || 0,
          r.check.notAccepted,
          r.check.lost,
          r.check.historyRows === r.check.completed ? 'yes' : `no (${r.check.historyRows})`,
          r.check.ok ? 'ok' : r.check.problems.join('; '),
        ]),
      ]),
    );
  }
  const crashed = run.results.filter((r) => r.check?.crashes?.length);
  if (crashed.length) {
    L.push(
      '',
      '**Crashes** (the bench restarts a crashed role after 2 s, as Kubernetes would)',
      '',
    );
    for (const r of crashed)
      for (const c of r.check.crashes)
        L.push(`- ${r.name}: ${c.role} exited (${c.how}) — ${c.reason}`);
  }
  const bad = run.results.filter((r) => r.check && !r.check.ok);
  if (bad.length) {
    L.push('', '**Problems**', '');
    for (const r of bad) L.push(`- ${r.name}: ${r.check.problems.join('; ')}`);
  }
  L.push('', `Raw figures: \`.tmp/bench/${run.file}\`.`, '');
  return L.join('\n');
}

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
    standins = await startStandins();
    sys = new System(iso, distDir, standins);
    let topology = phases[0]?.topology ?? S.topology;
    await sys.start(topology);
    log(`system up (${topology}) at ${sys.base}`);
    db = new pg.Client({ connectionString: iso.databaseUrl });
    await db.connect();
    const ctx = { sys, standins, pool, db };
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
