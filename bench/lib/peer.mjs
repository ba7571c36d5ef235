// The seed's stack (FastAPI + Celery + RabbitMQ + Redis + PostgreSQL) as a benchmark peer, run
// from its own directory (given on the command line; nothing of it is copied here): its own
// database, a private redis-server and the broker vhost its run.sh uses, the same stand-ins.
// `bash setup.sh` in that directory installs its Debian packages once.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, PrivateRedis, rabbitmqctl, sleep } from './system.mjs';

const PG_ADMIN = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const RABBIT_HOST = process.env.BENCH_RABBITMQ_HOST ?? 'guest:guest@127.0.0.1:5672';
/** The vhost the peer's run.sh uses on the broker it is given. */
const PEER_VHOST = 'seedstack';

export class Peer {
  /** @param {string} dir the peer's directory (run.sh, setup.sh) */
  constructor(dir, iso, standins) {
    this.dir = dir;
    this.iso = iso;
    this.standins = standins;
    this.dbName = `${iso.id}_seed`;
    this.log = [];
  }

  async start() {
    if (!existsSync(join(this.dir, 'run.sh'))) {
      throw new Error(`no peer at ${this.dir} (run.sh missing): pass --peer <dir> or --no-peer`);
    }
    const admin = new pg.Client({ connectionString: PG_ADMIN });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${this.dbName}"`);
    await admin.end();
    const url = new URL(PG_ADMIN);
    url.pathname = `/${this.dbName}`;
    this.databaseUrl = url.toString();
    // Messages left in its vhost by an interrupted earlier run would be worked on: start clean.
    try {
      rabbitmqctl('delete_vhost', PEER_VHOST);
    } catch {
      /* not there */
    }
    const work = join(this.iso.work, 'peer');
    this.redis = await new PrivateRedis(join(work, 'redis'), await freePort()).start();
    await mkdir(join(work, 'storage'), { recursive: true });
    this.port = await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    const sa = this.standins.info;
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      PORT: String(this.port),
      DATABASE_URL: this.databaseUrl,
      REDIS_URL: `${this.redis.url}/0`,
      RABBITMQ_URL: `amqp://${RABBIT_HOST}/${PEER_VHOST}`,
      STORAGE_LOCAL_DIR: join(work, 'storage'),
      PUBLIC_BASE_URL: this.base,
      JWT_SECRET: 'bench-peer-secret',
      ROBOFLOW_API_URL: sa.visionUrl,
      ROBOFLOW_API_KEY: sa.apiKey,
      ROBOFLOW_MODEL: 'taco-trash/3',
      OPENAI_BASE_URL: sa.llmUrl,
      OPENAI_API_KEY: 'bench',
    };
    // Its own process group, so the meter can find every process it starts and stop() ends them.
    this.proc = spawn('bash', [join(this.dir, 'run.sh')], {
      cwd: this.dir,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.pgid = this.proc.pid;
    const keep = (d) => {
      this.log.push(d.toString());
      if (this.log.length > 200) this.log.splice(0, 100);
    };
    this.proc.stdout.on('data', keep);
    this.proc.stderr.on('data', keep);
    const until = Date.now() + 90_000;
    while (Date.now() < until) {
      if (this.proc.exitCode !== null) break;
      try {
        if ((await fetch(`${this.base}/health/ready`)).ok && (await this.workersUp())) return this;
      } catch {
        /* not yet */
      }
      await sleep(500);
    }
    throw new Error(`peer did not start: ${this.log.join('').slice(-2000)}`);
  }

  /** Both Celery workers consume (a job sent before would wait for them). */
  async workersUp() {
    const out = rabbitmqctl('list_queues', '-p', PEER_VHOST, 'name', 'consumers');
    const c = Object.fromEntries(
      out
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .map(([n, k]) => [n, Number(k)]),
    );
    return c['q.fast'] > 0 && c['q.external'] > 0;
  }

  /** Empties its result cache (sha256 → result), so a rate's photos are new to it too. */
  async clearCache() {
    const Redis = (await import('ioredis')).default;
    const r = new Redis(this.redis.url);
    try {
      await r.flushall();
    } finally {
      r.disconnect();
    }
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      try {
        process.kill(-this.pgid, 'SIGTERM');
      } catch {
        /* gone */
      }
      const t = setTimeout(() => {
        try {
          process.kill(-this.pgid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 10_000);
      await once(this.proc, 'exit');
      clearTimeout(t);
      // Celery's children may outlive bash by a moment.
      await sleep(1000);
      try {
        process.kill(-this.pgid, 'SIGKILL');
      } catch {
        /* all gone */
      }
    }
    await this.redis?.kill();
    const admin = new pg.Client({ connectionString: PG_ADMIN });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${this.dbName}" WITH (FORCE)`);
    await admin.end();
    try {
      rabbitmqctl('delete_vhost', PEER_VHOST);
    } catch {
      /* already gone */
    }
  }
}
