// The system under test, on this machine and on 127.0.0.1 only: an isolated PostgreSQL database,
// RabbitMQ vhost and a private Redis (own port, own process, so its faults touch nobody else),
// the roles spawned from a snapshot of dist/ as real processes, and /proc sampling of each.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { cp, mkdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';

const PG_ADMIN = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const RABBIT_HOST = process.env.BENCH_RABBITMQ_HOST ?? 'guest:guest@127.0.0.1:5672';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function rabbitmqctl(...args) {
  return execFileSync('rabbitmqctl', ['-q', ...args], {
    stdio: 'pipe',
    timeout: 60_000,
  }).toString();
}

/** A private redis-server: its own port and directory; stop/start for the Redis fault. */
export class PrivateRedis {
  constructor(dir, port) {
    this.dir = dir;
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
  }

  async start() {
    await mkdir(this.dir, { recursive: true });
    // RDB on shutdown (SHUTDOWN SAVE) so a restart comes back with its keys, like a managed Redis
    // restart; no background saves during the run.
    this.proc = spawn(
      'redis-server',
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(this.port),
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--maxclients',
        '10000',
        '--protected-mode',
        'yes',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    this.pid = this.proc.pid;
    for (let i = 0; i < 100; i++) {
      try {
        execFileSync('redis-cli', ['-p', String(this.port), 'PING'], { stdio: 'pipe' });
        return this;
      } catch {
        await sleep(100);
      }
    }
    throw new Error('private redis did not start');
  }

  /** Saves and stops (clients see connection refused until start()). */
  async stop() {
    try {
      execFileSync('redis-cli', ['-p', String(this.port), 'SHUTDOWN', 'SAVE'], { stdio: 'pipe' });
    } catch {
      /* the connection drops as it exits */
    }
    if (this.proc.exitCode === null) await once(this.proc, 'exit');
  }

  async kill() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGKILL');
      await once(this.proc, 'exit');
    }
  }
}

/** Database, vhost, private Redis, storage dir; `cleanup()` removes them all. */
export async function isolate(root) {
  const id = `bench_${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${id}"`);
  await admin.end();
  const dbUrl = new URL(PG_ADMIN);
  dbUrl.pathname = `/${id}`;
  rabbitmqctl('add_vhost', id);
  rabbitmqctl('set_permissions', '-p', id, 'guest', '.*', '.*', '.*');
  const work = join(root, '.tmp', 'bench', 'run', id);
  const redis = await new PrivateRedis(join(work, 'redis'), await freePort()).start();
  const env = {
    DATABASE_URL: dbUrl.toString(),
    RABBITMQ_URL: `amqp://${RABBIT_HOST}/${encodeURIComponent(id)}`,
    REDIS_URL: redis.url,
    REDIS_PREFIX: id,
    STORAGE_DRIVER: 'local',
    STORAGE_LOCAL_DIR: join(work, 'storage'),
  };
  return {
    id,
    vhost: id,
    env,
    redis,
    databaseUrl: dbUrl.toString(),
    work,
    async cleanup({ keep = false } = {}) {
      await redis.kill();
      if (keep) return;
      const a = new pg.Client({ connectionString: PG_ADMIN });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS "${id}" WITH (FORCE)`);
      await a.end();
      try {
        rabbitmqctl('delete_vhost', id);
      } catch {
        /* already gone */
      }
      await rm(work, { recursive: true, force: true });
    },
  };
}

/**
 * A copy of dist/ for this run: a rebuild in the work tree during the run cannot touch it.
 * `from`: another build (e.g. an earlier commit's, for a before/after); default `root/dist`.
 */
export async function snapshotDist(root, work, from = join(root, 'dist')) {
  const target = join(work, 'dist');
  await cp(from, target, { recursive: true });
  return target;
}

/** /proc sampling: RSS now and CPU seconds (user+system) so far. */
export async function procSample(pid) {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
    return { rssMb: rssKb / 1024, cpuS: ticks / 100 };
  } catch {
    return undefined;
  }
}

/** One running role (or any process we watch), with RSS/CPU bookkeeping across restarts. */
export class Role {
  constructor(name, spawnFn) {
    this.name = name;
    this.spawnFn = spawnFn;
    this.maxRssMb = 0;
    this.cpuS = 0; // from processes that have exited
    this.lastCpu = 0;
    this.rssSamples = [];
    this.restarts = 0;
    this.log = [];
  }

  start() {
    this.proc = this.spawnFn();
    this.pid = this.proc.pid;
    this.lastCpu = 0;
    const keep = (d) => {
      const s = d.toString();
      this.log.push(s);
      if (this.log.length > 200) this.log.splice(0, 100);
    };
    this.proc.stdout?.on('data', keep);
    this.proc.stderr?.on('data', keep);
    this.exited = once(this.proc, 'exit');
    const proc = this.proc;
    proc.on('exit', (code, signal) => {
      if (!proc.expectedExit) {
        this.unexpectedExits = (this.unexpectedExits ?? 0) + 1;
        console.error(
          `[bench] ${this.name} (pid ${proc.pid}) exited unexpectedly: ${code ?? signal}`,
        );
        console.error(this.log.join('').slice(-3000));
        this.onCrash?.(this, code ?? signal);
      }
    });
    return this;
  }

  async sample() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode) return;
    const s = await procSample(this.pid);
    if (!s) return;
    this.maxRssMb = Math.max(this.maxRssMb, s.rssMb);
    this.rssSamples.push(s.rssMb);
    this.lastCpu = s.cpuS;
  }

  /** Signal and wait for exit (SIGKILL after `graceMs`). */
  async stop(signal = 'SIGTERM', graceMs = 30_000) {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode) return;
    await this.sample();
    this.cpuS += this.lastCpu;
    this.lastCpu = 0;
    this.proc.expectedExit = true;
    this.proc.kill(signal);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }

  totalCpuS() {
    return this.cpuS + this.lastCpu;
  }
}

/** Waits until http://127.0.0.1:port/health/ready answers 200. */
export async function waitReady(port, role, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (role.proc.exitCode !== null) {
      throw new Error(
        `${role.name} exited (${role.proc.exitCode}): ${role.log.join('').slice(-2000)}`,
      );
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health/ready`);
      if (res.ok) return;
    } catch {
      /* not yet */
    }
    await sleep(200);
  }
  throw new Error(
    `${role.name} not ready after ${timeoutMs} ms: ${role.log.join('').slice(-2000)}`,
  );
}

export async function machine(root) {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8');
  const meminfo = await readFile('/proc/meminfo', 'utf8');
  const git = (...a) => {
    try {
      return execFileSync('git', a, { cwd: root, stdio: 'pipe' }).toString().trim();
    } catch {
      return 'unknown';
    }
  };
  return {
    cpus: (cpuinfo.match(/^processor\s*:/gm) ?? []).length,
    model: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? 'unknown',
    memGb: Math.round(Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? 0) / 1048576),
    node: process.version,
    commit: git('rev-parse', '--short', 'HEAD'),
    dirty: git('status', '--porcelain', '--untracked-files=no', '--', 'src') !== '',
    loadavg: (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' '),
  };
}
