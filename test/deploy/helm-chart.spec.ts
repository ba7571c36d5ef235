import { parser as promql } from '@prometheus-io/lezer-promql';
import { loadConfig } from '../../src/core/config/app-config';
import { envSchema } from '../../src/core/config/env.schema';
import {
  CHART,
  Container,
  K8sObject,
  PROD_VALUES,
  Workload,
  byKind,
  envOf,
  helm,
  helmFails,
  named,
  render,
  schemaProblems,
  secretKeysOf,
} from './k8s';
import { unknownFields } from './k8s-strict';

const ROLES = ['api', 'fast', 'external', 'bulk', 'beat'] as const;
const MODULES = ['auth', 'users', 'waste', 'recycling', 'locations'] as const;
/** The seed document's production layout. */
const SEED_API = { auth: 2, users: 1, waste: 2, recycling: 2, locations: 1 };
const SEED_WORKERS = { fast: 5, external: 5, bulk: 2, beat: 1 };
const SECRET_KEYS = [
  'JWT_SECRET',
  'DATABASE_URL',
  'REDIS_URL',
  'RABBITMQ_URL',
  'ROBOFLOW_API_KEY',
  'OPENAI_API_KEY',
  'KAKAO_REST_API_KEY',
  'KAKAO_CLIENT_SECRET',
  'NAVER_CLIENT_SECRET',
  'GOOGLE_CLIENT_SECRET',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
];

/** A full production Secret: every key present, with values of the right shape. */
const FULL_SECRET: Record<string, string> = {
  JWT_SECRET: 'x'.repeat(48),
  DATABASE_URL: 'postgres://app:pw@postgres.default.svc:5432/waste_coach',
  REDIS_URL: 'redis://:pw@redis.default.svc:6379',
  RABBITMQ_URL: 'amqp://app:pw@rabbitmq.messaging.svc:5672',
  ROBOFLOW_API_KEY: 'rf',
  OPENAI_API_KEY: 'sk',
  KAKAO_REST_API_KEY: 'kakao',
  KAKAO_CLIENT_SECRET: 'kakao-secret',
  NAVER_CLIENT_SECRET: 'naver-secret',
  GOOGLE_CLIENT_SECRET: 'google-secret',
  AWS_ACCESS_KEY_ID: 'AKIA',
  AWS_SECRET_ACCESS_KEY: 'secret',
};

/** PromQL syntax errors (Prometheus's own Lezer grammar for the language). */
function promqlErrors(expr: string): string[] {
  const errors: string[] = [];
  promql.parse(expr).iterate({
    enter(node) {
      if (node.type.isError)
        errors.push(`${expr} at ${node.from}: "${expr.slice(node.from, node.from + 20)}"`);
    },
  });
  return errors;
}

const deployments = (objs: K8sObject[]) => byKind<Workload>(objs, 'Deployment');
const container = (d: Workload): Container => d.spec.template.spec.containers[0];
const roleOf = (d: Workload) => envOf(container(d)).APP_ROLE;

