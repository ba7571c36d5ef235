import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_JWT_SECRET } from '../support/app';
import { Isolation, isolate } from '../support/isolation';
import { ReplayedImage, parseDockerfile, replayImage } from './dockerfile';
import { Container, ROOT, Workload, envOf, named, render } from './k8s';

/**
 * The Dockerfile, replayed without a Docker engine (test/deploy/dockerfile.ts): its deps stage
 * runs for real (`npm ci --omit=dev ...`, cached under .tmp/docker-replay/ while package-lock.json
 * and the stage are unchanged), its runtime stage copies from it and from the compiled dist/,
 * and then every role starts from that directory with the command and environment the Helm
 * chart gives it, as the image's user when this machine lets us switch users.
 */

/** Can `uid` read and traverse `dir`? (A checkout under a private home directory is not.) */
function canAccessAs(user: { uid: number; gid: number }, dir: string): boolean {
  try {
    execFileSync(
      process.execPath,
      [
        '-e',
        `require('fs').accessSync(${JSON.stringify(dir)}, require('fs').constants.R_OK | require('fs').constants.X_OK)`,
      ],
      { uid: user.uid, gid: user.gid, stdio: 'pipe' },
    );
    return true;
  } catch {
    return false;
  }
}

const ROLES = ['api', 'fast', 'external', 'bulk', 'beat'] as const;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

