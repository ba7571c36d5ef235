// The system under test as the bench runs it: the roles (spawned from the dist/ snapshot, one
// `all` process or the split topology), supervised like Kubernetes would (a crashed role restarts
// after 2 s), and the third-party stand-ins in their own process.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseMetrics } from './stats.mjs';
import { freePort, Role, sleep, waitReady } from './system.mjs';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const log = (...a) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

/**
 * The node flags and environment package.json's `start` script gives the process
 * (`VAR=v node --flag … scripts/start-local.mjs`), so the bench's `all` role is the process
 * `npm start` runs.
 */
export function npmStart() {
  const script = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.start;
  const cmd = script.split('&&').pop().trim().split(/\s+/);
  const at = cmd.indexOf('node');
  const env = Object.fromEntries(cmd.slice(0, at).map((kv) => kv.split('=')));
  const flags = cmd.slice(at + 1).filter((a) => a.startsWith('--'));
  return { flags, env };
}

export class System {
  /**
   * settings: { visionTimeoutMs, threads? } of the run; `threads` is ALL_ROLE_THREADS of the `all`
   * role (auto | on | off; unset: the app's default, auto).
   */
  constructor(iso, distDir, standins, settings) {
    this.settings = settings;
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
      VISION_TIMEOUT_MS: String(this.settings.visionTimeoutMs),
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
      // Every virtual user comes from 127.0.0.1 (docs/auth.md → Held connections).
      SSE_MAX_STREAMS_PER_IP: '0',
      LOCATIONS_SAMPLE_DATA: 'false',
      TRUSTED_PROXY_HOPS: '0',
      ...(this.settings.threads ? { ALL_ROLE_THREADS: this.settings.threads } : {}),
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
    // The one-process role starts as `npm start` starts it (its node flags and environment).
    const start = name === 'all' ? npmStart() : { flags: [], env: {} };
    const role = new Role(name, () =>
      spawn(
        process.execPath,
        [...start.flags, ...(process.env.BENCH_NODE_ARGS?.split(' ') ?? []), script],
        {
          cwd: root,
          env: { ...this.env(name, port, metricsPort), ...start.env },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
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

  /**
   * CPU seconds so far of every thread of every role process, from /proc/<pid>/task/<tid>/stat:
   * [{ role, pid, tid, comm, main, cpuS }]. Node names its JS worker threads and libuv's pool
   * "node" alike; the busy ones are the event loops (main, and the `all` role's workers thread).
   */
  async threadCpu() {
    const out = [];
    for (const r of this.roles) {
      const tids = await readdir(`/proc/${r.pid}/task`).catch(() => []);
      for (const tid of tids) {
        try {
          const s = await readFile(`/proc/${r.pid}/task/${tid}/stat`, 'utf8');
          const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
          out.push({
            role: r.name,
            pid: r.pid,
            tid: Number(tid),
            comm: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')),
            main: Number(tid) === r.pid,
            cpuS: (Number(f[11]) + Number(f[12])) / 100,
          });
        } catch {
          /* the thread ended */
        }
      }
    }
    return out;
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

/** The stand-ins in their own process; `vision` / `llm`: latency ranges in ms ("3000-3000"). */
export async function startStandins({ vision, llm }) {
  const child = spawn(
    process.execPath,
    [join(root, 'bench', 'standins.mjs'), '--vision', vision, '--llm', llm],
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