describe('helm chart deploy/helm/waste-coach', () => {
  let def: K8sObject[];
  let prod: K8sObject[];
  let everything: K8sObject[];

  beforeAll(() => {
    def = render();
    prod = render({ values: [PROD_VALUES] });
    // Every optional part switched on: SealedSecret, KEDA, split API without HPA.
    everything = render({
      set: [
        'secrets.sealedSecret.enabled=true',
        'secrets.sealedSecret.encryptedData.JWT_SECRET=AgBy3i4OJSWK+PiTySYZZA==',
        'secrets.sealedSecret.encryptedData.DATABASE_URL=AgAKAoiQm7QDXLwsmm2y9g==',
        'roles.fast.keda.enabled=true',
        'roles.external.keda.enabled=true',
        'roles.api.split.enabled=true',
      ],
    });
  });

  it('passes helm lint --strict with the default and the production values', () => {
    expect(helm(['lint', CHART, '--strict'])).toContain('0 chart(s) failed');
    expect(helm(['lint', CHART, '--strict', '-f', PROD_VALUES])).toContain('0 chart(s) failed');
  });

  it('renders only objects that validate against the Kubernetes (and CRD) schemas', () => {
    for (const objs of [def, prod, everything]) {
      expect(objs.length).toBeGreaterThan(20);
      expect(objs.flatMap(schemaProblems)).toEqual([]);
      // The OpenAPI schemas allow unknown properties; the typed models do not.
      expect(unknownFields(objs)).toEqual([]);
    }
    const kinds = new Set([...def, ...prod, ...everything].map((o) => o.kind));
    for (const k of [
      'Deployment',
      'Service',
      'ConfigMap',
      'ServiceAccount',
      'Job',
      'Ingress',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'HorizontalPodAutoscaler',
      'ServiceMonitor',
      'PrometheusRule',
      'SealedSecret',
      'ScaledObject',
      'TriggerAuthentication',
    ]) {
      expect(kinds).toContain(k);
    }
  });

  it('the schema checks themselves catch a broken manifest and a misspelt field', () => {
    const bad = structuredClone(named<Workload>(def, 'Deployment', 'waste-coach-api'));
    const c = bad.spec.template.spec.containers[0] as unknown as Record<string, unknown>;
    c.ports = [{ name: 'http', containerPort: 'three-thousand' }];
    expect(schemaProblems(bad).join()).toMatch(/containerPort must be integer/);
    c.ports = [{ name: 'http', containerPort: 3000 }];
    c.readynessProbe = c.readinessProbe;
    expect(schemaProblems(bad)).toEqual([]);
    expect(unknownFields([bad])).toEqual([
      'Deployment/waste-coach-api.spec.template.spec.containers[0].readynessProbe: unknown field',
    ]);
  });

  it('runs each role as its own Deployment with its APP_ROLE, entrypoint, probes and resources', () => {
    const byRole = Object.fromEntries(deployments(def).map((d) => [roleOf(d), d]));
    expect(Object.keys(byRole).sort()).toEqual([...ROLES].sort());
    for (const role of ROLES) {
      const d = byRole[role];
      const c = container(d);
      expect(d.metadata.name).toBe(`waste-coach-${role}`);
      expect(d.spec.template.metadata.labels['app.kubernetes.io/component']).toBe(role);
      expect(c.command).toEqual(['node', role === 'api' ? 'dist/main.js' : 'dist/worker.js']);
      expect(c.image).toMatch(/^ghcr\.io\/.+:.+/);
      const port = role === 'api' ? 'http' : 'metrics';
      expect(c.startupProbe?.httpGet).toEqual({ path: '/health/live', port });
      expect(c.livenessProbe?.httpGet).toEqual({ path: '/health/live', port });
      expect(c.readinessProbe?.httpGet).toEqual({ path: '/health/ready', port });
      expect(c.ports?.map((p) => p.name)).toContain(port);
      expect(c.resources?.requests).toEqual(
        expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }),
      );
      expect(c.resources?.limits?.memory).toBeDefined();
    }
    expect(envOf(container(byRole.fast)).PREFETCH_FAST).toBe('32');
    expect(envOf(container(byRole.external)).PREFETCH_EXTERNAL).toBe('256');
    expect(envOf(container(byRole.bulk))).toEqual(
      expect.objectContaining({ PREFETCH_BULK: '1', PREFETCH_SCHED: '1' }),
    );
  });

  it('runs every pod non-root on a read-only root filesystem without privilege escalation', () => {
    const job = named<Workload>(def, 'Job', 'waste-coach-migrate');
    for (const w of [...deployments(def), ...deployments(prod), job]) {
      const pod = w.spec.template.spec;
      expect(pod.securityContext?.runAsNonRoot).toBe(true);
      expect(pod.securityContext?.runAsUser).toBeGreaterThan(0);
      expect(pod.automountServiceAccountToken).toBe(false);
      for (const c of pod.containers) {
        expect(c.securityContext).toEqual(
          expect.objectContaining({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            privileged: false,
            capabilities: { drop: ['ALL'] },
          }),
        );
        expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
      }
    }
  });

  it('gives every pod longer to terminate than the app takes to drain its messages', () => {
    for (const d of [...deployments(def), ...deployments(prod)]) {
      const c = container(d);
      const drain = Number(envOf(c).SHUTDOWN_TIMEOUT_MS) / 1000;
      const preStop = Number(c.lifecycle?.preStop?.exec?.command[1] ?? 0);
      expect(drain).toBeGreaterThan(0);
      expect(d.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(drain + preStop);
      // The API keeps serving while the load balancer deregisters it.
      if (roleOf(d) === 'api') expect(preStop).toBeGreaterThanOrEqual(5);
    }
    const err = helmFails([
      'template',
      CHART,
      '--set',
      'roles.fast.terminationGracePeriodSeconds=20',
    ]);
    expect(err).toMatch(/roles\.fast: terminationGracePeriodSeconds \(20\) must exceed/);
  });

  it('production reproduces the seed layout: split API, 5/5/2/1 workers, three node pools', () => {
    const ds = deployments(prod);
    for (const [module, replicas] of Object.entries(SEED_API)) {
      const d = named<Workload>(prod, 'Deployment', `waste-coach-api-${module}`);
      const env = envOf(container(d));
      expect(env.APP_ROLE).toBe('api');
      // The default module's Deployment also serves what the ingress sends to `/` (admin).
      expect(env.API_MODULES).toBe(module === 'waste' ? 'waste,admin' : module);
      // The HPA owns the replica count; the seed's count is its floor.
      expect(d.spec.replicas).toBeUndefined();
      const hpa = named(prod, 'HorizontalPodAutoscaler', `waste-coach-api-${module}`);
      expect(hpa.spec).toEqual(
        expect.objectContaining({
          minReplicas: replicas,
          maxReplicas: 10,
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name },
        }),
      );
      const metrics = (hpa.spec as { metrics: { resource: { name: string; target: unknown } }[] })
        .metrics;
      expect(metrics.map((m) => [m.resource.name, m.resource.target])).toEqual([
        ['cpu', { type: 'Utilization', averageUtilization: 70 }],
        ['memory', { type: 'Utilization', averageUtilization: 80 }],
      ]);
    }
    for (const [role, replicas] of Object.entries(SEED_WORKERS)) {
      const d = named<Workload>(prod, 'Deployment', `waste-coach-${role}`);
      expect(roleOf(d)).toBe(role);
      expect(d.spec.replicas).toBe(replicas);
    }
    expect(ds).toHaveLength(MODULES.length + 4);
    // 8 API pods and 13 worker pods at rest, as in the seed.
    const apiPods = Object.values(SEED_API).reduce((a, b) => a + b, 0);
    const workerPods = ds.reduce((n, d) => n + (d.spec.replicas ?? 0), 0);
    expect([apiPods, workerPods]).toEqual([8, 13]);

    const pool = (name: string) =>
      named<Workload>(prod, 'Deployment', `waste-coach-${name}`).spec.template.spec.nodeSelector?.[
        'waste-coach.io/pool'
      ];
    expect(['api-waste', 'fast'].map(pool)).toEqual(['cpu', 'cpu']);
    expect(['external', 'api-recycling'].map(pool)).toEqual(['network', 'network']);
    expect(['api-auth', 'api-users', 'api-locations', 'bulk', 'beat'].map(pool)).toEqual(
      Array(5).fill('io'),
    );
  });

  it('production routes each /api/v1/<module> prefix to its own Service over TLS', () => {
    const ing = named(prod, 'Ingress', 'waste-coach');
    const spec = ing.spec as {
      ingressClassName: string;
      tls: { hosts: string[] }[];
      rules: {
        host: string;
        http: {
          paths: { path: string; backend: { service: { name: string; port: { name: string } } } }[];
        };
      }[];
    };
    expect(spec.ingressClassName).toBe('alb');
    expect(spec.tls[0].hosts).toEqual([spec.rules[0].host]);
    expect(ing.metadata.annotations).toEqual(
      expect.objectContaining({
        'alb.ingress.kubernetes.io/scheme': 'internet-facing',
        'alb.ingress.kubernetes.io/target-type': 'ip',
        'alb.ingress.kubernetes.io/ssl-redirect': '443',
      }),
    );
    const routes = Object.fromEntries(
      spec.rules[0].http.paths.map((p) => [p.path, p.backend.service.name]),
    );
    for (const m of MODULES) expect(routes[`/api/v1/${m}`]).toBe(`waste-coach-api-${m}`);
    expect(routes['/']).toBe('waste-coach-api-waste');
    // Every backend is a rendered Service whose selector picks exactly that module's pods.
    for (const p of spec.rules[0].http.paths) {
      const svc = named(prod, 'Service', p.backend.service.name);
      const selector = (svc.spec as { selector: Record<string, string> }).selector;
      const d = named<Workload>(prod, 'Deployment', p.backend.service.name);
      expect(d.spec.template.metadata.labels).toEqual(expect.objectContaining(selector));
      expect(selector['waste-coach.io/workload']).toBe(p.backend.service.name.slice(12));
    }
  });

  it('rolls the API without losing capacity and the workers without needing spare room', () => {
    for (const d of deployments(prod)) {
      const ru = d.spec.strategy?.rollingUpdate;
      expect([d.metadata.name, ru]).toEqual([
        d.metadata.name,
        roleOf(d) === 'api'
          ? { maxSurge: 1, maxUnavailable: 0 }
          : { maxSurge: 0, maxUnavailable: 1 },
      ]);
    }
  });

  it('has a PodDisruptionBudget for every Deployment that never blocks a drain', () => {
    for (const objs of [def, prod]) {
      for (const d of deployments(objs)) {
        const pdb = named(objs, 'PodDisruptionBudget', d.metadata.name);
        const spec = pdb.spec as { maxUnavailable: number; selector: { matchLabels: object } };
        expect(spec.maxUnavailable).toBe(1);
        expect(spec.selector.matchLabels).toEqual(d.spec.selector?.matchLabels);
      }
    }
  });

  it('NetworkPolicies: HTTP only from the ingress controller, egress only to what each role needs', () => {
    type Peer = Record<string, unknown>;
    type Rule = { from?: Peer[]; to?: Peer[]; ports: { port: number; protocol: string }[] };
    const policy = (component: string) => {
      const np = named(prod, 'NetworkPolicy', `waste-coach-${component}`);
      const spec = np.spec as {
        podSelector: { matchLabels: Record<string, string> };
        policyTypes: string[];
        ingress: Rule[];
        egress: Rule[];
      };
      expect(spec.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(spec.podSelector.matchLabels['app.kubernetes.io/component']).toBe(component);
      return spec;
    };
    const ports = (rules: Rule[]) => rules.flatMap((r) => r.ports.map((p) => p.port)).sort();

    const api = policy('api');
    expect(api.ingress).toHaveLength(2);
    expect(api.ingress[0].ports).toEqual([{ protocol: 'TCP', port: 3000 }]);
    expect(api.ingress[0].from).toContainEqual({
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
    });
    expect(api.ingress[1]).toEqual({
      from: [
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
      ],
      ports: [{ protocol: 'TCP', port: 9464 }],
    });

    const expected: Record<string, number[]> = {
      api: [443, 5432, 53, 53, 5672, 6379],
      fast: [443, 5432, 53, 53, 5672, 6379],
      external: [443, 5432, 53, 53, 5672, 6379],
      bulk: [443, 5432, 53, 53, 5672, 6379],
      beat: [53, 53, 5672, 6379],
      migrate: [5432, 53, 53],
    };
    for (const [component, egressPorts] of Object.entries(expected)) {
      const spec = policy(component);
      expect(ports(spec.egress)).toEqual([...egressPorts].sort());
      if (component !== 'api' && component !== 'migrate') {
        // Workers take no traffic but Prometheus's.
        expect(ports(spec.ingress)).toEqual([9464]);
      }
    }
    expect(policy('migrate').ingress).toEqual([]);
    // 443 goes to public addresses only: no private ranges, no instance metadata.
    const https = policy('external').egress.find((r) => r.ports[0].port === 443)!;
    expect(https.to).toEqual([
      {
        ipBlock: {
          cidr: '0.0.0.0/0',
          except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16'],
        },
      },
    ]);
    // Production pins the data stores to their namespaces (seed: default and messaging).
    const rabbit = policy('beat').egress.find((r) => r.ports[0].port === 5672)!;
    expect(rabbit.to).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'messaging' } } },
    ]);
  });

  it('runs migrations in a pre-install/pre-upgrade hook Job before the new pods', () => {
    for (const objs of [def, prod]) {
      const job = named<Workload>(objs, 'Job', 'waste-coach-migrate');
      expect(job.metadata.annotations).toEqual(
        expect.objectContaining({
          'helm.sh/hook': 'pre-install,pre-upgrade',
          'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded',
        }),
      );
      const pod = job.spec.template.spec;
      expect(pod.restartPolicy).toBe('Never');
      // No chart ServiceAccount yet on a first install.
      expect(pod.serviceAccountName).toBeUndefined();
      const c = pod.containers[0];
      expect(c.command).toEqual(['node', 'dist/core/database/migrate.js']);
      expect(c.envFrom).toBeUndefined();
      expect(secretKeysOf(c)).toEqual([{ key: 'DATABASE_URL', optional: false }]);
    }
  });

  it('reads secrets from the named Secret, each role only the keys it needs', () => {
    for (const objs of [def, prod]) {
      expect(byKind(objs, 'Secret')).toEqual([]);
      const cm = named(objs, 'ConfigMap', 'waste-coach-config');
      for (const key of SECRET_KEYS) expect(cm.data).not.toHaveProperty(key);
      for (const d of deployments(objs)) {
        const c = container(d);
        expect(c.envFrom).toEqual([{ configMapRef: { name: 'waste-coach-config' } }]);
        for (const e of c.env ?? []) {
          if (e.valueFrom) expect(e.valueFrom.secretKeyRef?.name).toBe('waste-coach-secrets');
        }
      }
    }
    const keys = (name: string) =>
      secretKeysOf(container(named<Workload>(prod, 'Deployment', `waste-coach-${name}`))).map(
        (k) => k.key,
      );
    expect(keys('beat').sort()).toEqual(['JWT_SECRET', 'RABBITMQ_URL', 'REDIS_URL']);
    expect(keys('external')).toEqual(
      expect.arrayContaining(['ROBOFLOW_API_KEY', 'OPENAI_API_KEY']),
    );
    expect(keys('api-auth')).toEqual(expect.arrayContaining(['KAKAO_CLIENT_SECRET']));
    for (const name of ['api-auth', 'fast', 'bulk', 'beat']) {
      expect(keys(name)).not.toContain('OPENAI_API_KEY');
      expect(keys(name)).not.toContain('ROBOFLOW_API_KEY');
    }
    expect(helmFails(['template', CHART, '--set', 'config.DATABASE_URL=postgres://x'])).toMatch(
      /\/config/,
    );
  });

  it('trusts one X-Forwarded-For hop (the ALB) only while the chart runs an ingress', () => {
    for (const objs of [def, prod]) {
      expect(named(objs, 'ConfigMap', 'waste-coach-config').data?.TRUSTED_PROXY_HOPS).toBe('1');
    }
    const noIngress = render({ set: ['ingress.enabled=false'] });
    expect(named(noIngress, 'ConfigMap', 'waste-coach-config').data).not.toHaveProperty(
      'TRUSTED_PROXY_HOPS',
    );
    const twoHops = render({ set: ['ingress.trustedProxyHops=2'] });
    expect(named(twoHops, 'ConfigMap', 'waste-coach-config').data?.TRUSTED_PROXY_HOPS).toBe('2');
  });

  it('sets only variables the app reads, and every production role passes the config check', () => {
    const known = new Set([
      ...Object.keys(envSchema.shape),
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
    ]);
    const cm = named(prod, 'ConfigMap', 'waste-coach-config').data ?? {};
    for (const key of Object.keys(cm)) expect(known).toContain(key);
    for (const d of deployments(prod)) {
      const c = container(d);
      for (const e of c.env ?? []) expect(known).toContain(e.name);
      // What the pod would see with a complete Secret: the app's own validation must accept it.
      const env: Record<string, string> = { ...cm, ...envOf(c) };
      for (const { key } of secretKeysOf(c)) env[key] = FULL_SECRET[key];
      expect(() => loadConfig(env)).not.toThrow();
      expect(loadConfig(env).APP_ROLE).toBe(roleOf(d));
    }
  });

  it('SealedSecret mode: the sealed Secret exists before the migration hook and every role reads it', () => {
    const sealed = named(everything, 'SealedSecret', 'waste-coach-secrets');
    const weight = (o: K8sObject) => Number(o.metadata.annotations?.['helm.sh/hook-weight']);
    const job = named(everything, 'Job', 'waste-coach-migrate');
    expect(sealed.metadata.annotations?.['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    expect(weight(sealed)).toBeLessThan(weight(job));
    expect(Object.keys((sealed.spec as { encryptedData: object }).encryptedData).sort()).toEqual([
      'DATABASE_URL',
      'JWT_SECRET',
    ]);
    for (const d of deployments(everything)) {
      const refs = (container(d).env ?? []).filter((e) => e.valueFrom);
      expect(refs.every((e) => e.valueFrom?.secretKeyRef?.name === 'waste-coach-secrets')).toBe(
        true,
      );
    }
    expect(helmFails(['template', CHART, '--set', 'secrets.sealedSecret.enabled=true'])).toMatch(
      /encryptedData is empty/,
    );
  });

  it('KEDA mode scales workers on their queue depth and leaves replicas to it', () => {
    const so = named(everything, 'ScaledObject', 'waste-coach-fast');
    const spec = so.spec as {
      scaleTargetRef: { name: string };
      triggers: {
        type: string;
        metadata: Record<string, string>;
        authenticationRef: { name: string };
      }[];
    };
    expect(spec.scaleTargetRef.name).toBe('waste-coach-fast');
    expect(spec.triggers[0]).toEqual(
      expect.objectContaining({
        type: 'rabbitmq',
        metadata: expect.objectContaining({ queueName: 'q.fast', mode: 'QueueLength' }),
      }),
    );
    const auth = named(
      everything,
      'TriggerAuthentication',
      spec.triggers[0].authenticationRef.name,
    );
    expect(auth.spec).toEqual({
      secretTargetRef: [{ parameter: 'host', name: 'waste-coach-secrets', key: 'RABBITMQ_URL' }],
    });
    expect(
      named<Workload>(everything, 'Deployment', 'waste-coach-fast').spec.replicas,
    ).toBeUndefined();
    expect(named<Workload>(everything, 'Deployment', 'waste-coach-bulk').spec.replicas).toBe(1);
    expect(
      helmFails([
        'template',
        CHART,
        '--set',
        'roles.fast.keda.enabled=true',
        '--set',
        'roles.fast.autoscaling.enabled=true',
      ]),
    ).toMatch(/either autoscaling \(HPA\) or keda/);
  });

  it('the values schema rejects typos and wrong types', () => {
    expect(helmFails(['template', CHART, '--set', 'roles.fast.replica=3'])).toMatch(
      /additional properties 'replica' not allowed/,
    );
    expect(helmFails(['template', CHART, '--set', 'roles.fast.prefetch.fast=0'])).toMatch(
      /prefetch/,
    );
    expect(
      helmFails(['template', CHART, '--set', 'podSecurityContext.runAsNonRoot=false']),
    ).toMatch(/runAsNonRoot/);
    expect(
      helmFails(['template', CHART, '--set', 'roles.api.split.modules.billing.replicas=1']),
    ).toMatch(/billing/);
  });

  it('monitoring: ServiceMonitor on every role, the seed alerts plus ours, a Grafana dashboard', () => {
    const sm = named(prod, 'ServiceMonitor', 'waste-coach');
    const smSpec = sm.spec as {
      selector: { matchLabels: Record<string, string> };
      endpoints: { port: string; path: string }[];
    };
    const metricsSvc = named(prod, 'Service', 'waste-coach-metrics');
    expect(metricsSvc.metadata.labels).toEqual(
      expect.objectContaining(smSpec.selector.matchLabels),
    );
    const svcSpec = metricsSvc.spec as {
      clusterIP: string;
      selector: Record<string, string>;
      ports: { name: string; port: number }[];
    };
    expect(svcSpec.clusterIP).toBe('None');
    expect(svcSpec.ports).toEqual([expect.objectContaining({ name: 'metrics', port: 9464 })]);
    expect(smSpec.endpoints[0]).toEqual(
      expect.objectContaining({ port: 'metrics', path: '/metrics' }),
    );
    for (const d of deployments(prod)) {
      expect(d.spec.template.metadata.labels).toEqual(expect.objectContaining(svcSpec.selector));
    }

    const rule = named(prod, 'PrometheusRule', 'waste-coach');
    const alerts = (rule.spec as { groups: { rules: { alert: string; expr: string }[] }[] }).groups
      .flatMap((g) => g.rules)
      .map((r) => ({ alert: r.alert, expr: r.expr.replace(/\s+/g, ' ').trim() }));
    const expr = (alert: string) => alerts.find((a) => a.alert === alert)?.expr ?? '';
    expect(expr('WasteCoachDeadLetterQueueBacklog')).toBe(
      '(max(rabbitmq_queue_messages{queue="q.dlq"}) or max(rabbitmq_dlq_messages)) > 100',
    );
    expect(expr('WasteCoachPodCrashLooping')).toContain('reason="CrashLoopBackOff"');
    expect(expr('NodeCpuHigh')).toMatch(/node_cpu_seconds_total\{mode="idle"\}.*> 90$/);
    expect(expr('NodeDiskUsageHigh')).toMatch(/node_filesystem_avail_bytes.*> 80$/);
    expect(expr('WasteCoachJobFailureRateHigh')).toMatch(
      /waste_jobs_total\{namespace="waste-coach", status="failed"\}.*> 0\.1$/,
    );
    expect(expr('WasteCoachApiLatencyHigh')).toMatch(
      /^histogram_quantile\(0\.95, .*http_request_duration_seconds_bucket.*> 1$/,
    );
    expect(alerts.flatMap((a) => promqlErrors(a.expr))).toEqual([]);
    expect(promqlErrors('sum(rate(waste_jobs_total[5m]) >')).not.toEqual([]);

    const cm = named(prod, 'ConfigMap', 'waste-coach-dashboard');
    expect(cm.metadata.namespace).toBe('monitoring');
    expect(cm.metadata.labels?.grafana_dashboard).toBe('1');
    const dash = JSON.parse(cm.data?.['waste-coach.json'] ?? '') as {
      panels: { type: string; title: string; targets?: { expr: string }[] }[];
    };
    const exprs = dash.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    for (const metric of [
      'rabbitmq_queue_messages',
      'task_messages_total',
      'task_duration_seconds_bucket',
      'http_request_duration_seconds_bucket',
      'waste_cache_lookups_total',
      'waste_jobs_total',
    ]) {
      expect([metric, exprs.some((e) => e.includes(metric))]).toEqual([metric, true]);
    }
    expect(exprs.flatMap(promqlErrors)).toEqual([]);
    const rows = dash.panels.filter((p) => p.type === 'row').map((p) => p.title);
    expect(rows).toEqual(
      expect.arrayContaining(['Queues', 'Tasks', 'API', 'Cache', 'Analysis jobs']),
    );
  });
});
