import { join } from 'node:path';
import * as ts from 'typescript';
import type { K8sObject } from './k8s';

/**
 * Unknown-field check. The Kubernetes OpenAPI schemas allow unknown properties, so a misspelt
 * field (`readynessProbe`) passes schema validation and the API server drops it. The
 * kubernetes-models packages also ship TypeScript declarations generated from the same OpenAPI
 * definitions; this walks a rendered object alongside its kind's interface with the TypeScript
 * checker and reports every property the interface does not declare (like
 * `kubectl --validate=strict`, offline).
 */

const ROOT = join(__dirname, '../..');
const VIRTUAL = join(ROOT, 'test/deploy/__k8s_kinds__.ts');

const PACKAGES: Record<string, string> = {
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
  'keda.sh/v1alpha1': '@kubernetes-models/keda/keda.sh/v1alpha1',
  'argoproj.io/v1alpha1': '@kubernetes-models/argo-cd/argoproj.io/v1alpha1',
};

const moduleOf = (apiVersion: string, kind: string) =>
  `${PACKAGES[apiVersion] ?? `kubernetes-models/${apiVersion}`}/${kind}`;

interface Checker {
  checker: ts.TypeChecker;
  types: Map<string, ts.Type>;
}

let cached: { key: string; value: Checker } | undefined;

function checkerFor(kinds: [string, string][]): Checker {
  const key = JSON.stringify(kinds);
  if (cached?.key === key) return cached.value;
  const source = kinds
    .map(
      ([v, k], i) =>
        `import type { I${k} as T${i} } from ${JSON.stringify(moduleOf(v, k))};\nexport declare const v${i}: T${i};`,
    )
    .join('\n');
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (file, lang, ...rest) =>
    file === VIRTUAL ? ts.createSourceFile(file, source, lang) : getSourceFile(file, lang, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (file) => file === VIRTUAL || fileExists(file);
  const program = ts.createProgram([VIRTUAL], options, host);
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(VIRTUAL)!;
  const types = new Map<string, ts.Type>();
  for (const stmt of sf.statements) {
    if (!ts.isVariableStatement(stmt)) continue;
    const decl = stmt.declarationList.declarations[0];
    const i = Number(decl.name.getText(sf).slice(1));
    types.set(kinds[i].join(' '), checker.getTypeAtLocation(decl));
  }
  const value = { checker, types };
  cached = { key, value };
  return value;
}

function walk(
  c: ts.TypeChecker,
  value: unknown,
  type: ts.Type,
  path: string,
  problems: string[],
): void {
  if (value === null || typeof value !== 'object') return;
  type = c.getNonNullableType(type);
  if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
  if (type.isUnion()) {
    const objects = type.types.filter((t) => t.flags & ts.TypeFlags.Object);
    if (objects.length === 0) return;
    let best: string[] | undefined;
    for (const t of objects) {
      const p: string[] = [];
      walk(c, value, t, path, p);
      if (p.length === 0) return;
      if (!best || p.length < best.length) best = p;
    }
    problems.push(...best!);
    return;
  }
  if (Array.isArray(value)) {
    const element = c.getIndexTypeOfType(type, ts.IndexKind.Number);
    if (element) value.forEach((v, i) => walk(c, v, element, `${path}[${i}]`, problems));
    return;
  }
  const index = c.getIndexTypeOfType(type, ts.IndexKind.String);
  const props = c.getPropertiesOfType(type);
  if (!index && props.length === 0) return;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const prop = c.getPropertyOfType(type, k);
    if (prop) {
      const decl = prop.valueDeclaration ?? prop.declarations?.[0];
      walk(
        c,
        v,
        decl ? c.getTypeOfSymbolAtLocation(prop, decl) : c.getAnyType(),
        `${path}.${k}`,
        problems,
      );
    } else if (index) {
      walk(c, v, index, `${path}.${k}`, problems);
    } else {
      problems.push(`${path}.${k}: unknown field`);
    }
  }
}

/** Unknown fields, per object (SealedSecret, which has no declarations here, is skipped). */
export function unknownFields(objects: K8sObject[]): string[] {
  const kinds = [
    ...new Map(
      objects
        .filter((o) => o.apiVersion !== 'bitnami.com/v1alpha1')
        .map((o) => [`${o.apiVersion} ${o.kind}`, [o.apiVersion, o.kind] as [string, string]]),
    ).values(),
  ].sort();
  const { checker, types } = checkerFor(kinds);
  const problems: string[] = [];
  for (const o of objects) {
    const type = types.get(`${o.apiVersion} ${o.kind}`);
    if (!type) continue;
    if (checker.getPropertiesOfType(type).length === 0) {
      problems.push(`${o.kind}/${o.metadata.name}: no type declarations for ${o.apiVersion}`);
      continue;
    }
    walk(checker, o, type, `${o.kind}/${o.metadata.name}`, problems);
  }
  return problems;
}
