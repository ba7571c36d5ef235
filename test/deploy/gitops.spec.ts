import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { loadConfig } from '../../src/core/config/app-config';
import { envSchema } from '../../src/core/config/env.schema';
import { CHART, K8sObject, ROOT, Workload, byKind, render, schemaProblems } from './k8s';
import { unknownFields } from './k8s-strict';

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  name?: string;
  needs?: string | string[];
  if?: string;
  permissions?: Record<string, string>;
  services?: Record<string, { image: string; ports?: string[] }>;
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  jobs: Record<string, Job>;
}
interface ComposeService {
  image?: string;
  build?: string | { context: string };
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  profiles?: string[];
  ports?: string[];
  read_only?: boolean;
}

const readYaml = <T>(path: string): T => load(readFileSync(join(ROOT, path), 'utf8')) as T;
const KNOWN_ENV = new Set([
  ...Object.keys(envSchema.shape),
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
]);

describe('docker-compose.yml (a laptop copy of production)', () => {
  const compose = readYaml<{ services: Record<string, ComposeService> }>('docker-compose.yml');
  const svc = compose.services;

  it('runs PostgreSQL, Redis, RabbitMQ with management, an S3-compatible store and the app', () => {
    expect(Object.keys(svc)).toEqual(
      expect.arrayContaining(['postgres', 'redis', 'rabbitmq', 'minio', 'app', 'migrate']),
    );
    expect(svc.postgres.image).toMatch(/^postgres:/);
    expect(svc.redis.image).toMatch(/^redis:/);
    expect(svc.rabbitmq.image).toMatch(/^rabbitmq:.*management/);
    expect(svc.rabbitmq.ports).toContain('15672:15672');
    expect(svc.minio.image).toMatch(/^minio\/minio/);
    for (const name of ['postgres', 'redis', 'rabbitmq', 'minio']) {
      expect([name, svc[name].healthcheck?.test.length]).toEqual([name, expect.any(Number)]);
    }
  });

  it('builds the app from the Dockerfile and wires it to those services with a valid config', () => {
    const app = svc.app;
    expect(app.build).toBe('.');
    expect(app.read_only).toBe(true);
    expect(app.profiles).toBeUndefined();
    expect(app.environment?.APP_ROLE).toBe('all');
    expect(Object.keys(app.depends_on ?? {}).sort()).toEqual(
      ['migrate', 'minio-bucket', 'postgres', 'rabbitmq', 'redis'].sort(),
    );
    expect(app.depends_on?.postgres.condition).toBe('service_healthy');
    expect(app.depends_on?.migrate.condition).toBe('service_completed_successfully');
    const env = app.environment ?? {};
    for (const key of Object.keys(env)) expect(KNOWN_ENV).toContain(key);
    // Nothing sits in front of the app here: no forwarding header may be trusted.
    expect(env).not.toHaveProperty('TRUSTED_PROXY_HOPS');
    expect(new URL(env.DATABASE_URL).hostname).toBe('postgres');
    expect(new URL(env.REDIS_URL).hostname).toBe('redis');
    expect(new URL(env.RABBITMQ_URL).hostname).toBe('rabbitmq');
    // guest may only connect from the broker's own loopback: the app uses the configured user.
    const rabbit = svc.rabbitmq.environment ?? {};
    expect(new URL(env.RABBITMQ_URL).username).toBe(rabbit.RABBITMQ_DEFAULT_USER);
    expect(new URL(env.RABBITMQ_URL).password).toBe(rabbit.RABBITMQ_DEFAULT_PASS);
    expect(rabbit.RABBITMQ_DEFAULT_USER).not.toBe('guest');
    expect(new URL(env.DATABASE_URL).password).toBe(svc.postgres.environment?.POSTGRES_PASSWORD);
    expect(new URL(env.S3_ENDPOINT).hostname).toBe('minio');
    expect(() => loadConfig(env)).not.toThrow();
    expect(svc.migrate.command).toEqual(['node', 'dist/core/database/migrate.js']);
  });

  it('the split profile runs one container per role with the right entrypoint', () => {
    for (const role of ['api', 'fast', 'external', 'bulk', 'beat']) {
      const s = svc[role];
      expect(s.profiles).toEqual(['split']);
      expect(s.environment?.APP_ROLE).toBe(role);
      if (role !== 'api') expect(s.command).toEqual(['node', 'dist/worker.js']);
      expect(() => loadConfig(s.environment ?? {})).not.toThrow();
    }
  });
});