interface Started {
  role: string;
  proc: ChildProcess;
  port?: number;
  metricsPort: number;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function waitReady(s: Started, timeoutMs = 45_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (s.proc.exitCode !== null || s.proc.signalCode !== null) {
      throw new Error(`${s.role} exited (${s.proc.exitCode ?? s.proc.signalCode}):\n${s.output()}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${s.metricsPort}/health/ready`);
      last = `${res.status} ${await res.text()}`;
      if (res.status === 200) return JSON.parse(last.slice(4)) as Record<string, unknown>;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${s.role} not ready in ${timeoutMs} ms (last: ${last}):\n${s.output()}`);
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

function uidOf(pid: number): number {
  return Number(/Uid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

describe('Dockerfile replay: one production-only image boots every role', () => {
  let image: ReplayedImage;
  let iso: Isolation;
  let scratch: string;
  let asUser: { uid: number; gid: number } | undefined;
  let baseEnv: Record<string, string>;
  const started: Started[] = [];
  const chart = render();
  const prodChart = render({ values: [join(ROOT, 'deploy/helm/waste-coach/values-prod.yaml')] });

  let cacheDir = join(ROOT, '.tmp/docker-replay');

  beforeAll(async () => {
    const imageUser = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))
      .stages.at(-1)!
      .instructions.filter((i) => i.cmd === 'USER')
      .map((i) => ({
        uid: Number(i.args.split(':')[0]),
        gid: Number(i.args.split(':')[1] ?? i.args),
      }))
      .at(-1);
    if (process.getuid?.() === 0 && imageUser && !canAccessAs(imageUser, ROOT)) {
      // The image's user could not read a replay inside this checkout: replay under /tmp.
      cacheDir = join(tmpdir(), 'waste-coach-docker-replay');
    }
    if (process.env.DOCKER_REPLAY_BUILD !== '1' && !existsSync(join(ROOT, 'dist/main.js'))) {
      execFileSync('npx', ['nest', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: 240_000 });
    }
    const out = join(cacheDir, `image-${process.pid}`);
    image = replayImage({
      context: ROOT,
      dockerfile: join(ROOT, 'Dockerfile'),
      // DOCKER_REPLAY_BUILD=1 replays the build stage too (full npm ci + nest build, ~1 min);
      // by default its dist/ is the checkout's, which the test command has just built the same way.
      substitute:
        process.env.DOCKER_REPLAY_BUILD === '1'
          ? {}
          : { build: { '/app/dist': join(ROOT, 'dist') } },
      cacheDir: cacheDir,
      outDir: out,
      // Same command as the Dockerfile; the machine's npm cache only saves downloads.
      runEnv: { npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' },
    });
    iso = await isolate('image');
    // Stands in for the pod's /tmp emptyDir, writable by the image's user.
    scratch = join(cacheDir, `tmp-${process.pid}`);
    mkdirSync(join(scratch, 'storage'), { recursive: true });
    const root = process.getuid?.() === 0;
    asUser = root ? image.user : undefined;
    if (asUser) {
      chownSync(scratch, asUser.uid, asUser.gid);
      chownSync(join(scratch, 'storage'), asUser.uid, asUser.gid);
    }
    baseEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: scratch,
      TMPDIR: scratch,
      ...image.env,
      ...iso.env,
      STORAGE_LOCAL_DIR: join(scratch, 'storage'),
      STORAGE_DRIVER: 'local',
      JWT_SECRET: TEST_JWT_SECRET,
      LOG_LEVEL: 'warn',
    };
  }, 300_000);

  afterAll(async () => {
    for (const s of started) if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
    await iso?.cleanup();
    rmSync(join(cacheDir, `image-${process.pid}`), { recursive: true, force: true });
    rmSync(join(cacheDir, `tmp-${process.pid}`), { recursive: true, force: true });
  });

  /** Runs argv (an image command) inside the replayed image, as its user where possible. */
  function startIn(argv: string[], env: Record<string, string>, role: string): Started {
    const [cmd, ...args] = argv;
    const proc = spawn(cmd === 'node' ? process.execPath : cmd, args, {
      cwd: join(image.root, image.workdir),
      env: { ...baseEnv, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(asUser ? { uid: asUser.uid, gid: asUser.gid } : {}),
    });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
    proc.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      proc.once('exit', (code, signal) => r({ code, signal })),
    );
    return { role, proc, metricsPort: 0, output: () => out, exited };
  }

  it('is multi-stage, installs production dependencies only and runs as a non-root user', () => {
    const parsed = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
    expect(parsed.stages.map((s) => s.name)).toEqual(['build', 'deps', 'runtime']);
    for (const s of parsed.stages) expect(s.from).toMatch(/^node:(22|24)-bookworm-slim$/);
    const deps = parsed.stages[1].instructions.filter((i) => i.cmd === 'RUN');
    expect(deps).toHaveLength(1);
    expect(deps[0].args).toMatch(/npm ci --omit=dev/);
    const build = parsed.stages[0].instructions.filter((i) => i.cmd === 'RUN').map((i) => i.args);
    expect(build.at(-1)).toMatch(/nest build$/);
    // The runtime stage copies only the manifest, production node_modules and compiled output.
    const copies = parsed.stages[2].instructions.filter((i) => i.cmd === 'COPY').map((i) => i.args);
    expect(copies).toEqual([
      'package.json ./',
      '--from=deps /app/node_modules ./node_modules',
      '--from=build /app/dist ./dist',
    ]);
    expect(image.user?.uid).toBeGreaterThan(0);
    expect(image.cmd).toEqual(['node', 'dist/main.js']);
    expect(image.exposed).toEqual([3000, 9464]);
    expect(image.healthcheck?.[0]).toBe('node');
    expect(image.env.NODE_ENV).toBe('production');

    const nm = join(image.root, 'app/node_modules');
    for (const dev of [
      'jest',
      'typescript',
      '@nestjs/cli',
      '@swc/core',
      'eslint',
      'kubernetes-models',
    ]) {
      expect([dev, existsSync(join(nm, dev))]).toEqual([dev, false]);
    }
    for (const prod of ['@nestjs/core', 'pg', 'amqplib', 'ioredis', 'sharp']) {
      expect([prod, existsSync(join(nm, prod))]).toEqual([prod, true]);
    }
    // sharp's prebuilt binary for this platform came along as an optional dependency.
    expect(
      readdirSync(join(nm, '@img')).some((d) => d.startsWith(`sharp-${process.platform}`)),
    ).toBe(true);
    // Nothing outside the image's own files: no sources, tests or secrets.
    expect(readdirSync(join(image.root, 'app')).sort()).toEqual([
      'dist',
      'node_modules',
      'package.json',
    ]);
  });

  it('.dockerignore keeps the host build, secrets and VCS out of the context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    for (const p of ['node_modules', 'dist', '.git', '.env', '.tmp']) expect(ignored).toContain(p);
    // ... but not what the build stage copies.
    for (const p of [
      'src',
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'nest-cli.json',
    ]) {
      expect(ignored).not.toContain(p);
    }
  });

  it('the migration hook command applies migrations from the image and exits 0', async () => {
    const job = named<Workload>(chart, 'Job', 'waste-coach-migrate');
    const c = job.spec.template.spec.containers[0];
    const s = startIn(c.command!, { DATABASE_URL: iso.databaseUrl }, 'migrate');
    const { code } = await s.exited;
    expect([code, s.output()]).toEqual([0, expect.stringContaining('migrations applied')]);
  }, 60_000);

  it('boots every role with the chart command and env, ready on its metrics port, as the image user', async () => {
    const rss: Record<string, number> = {};
    const t0 = Date.now();
    for (const role of ROLES) {
      const d = named<Workload>(chart, 'Deployment', `waste-coach-${role}`);
      const c: Container = d.spec.template.spec.containers[0];
      const metricsPort = await freePort();
      const port = await freePort();
      const s = startIn(
        c.command!,
        { ...envOf(c), METRICS_PORT: String(metricsPort), PORT: String(port) },
        role,
      );
      s.metricsPort = metricsPort;
      s.port = role === 'api' ? port : undefined;
      started.push(s);
    }
    const reports = await Promise.all(started.map((s) => waitReady(s)));
    const bootMs = Date.now() - t0;
    reports.forEach((r, i) => {
      expect(r).toEqual(expect.objectContaining({ status: 'ok', role: started[i].role }));
    });
    for (const s of started) {
      rss[s.role] = rssMiB(s.proc.pid!);
      if (asUser) expect(uidOf(s.proc.pid!)).toBe(asUser.uid);
      const metrics = await (await fetch(`http://127.0.0.1:${s.metricsPort}/metrics`)).text();
      expect(metrics).toContain('process_resident_memory_bytes');
    }
    const api = started.find((s) => s.role === 'api')!;
    expect((await fetch(`http://127.0.0.1:${api.port}/health/ready`)).status).toBe(200);
    const docs = (await (await fetch(`http://127.0.0.1:${api.port}/docs-json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(docs.paths).length).toBeGreaterThan(0);
    console.log(`image roles ready in ${bootMs} ms (all five, in parallel); RSS MiB`, rss);
  }, 90_000);

  it('the HEALTHCHECK command succeeds against a running role', async () => {
    const fast = started.find((s) => s.role === 'fast');
    expect(fast).toBeDefined();
    const hc = startIn(image.healthcheck!, { METRICS_PORT: String(fast!.metricsPort) }, 'hc');
    expect((await hc.exited).code).toBe(0);
    const down = startIn(image.healthcheck!, { METRICS_PORT: String(await freePort()) }, 'hc');
    expect((await down.exited).code).toBe(1);
  });

  it('an API split by module (production: API_MODULES=auth) serves only that module', async () => {
    const d = named<Workload>(prodChart, 'Deployment', 'waste-coach-api-auth');
    const c = d.spec.template.spec.containers[0];
    expect(envOf(c).API_MODULES).toBe('auth');
    const metricsPort = await freePort();
    const port = await freePort();
    const s = startIn(
      c.command!,
      { ...envOf(c), METRICS_PORT: String(metricsPort), PORT: String(port) },
      'api-auth',
    );
    s.metricsPort = metricsPort;
    started.push(s);
    await waitReady(s);
    const docs = (await (await fetch(`http://127.0.0.1:${port}/docs-json`)).json()) as {
      paths: Record<string, unknown>;
    };
    const paths = Object.keys(docs.paths);
    expect(paths.length).toBeGreaterThan(0);
    expect(paths.filter((p) => !p.startsWith('/api/v1/auth'))).toEqual([]);
  }, 60_000);

  it('SIGTERM drains and exits well inside terminationGracePeriodSeconds', async () => {
    const running = started.filter((s) => s.proc.exitCode === null && s.proc.signalCode === null);
    expect(running.length).toBeGreaterThanOrEqual(ROLES.length);
    const times = await Promise.all(
      running.map(async (s) => {
        const t0 = Date.now();
        s.proc.kill('SIGTERM');
        const { code, signal } = await s.exited;
        // Nest re-raises the signal after its shutdown hooks ran.
        expect([s.role, code === 0 || signal === 'SIGTERM']).toEqual([s.role, true]);
        return [s.role, Date.now() - t0] as const;
      }),
    );
    const grace = Math.min(
      ...ROLES.map(
        (r) =>
          named<Workload>(chart, 'Deployment', `waste-coach-${r}`).spec.template.spec
            .terminationGracePeriodSeconds ?? 30,
      ),
    );
    for (const [, ms] of times) expect(ms).toBeLessThan(grace * 1000);
    console.log('shutdown after SIGTERM (ms)', Object.fromEntries(times));
  }, 60_000);

  it('caches the production install between runs (keyed by package-lock.json)', () => {
    const dirs = readdirSync(cacheDir).filter((d) => d.startsWith('deps-'));
    expect(dirs).toHaveLength(1);
    expect(statSync(join(cacheDir, dirs[0], '.replayed')).isFile()).toBe(true);
  });
});