describe('.github/workflows/ci.yml', () => {
  const wf = readYaml<Workflow>('.github/workflows/ci.yml');
  const step = (job: string, name: RegExp) => {
    const s = wf.jobs[job].steps.find((x) => name.test(x.name ?? ''));
    if (!s) throw new Error(`${job}: no step matching ${name}`);
    return s;
  };

  it('lints and tests every push against PostgreSQL, Redis and RabbitMQ service containers', () => {
    expect(Object.keys(wf.on)).toEqual(expect.arrayContaining(['push', 'pull_request']));
    const test = wf.jobs.test;
    expect(test.if).toBeUndefined();
    expect(test.services?.postgres.image).toMatch(/^postgres:/);
    expect(test.services?.redis.image).toMatch(/^redis:/);
    expect(test.services?.rabbitmq.image).toMatch(/^rabbitmq:/);
    expect(step('test', /^Install/).run).toBe('npm ci');
    expect(step('test', /^Typecheck$/).run).toBe('npm run typecheck');
    expect(step('test', /^Lint$/).run).toBe('npm run lint');
    expect(step('test', /^Build$/).run).toBe('npm run build');
    expect(step('test', /^Test$/).run).toMatch(/^npx jest/);
    // test/support/isolation.ts calls rabbitmqctl: it must reach the service container.
    expect(step('test', /rabbitmqctl/).run).toContain('docker exec');
    // ... and the tests' guest user must be let in from outside the container.
    expect(step('test', /rabbitmqctl/).run).toContain('loopback_users, []');
    const names = test.steps.map((s) => s.name);
    expect(names.indexOf('Lint')).toBeLessThan(names.indexOf('Test'));
  });

  it('then, on main only, builds and pushes the image to GHCR', () => {
    const image = wf.jobs.image;
    expect(image.needs).toBe('test');
    expect(image.if).toContain("github.ref == 'refs/heads/main'");
    expect(image.permissions?.packages).toBe('write');
    expect(step('image', /Log in/).with?.registry).toBe('ghcr.io');
    const build = step('image', /Build and push/);
    expect(build.uses).toMatch(/^docker\/build-push-action@/);
    expect(build.with?.push).toBe(true);
    expect(String(build.with?.tags)).toContain('steps.meta.outputs.tag');
    expect(step('image', /Image name/).run).toContain('ghcr.io/');
  });

  it('then bumps image.tag in values-prod.yaml, which still lints and renders', () => {
    const deploy = wf.jobs.deploy;
    expect(deploy.needs).toBe('image');
    expect(deploy.permissions?.contents).toBe('write');
    const bump = step('deploy', /Bump image tag/);
    expect(bump.run).not.toContain('${{');
    expect(step('deploy', /Commit and push/).run).toContain('git push');

    // Run the step's script on a copy of the chart, then render the result.
    const dir = mkdtempSync(join(tmpdir(), 'wc-bump-'));
    try {
      cpSync(CHART, join(dir, 'deploy/helm/waste-coach'), { recursive: true });
      const tag = 'sha-0123456789ab';
      const imageName = 'ghcr.io/someone/waste-coach';
      execFileSync('bash', ['-euo', 'pipefail', '-c', bump.run!], {
        cwd: dir,
        env: { ...process.env, IMAGE: imageName, TAG: tag },
        stdio: 'pipe',
      });
      const values = join(dir, 'deploy/helm/waste-coach/values-prod.yaml');
      const text = readFileSync(values, 'utf8');
      const before = readFileSync(join(CHART, 'values-prod.yaml'), 'utf8');
      // Two lines changed, nothing else.
      const changed = text.split('\n').filter((l, i) => l !== before.split('\n')[i]);
      expect(changed).toEqual([`  repository: ${imageName}`, `  tag: '${tag}'`]);
      // Still formatted as `npm run lint` wants it (prettier's CLI: its API needs ESM).
      execFileSync(
        process.execPath,
        [
          join(ROOT, 'node_modules/prettier/bin/prettier.cjs'),
          '--config',
          join(ROOT, '.prettierrc.json'),
          '--check',
          values,
        ],
        { stdio: 'pipe' },
      );
      const objs = render({ chart: join(dir, 'deploy/helm/waste-coach'), values: [values] });
      const images = byKind<Workload>(objs, 'Deployment').map(
        (d) => d.spec.template.spec.containers[0].image,
      );
      expect(new Set(images)).toEqual(new Set([`${imageName}:${tag}`]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('deploy/argocd/waste-coach.yaml', () => {
  const app = readYaml<K8sObject>('deploy/argocd/waste-coach.yaml');
  const spec = app.spec as {
    source: {
      repoURL: string;
      path: string;
      targetRevision: string;
      helm: { valueFiles: string[] };
    };
    destination: { namespace: string };
    syncPolicy: { automated: { prune: boolean; selfHeal: boolean } };
  };

  it('is a valid Argo CD Application syncing the chart automatically with prune and self-heal', () => {
    expect(schemaProblems(app)).toEqual([]);
    expect(unknownFields([app])).toEqual([]);
    expect(app.kind).toBe('Application');
    expect(spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true });
    expect(spec.source.targetRevision).toBe('main');
    expect(existsSync(join(ROOT, spec.source.path, 'Chart.yaml'))).toBe(true);
    expect(spec.source.helm.valueFiles).toEqual(['values-prod.yaml']);
    for (const f of spec.source.helm.valueFiles) {
      expect(existsSync(join(ROOT, spec.source.path, f))).toBe(true);
    }
    expect(spec.destination.namespace).toBe('waste-coach');
  });

  it('deploys the image this repository pushes', () => {
    const repo = /github\.com\/(.+?)(\.git)?$/.exec(spec.source.repoURL)?.[1];
    const prod = load(readFileSync(join(CHART, 'values-prod.yaml'), 'utf8')) as {
      image: { repository: string };
    };
    expect(prod.image.repository).toBe(`ghcr.io/${repo}`);
  });
});
