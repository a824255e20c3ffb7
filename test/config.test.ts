import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync, readFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Value } from '@sinclair/typebox/value';
import {
  loadConfig,
  parseServeArgs,
  configJsonSchema,
  formatConfig,
  listenerLimits,
  envVariables,
  kvRefreshMs,
  ConfigError,
  FileConfigSchema,
  CollectorConfigSchema,
  type CollectorConfig,
  type LoadOptions,
} from '../src/config/mod.js';
import { DEFAULT_LIMITS } from '../src/templates/mod.js';
import { nobodyCannotRead, runAsNobody, skipUnlessAsNobody } from './support/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'fc-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(name: string, text: string): string {
  const p = join(dir, `${n++}-${name}`);
  writeFileSync(p, text);
  return p;
}

/** loadConfig with an empty environment unless one is given. */
function load(opts: LoadOptions = {}) {
  return loadConfig({ env: {}, ...opts });
}

/** The problems of a load that must fail. */
function problems(opts: LoadOptions): string[] {
  try {
    load(opts);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.ok(err.message.includes(err.problems[0]!), 'the message lists the problems');
    return err.problems;
  }
  assert.fail('expected the configuration to be refused');
}

function argProblems(argv: string[]): string[] {
  try {
    parseServeArgs(argv);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected the arguments to be refused');
}

function has(list: string[], text: string): void {
  assert.ok(list.some((p) => p.includes(text)), `expected a problem containing ${JSON.stringify(text)} in:\n${list.join('\n')}`);
}

// ---------------------------------------------------------------------------------------------
// Defaults

test('defaults: three auto listeners, stdout JSON, every default filled in', () => {
  const { config, warnings, source } = load();
  assert.equal(source, 'default');
  assert.deepEqual(warnings, []);
  assert.deepEqual(
    config.listeners.map((l) => [l.name, l.address, l.port, l.protocol]),
    [
      ['netflow', '0.0.0.0', 2055, 'auto'],
      ['ipfix', '0.0.0.0', 4739, 'auto'],
      ['sflow', '0.0.0.0', 6343, 'auto'],
    ],
  );
  for (const l of config.listeners) {
    assert.equal(l.sockets_per_worker, 1);
    assert.equal(l.receive_buffer_bytes, 32 * 1024 * 1024);
    assert.equal(l.batch_size, 64);
    assert.equal(l.spread, 'none');
    assert.equal(l.templates, undefined);
  }
  assert.ok(Number.isInteger(config.workers) && config.workers >= 1);
  assert.deepEqual(config.templates, {
    max_sources: DEFAULT_LIMITS.maxSources,
    max_templates: DEFAULT_LIMITS.maxTemplates,
    max_template_fields: DEFAULT_LIMITS.maxTemplateFields,
    max_record_length: DEFAULT_LIMITS.maxRecordLength,
    scope_includes_port: DEFAULT_LIMITS.scopeIncludesPort,
    pending_max_bytes_per_scope: DEFAULT_LIMITS.pendingMaxBytesPerScope,
    pending_max_bytes_total: DEFAULT_LIMITS.pendingMaxBytesTotal,
    pending_max_age_ms: DEFAULT_LIMITS.pendingMaxAgeMs,
    max_options_records: DEFAULT_LIMITS.maxOptionsRecords,
  });
  assert.deepEqual(config.sampling, { defaults: [], overrides: [], renormalize: false, interface_names: false });
  assert.deepEqual(config.outputs, [{ type: 'stdout', format: 'json' }]);
  assert.deepEqual(config.queue, { max_bytes: 64 * 1024 * 1024, drop_policy: 'drop_newest' });
  assert.deepEqual(config.metrics, { enabled: true, address: '127.0.0.1:9191' });
  assert.deepEqual(config.health, {});
  assert.deepEqual(config.logging, { level: 'info', summary_interval_s: 60, warn_interval_s: 60 });
  assert.deepEqual(config.shutdown, { drain_timeout_ms: 5000 });
  assert.equal(config.nats, undefined);
  assert.deepEqual(config.template_store, { backend: 'local', kv_bucket: 'flow_templates', kv_history: 1, kv_ttl_s: 0, kv_replicas: 1, kv_refresh_s: 0 });
  assert.ok(Value.Check(CollectorConfigSchema, config));
  assert.deepEqual(listenerLimits(config, config.listeners[0]!), { ...DEFAULT_LIMITS });
});

test('FLOW_COLLECTOR_CONFIG names the file when none is given; an explicit file wins', () => {
  const a = file('a.yaml', 'workers: 3\n');
  const b = file('b.yaml', 'workers: 5\n');
  assert.equal(load({ env: { FLOW_COLLECTOR_CONFIG: a } }).config.workers, 3);
  assert.equal(load({ env: { FLOW_COLLECTOR_CONFIG: a } }).source, 'file');
  assert.equal(load({ file: b, env: { FLOW_COLLECTOR_CONFIG: a } }).config.workers, 5);
});

// ---------------------------------------------------------------------------------------------
// Files

const EXAMPLE_YAML = `
# flow-collector serve
workers: 2
listeners:
  - port: 2055                 # NetFlow v5/v9 and IPFIX: protocol auto
  - name: ipfix
    address: "::"
    port: 4739
    protocol: ipfix
    sockets_per_worker: 2
    spread: random
    receive_buffer_bytes: 33554432
    batch_size: 256
    templates:
      max_templates: 2048
  - port: 6343
    protocol: sflow
    max_samples_per_datagram: 64
templates:
  max_sources: 20000
  scope_includes_port: true
sampling:
  defaults:
    - { exporter: 10.0.0.0/8, rate: 1000 }
  overrides:
    - { exporter: 192.0.2.1, rate: 64 }
  renormalize: true
outputs:
  - type: stdout
    format: flowpb
queue:
  max_bytes: 1048576
  drop_policy: drop_oldest
metrics:
  address: "[::1]:0"
logging:
  level: debug
  summary_interval_s: 0
  warn_interval_s: 10
shutdown:
  drain_timeout_ms: 1000
`;

function checkExample(config: CollectorConfig): void {
  assert.equal(config.workers, 2);
  assert.deepEqual(
    config.listeners.map((l) => [l.name, l.address, l.port, l.protocol, l.sockets_per_worker, l.spread]),
    [
      ['auto-2055', '0.0.0.0', 2055, 'auto', 1, 'none'],
      ['ipfix', '::', 4739, 'ipfix', 2, 'random'],
      ['sflow-6343', '0.0.0.0', 6343, 'sflow', 1, 'none'],
    ],
  );
  assert.equal(config.listeners[1]!.receive_buffer_bytes, 33554432);
  assert.equal(config.listeners[1]!.batch_size, 256);
  assert.deepEqual(config.listeners[1]!.templates, { max_templates: 2048 });
  assert.equal(config.listeners[2]!.max_samples_per_datagram, 64);
  assert.equal(config.templates.max_sources, 20000);
  assert.equal(config.templates.scope_includes_port, true);
  assert.equal(config.templates.max_templates, DEFAULT_LIMITS.maxTemplates);
  const l1 = listenerLimits(config, config.listeners[1]!);
  assert.equal(l1.maxTemplates, 2048, 'listener override');
  assert.equal(l1.maxSources, 20000, 'global setting under the override');
  assert.deepEqual(config.sampling, { defaults: [{ exporter: '10.0.0.0/8', rate: 1000 }], overrides: [{ exporter: '192.0.2.1', rate: 64 }], renormalize: true, interface_names: false });
  assert.deepEqual(config.outputs, [{ type: 'stdout', format: 'flowpb' }]);
  assert.deepEqual(config.queue, { max_bytes: 1048576, drop_policy: 'drop_oldest' });
  assert.deepEqual(config.metrics, { enabled: true, address: '[::1]:0' });
  assert.deepEqual(config.logging, { level: 'debug', summary_interval_s: 0, warn_interval_s: 10 });
  assert.deepEqual(config.shutdown, { drain_timeout_ms: 1000 });
}

test('a YAML file, and the same settings as JSON, give the same configuration', async () => {
  const { parse } = await import('yaml');
  const y = load({ file: file('example.yaml', EXAMPLE_YAML) });
  assert.equal(y.source, 'file');
  checkExample(y.config);
  const j = load({ file: file('example.json', JSON.stringify(parse(EXAMPLE_YAML), null, 2)) });
  checkExample(j.config);
  assert.deepEqual(j.config, y.config);
  // Without a telling extension, the content decides.
  assert.deepEqual(load({ file: file('example.conf', JSON.stringify(parse(EXAMPLE_YAML))) }).config, y.config);
  assert.deepEqual(load({ file: file('example', EXAMPLE_YAML) }).config, y.config);
});

test('formatConfig output is a valid file that loads back to the same configuration', () => {
  const { config } = load({ file: file('example.yaml', EXAMPLE_YAML) });
  const text = formatConfig(config);
  assert.ok(text.endsWith('\n'));
  assert.deepEqual(load({ file: file('effective.json', text) }).config, config);
});

test('an empty file means the defaults, with a warning', () => {
  const r = load({ file: file('empty.yaml', '# nothing yet\n') });
  assert.deepEqual(r.config, load().config);
  has(r.warnings, 'empty');
});

test('unreadable and malformed files are refused with the place of the error', () => {
  has(problems({ file: join(dir, 'missing.yaml') }), 'missing.yaml does not exist');
  has(problems({ file: dir }), 'is a directory');
  const yaml = problems({ file: file('bad.yaml', 'workers: 2\nqueue:\n  max_bytes: 1\n  max_bytes: 2\n') });
  has(yaml, 'not valid YAML');
  has(yaml, 'line 4');
  const json = problems({ file: file('bad.json', '{\n  "workers": 2,\n}\n') });
  has(json, 'not valid JSON at line 3');
  has(problems({ file: file('list.yaml', '- 1\n- 2\n') }), 'must hold a mapping of settings');
});

// ---------------------------------------------------------------------------------------------
// Environment and flags

test('environment overrides the file, parsed by the type of each setting', () => {
  const f = file('env.yaml', 'workers: 2\nqueue:\n  max_bytes: 1048576\nlogging:\n  level: warn\n');
  const { config } = load({
    file: f,
    env: {
      FLOW_COLLECTOR_WORKERS: '4',
      FLOW_COLLECTOR_QUEUE__MAX_BYTES: '2097152',
      FLOW_COLLECTOR_QUEUE__DROP_POLICY: 'block',
      FLOW_COLLECTOR_LOGGING__LEVEL: 'debug',
      FLOW_COLLECTOR_METRICS__ADDRESS: '0.0.0.0:9191',
      FLOW_COLLECTOR_METRICS__ENABLED: 'yes',
      FLOW_COLLECTOR_TEMPLATES__SCOPE_INCLUDES_PORT: 'true',
      FLOW_COLLECTOR_NATS__SERVERS: 'nats://a:4222, nats://b:4222',
      FLOW_COLLECTOR_OUTPUTS: '[{"type":"nats","format":"flowpb-batch"}]',
      FLOW_COLLECTOR_LISTENERS: '127.0.0.1:2055,[::1]:2055',
      // Not overrides:
      FLOW_COLLECTOR_INGEST: 'dgram',
      FLOW_COLLECTOR_DEBUG: '1',
      // Empty is unset.
      FLOW_COLLECTOR_SHUTDOWN__DRAIN_TIMEOUT_MS: '',
      OTHER: 'x',
    },
  });
  assert.equal(config.workers, 4);
  assert.deepEqual(config.queue, { max_bytes: 2097152, drop_policy: 'block' });
  assert.equal(config.logging.level, 'debug');
  assert.deepEqual(config.metrics, { enabled: true, address: '0.0.0.0:9191' });
  assert.equal(config.templates.scope_includes_port, true);
  assert.deepEqual(config.nats?.servers, ['nats://a:4222', 'nats://b:4222']);
  assert.deepEqual(config.outputs, [{ type: 'nats', format: 'flowpb-batch', subject: 'flows.raw', batch_size: 10000, max_batch_bytes: 1048576, max_batch_delay_ms: 100 }]);
  assert.deepEqual(
    config.listeners.map((l) => [l.name, l.address, l.port]),
    [
      ['auto-2055', '127.0.0.1', 2055],
      ['auto-::1-2055', '::1', 2055],
    ],
  );
  assert.equal(config.shutdown.drain_timeout_ms, 5000);
  assert.equal(load({ env: { FLOW_COLLECTOR_WORKERS: 'auto' } }).config.workers >= 1, true);
});

test('environment: unknown variables, bad values and wrong values are refused, naming the variable', () => {
  const p = problems({
    env: {
      FLOW_COLLECTOR_WORKER: '4',
      FLOW_COLLECTOR_QUEUE__MAXBYTES: '1',
      FLOW_COLLECTOR_QUEUE__MAX_BYTES: 'lots',
      FLOW_COLLECTOR_METRICS__ENABLED: 'perhaps',
      FLOW_COLLECTOR_LOGGING__LEVEL: 'verbose',
      FLOW_COLLECTOR_SHUTDOWN__DRAIN_TIMEOUT_MS: '-5',
      FLOW_COLLECTOR_LISTENERS: 'localhost:2055',
    },
  });
  assert.equal(p.length, 7, p.join('\n'));
  has(p, 'FLOW_COLLECTOR_WORKER: unknown setting; did you mean "FLOW_COLLECTOR_WORKERS"?');
  has(p, 'FLOW_COLLECTOR_QUEUE__MAXBYTES: unknown setting; did you mean "FLOW_COLLECTOR_QUEUE__MAX_BYTES"?');
  has(p, 'FLOW_COLLECTOR_QUEUE__MAX_BYTES="lots": queue.max_bytes must be a whole number of at least 65536');
  has(p, 'FLOW_COLLECTOR_METRICS__ENABLED="perhaps": metrics.enabled must be true or false');
  has(p, 'logging.level: must be one of "trace", "debug", "info", "warn", "error", "fatal", "silent", got "verbose" (text) (from FLOW_COLLECTOR_LOGGING__LEVEL)');
  has(p, 'shutdown.drain_timeout_ms: must be a whole number from 0 to 600000, got -5 (from FLOW_COLLECTOR_SHUTDOWN__DRAIN_TIMEOUT_MS)');
  has(p, 'FLOW_COLLECTOR_LISTENERS="localhost:2055"');
  // Every documented variable name exists for the file's settings.
  const names = envVariables().map((v) => v.name);
  for (const v of ['FLOW_COLLECTOR_WORKERS', 'FLOW_COLLECTOR_QUEUE__MAX_BYTES', 'FLOW_COLLECTOR_NATS__STREAM__MAX_BYTES', 'FLOW_COLLECTOR_TEMPLATE_STORE__KV_BUCKET']) {
    assert.ok(names.includes(v), v);
  }
});

test('flags override the environment and the file', () => {
  const out = join(dir, 'flows.ndjson');
  const f = file('flags.yaml', 'workers: 2\noutputs:\n  - type: stdout\nmetrics:\n  address: 127.0.0.1:9999\nlogging:\n  level: warn\n');
  const { config } = load({
    file: f,
    env: { FLOW_COLLECTOR_WORKERS: '3', FLOW_COLLECTOR_LOGGING__LEVEL: 'error' },
    flags: { workers: 6, listen: ['127.0.0.1:0', '[::1]:2056'], output: `file:${out}`, format: 'flowpb', metricsAddr: '0.0.0.0:0', logLevel: 'trace' },
  });
  assert.equal(config.workers, 6);
  assert.deepEqual(
    config.listeners.map((l) => [l.name, l.address, l.port, l.protocol]),
    [
      ['auto-0', '127.0.0.1', 0, 'auto'],
      ['auto-2056', '::1', 2056, 'auto'],
    ],
  );
  assert.deepEqual(config.outputs, [{ type: 'file', path: out, format: 'flowpb' }]);
  assert.deepEqual(config.metrics, { enabled: true, address: '0.0.0.0:0' });
  assert.equal(config.logging.level, 'trace');
  assert.equal(load({ flags: { metricsAddr: 'off' } }).config.metrics.enabled, false);
  assert.ok(load({ flags: { workers: 0 } }).config.workers >= 1, '0 = auto');
  // --format alone applies to the configured outputs.
  assert.deepEqual(load({ flags: { format: 'flowpb' } }).config.outputs, [{ type: 'stdout', format: 'flowpb' }]);
});

test('bad flags given to loadConfig are refused naming the flag', () => {
  const p = problems({ flags: { listen: ['2055', 'localhost:2055'], output: 'kafka', metricsAddr: '9191', logLevel: 'loud' } });
  has(p, '--listen: "2055" has no address; write ADDRESS:PORT, e.g. 0.0.0.0:2055');
  has(p, '--listen: "localhost" in "localhost:2055" is not an IP address');
  has(p, '--output: "kafka" is not an output');
  has(p, 'metrics.address: "9191" has no address');
  has(p, '(from --metrics-addr)');
  has(p, 'logging.level: must be one of');
  has(p, '(from --log-level)');
});

// ---------------------------------------------------------------------------------------------
// Error messages

test('unknown keys are refused with the closest valid name, at the top level and nested', () => {
  const p = problems({
    file: file(
      'typos.yaml',
      ['listner: []', 'listeners:', '  - port: 2055', '    prot: auto', 'queue:', '  maxBytes: 1048576', 'nats:', '  servers: [nats://x:4222]', '  stream:', '    replica: 3', 'templates:', '  max_template: 5', 'sampling:', '  default: []', 'zzzzzz: 1'].join('\n'),
    ),
  });
  assert.equal(p.length, 7, p.join('\n'));
  has(p, 'listner: unknown setting; did you mean "listeners"? (line 1)');
  has(p, 'listeners[0].prot: unknown setting; did you mean "port"? (line 4)');
  has(p, 'queue.maxBytes: unknown setting; did you mean "max_bytes"? (line 6)');
  has(p, 'nats.stream.replica: unknown setting; did you mean "replicas"? (line 10)');
  has(p, 'templates.max_template: unknown setting; did you mean "max_templates"?');
  has(p, 'sampling.default: unknown setting; did you mean "defaults"?');
  has(p, 'zzzzzz: unknown setting; valid settings here are listeners, workers, templates');
});

test('wrong types and out-of-range values name the setting, what it must be and what it got', () => {
  const p = problems({
    file: file(
      'types.yaml',
      [
        'workers: many',
        'listeners:',
        '  - port: "2055"',
        '  - port: 70000',
        '    batch_size: 0',
        '    protocol: netflw',
        '    spread: rr',
        '  - address: 0.0.0.0',
        'templates:',
        '  scope_includes_port: "true"',
        '  max_record_length: 100000',
        'queue:',
        '  max_bytes: 1024',
        'metrics:',
        '  enabled: 1',
        'outputs:',
        '  - type: stdout',
        '    format: xml',
        '  - type: kafka',
        '  - {}',
        'logging: debug',
        'template_store:',
        '  kv_history: 100',
        '  servers: []',
        'shutdown:',
        '  drain_timeout_ms:',
      ].join('\n'),
    ),
  });
  has(p, 'workers: must be a whole number from 0 to 1024, or "auto", got "many" (text) (line 1)');
  has(p, 'listeners[0].port: must be a whole number from 0 to 65535, got "2055" (text); write the number without quotes (line 3)');
  has(p, 'listeners[1].port: must be a whole number from 0 to 65535, got 70000');
  has(p, 'listeners[1].batch_size: must be a whole number from 1 to 4096, got 0');
  has(p, 'listeners[1].protocol: must be one of "auto", "netflow", "ipfix", "sflow", got "netflw" (text); did you mean "netflow"?');
  has(p, 'listeners[1].spread: must be one of "none", "random", "roundrobin", "cpu", got "rr" (text)');
  has(p, 'listeners[2].port: missing; it is required');
  has(p, 'templates.scope_includes_port: must be true or false, got "true" (text); write it without quotes');
  has(p, 'templates.max_record_length: must be a whole number from 1 to 65535, got 100000');
  has(p, 'queue.max_bytes: must be a whole number of at least 65536, got 1024');
  has(p, 'metrics.enabled: must be true or false, got 1');
  has(p, 'outputs[0].format: must be one of "json", "flowpb", got "xml" (text)');
  has(p, 'outputs[1].type: must be one of "stdout", "file", "nats", got "kafka" (text)');
  has(p, 'outputs[2].type: missing; it is required: one of "stdout", "file", "nats"');
  has(p, 'logging: must be a mapping of settings, got "debug" (text)');
  has(p, 'template_store.kv_history: must be a whole number from 1 to 64, got 100');
  has(p, 'template_store.servers: needs at least 1 entry');
  has(p, 'shutdown.drain_timeout_ms: is empty (null); give a whole number from 0 to 600000, or remove the key to use the default');
  assert.equal(p.length, 18, `every problem collected:\n${p.join('\n')}`);
});

test('the checker agrees with TypeBox on what the file schema accepts', () => {
  const cases: unknown[] = [
    {},
    { workers: 'auto' },
    { workers: -1 },
    { listeners: [] },
    { listeners: [{ port: 1, templates: { max_templates: 0 } }] },
    { listeners: [{ port: 1, templates: { max_templates: 7 } }] },
    { outputs: [{ type: 'file' }] },
    { outputs: [{ type: 'nats', format: 'flowpb-batch', batch_size: 10 }] },
    { nats: { servers: ['nats://x:4222'], stream: { subjects: [] } } },
    { nats: {} },
    { sampling: { defaults: [{ exporter: '10.0.0.0/8', rate: 1.5 }] } },
    { template_store: { backend: 'nats_kv', servers: ['nats://x'] } },
    { metrics: { address: '' } },
    { queue: { drop_policy: 'drop_newest', extra: 1 } },
  ];
  for (const c of cases) {
    let checker = true;
    try {
      // Structural problems only: file outputs and addresses are not part of these cases.
      load({ file: file('case.json', JSON.stringify(c)) });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      checker = !err.problems.some((p) => /must be|must not be empty|missing|unknown setting|needs at least|is empty/.test(p));
    }
    assert.equal(checker, Value.Check(FileConfigSchema, c), JSON.stringify(c));
  }
});

test('listeners: duplicate address and port, wildcard overlaps, duplicate names, bad addresses', () => {
  const p = problems({
    file: file(
      'listeners.yaml',
      [
        'listeners:',
        '  - { name: a, port: 2055 }',
        '  - { name: b, port: 2055 }',
        '  - { name: c, address: 127.0.0.1, port: 2055 }',
        '  - { name: d, address: "::", port: 4739 }',
        '  - { name: e, address: 192.0.2.10, port: 4739 }',
        '  - { name: a, port: 6343 }',
        '  - { name: f, address: localhost, port: 9995 }',
        '  - { name: g, address: "[::1]", port: 9996 }',
        '  - { name: h, address: "0:0::1", port: 9997 }',
        '  - { name: i, address: "::1", port: 9997 }',
        '  - { port: 0, address: 127.0.0.1 }',
        '  - { port: 0, address: 127.0.0.1 }',
      ].join('\n'),
    ),
  });
  has(p, 'listeners[1]: 0.0.0.0:2055 is also the address and port of listeners[0] ("a"); remove one or change its port (line 3)');
  has(p, 'listeners[2]: 127.0.0.1:2055 overlaps listeners[0] ("a") on 0.0.0.0:2055: 0.0.0.0:2055 already receives on every IPv4 address of that port');
  has(p, 'listeners[4]: 192.0.2.10:4739 overlaps listeners[3] ("d") on [::]:4739: [::]:4739 already receives on every IPv6 and IPv4 address');
  has(p, 'listeners[5].name: "a" is also the name of listeners[0]; listener names must be unique');
  has(p, 'listeners[6].address: "localhost" is not a literal IP address; use 0.0.0.0 (all IPv4), :: (IPv6 and IPv4)');
  has(p, 'listeners[7].address: "[::1]" is not a literal IP address; write it without brackets: "::1"');
  has(p, 'listeners[9]: [::1]:9997 is also the address and port of listeners[8] ("h")');
  assert.equal(p.length, 7, p.join('\n'));
});

test('semantic checks between settings', () => {
  const p = problems({
    file: file(
      'semantic.yaml',
      [
        'templates:',
        '  pending_max_bytes_per_scope: 2000000',
        '  pending_max_bytes_total: 1000000',
        'listeners:',
        '  - port: 2055',
        '    subject: flows raw',
        '  - port: 4739',
        '    templates: { pending_max_bytes_total: 1000 }',
        'sampling:',
        '  defaults: [{ exporter: 10.0.0.0/33, rate: 10 }, { exporter: router1, rate: 10 }]',
        'outputs:',
        `  - { type: file, path: ${join(dir, 'no-such-dir', 'flows.ndjson')} }`,
        `  - { type: file, path: ${dir} }`,
        '  - { type: stdout }',
        '  - { type: stdout }',
        '  - { type: nats, subject: "flows.>" }',
        'metrics:',
        '  address: localhost:9191',
        'health:',
        '  address: "9191"',
        'template_store:',
        '  backend: nats_kv',
        '  kv_bucket: "flow.templates"',
      ].join('\n'),
    ),
  });
  has(p, 'templates.pending_max_bytes_per_scope: 2000000 exceeds templates.pending_max_bytes_total (1000000); raise the total or lower the per-scope limit');
  has(p, 'listeners[0].subject: "flows raw" contains white space');
  has(p, 'sampling.defaults[0].exporter: "10.0.0.0/33" is not an IP address or CIDR');
  has(p, 'sampling.defaults[1].exporter: "router1" is not an IP address or CIDR');
  has(p, `outputs[0].path: the directory "${join(dir, 'no-such-dir')}" does not exist; create it (mkdir -p`);
  has(p, `outputs[1].path: "${dir}" is a directory; name a file inside it`);
  has(p, 'outputs[3]: a second stdout output (outputs[2] is one)');
  has(p, 'outputs[4]: a nats output needs the nats section');
  has(p, 'outputs[4].subject: "flows.>" contains the wildcard ">"');
  has(p, 'metrics.address: "localhost" in "localhost:9191" is not an IP address');
  has(p, 'health.address: ');
  // health.address on the metrics port at another overlapping address: two servers cannot share it.
  const h = problems({ file: file('health.yaml', 'metrics: { address: "0.0.0.0:9191" }\nhealth: { address: "127.0.0.1:9191" }\n') });
  assert.equal(h.length, 1, h.join('\n'));
  assert.match(h[0]!, /^health\.address: 127\.0\.0\.1:9191 overlaps metrics\.address 0\.0\.0\.0:9191/);
  // The same address is one server for both; with metrics off, health.address alone is fine.
  assert.deepEqual(load({ file: file('health-same.yaml', 'metrics: { address: "0.0.0.0:9191" }\nhealth: { address: "0.0.0.0:9191" }\n') }).config.health, { address: '0.0.0.0:9191' });
  assert.deepEqual(load({ file: file('health-alone.yaml', 'metrics: { enabled: false, address: "0.0.0.0:9191" }\nhealth: { address: "127.0.0.1:9191" }\n') }).config.health, { address: '127.0.0.1:9191' });
  has(p, 'template_store.backend: "nats_kv" needs NATS servers: set template_store.servers or the nats section');
  has(p, 'template_store.kv_bucket: "flow.templates" is not a bucket name');
  // The listener override is checked against the global total only when the global one is sound.
  const q = problems({ file: file('override.yaml', 'listeners:\n  - port: 2055\n    templates: { pending_max_bytes_total: 1000 }\n') });
  assert.deepEqual(q, [
    'listeners[0].templates.pending_max_bytes_total: pending_max_bytes_per_scope (262144, from templates) exceeds pending_max_bytes_total (1000); raise the total or lower the per-scope limit (line 3)',
  ]);
});

test('an unwritable output directory is refused at load', { skip: process.getuid?.() === 0 ? 'root can write anywhere' : false }, () => {
  const ro = join(dir, 'read-only');
  mkdirSync(ro);
  chmodSync(ro, 0o500);
  has(problems({ flags: { output: `file:${join(ro, 'flows.ndjson')}` } }), 'is not writable by this user');
});

// CI runs as root, who can write anywhere: there the check is made by the CLI run as nobody.
test('an unwritable output directory fails start-up for the user serve runs as (root drops to nobody with setpriv)', { skip: skipUnlessAsNobody }, (t) => {
  const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const unreadable = nobodyCannotRead(cli);
  if (unreadable !== undefined) {
    t.skip(unreadable);
    return;
  }
  const asNobody = (...args: string[]) => runAsNobody([process.execPath, ...args]);
  const base = mkdtempSync(join(tmpdir(), 'fc-config-nobody-'));
  try {
    chmodSync(base, 0o755);
    const ro = join(base, 'read-only');
    const rw = join(base, 'writable');
    mkdirSync(ro, { mode: 0o755 });
    mkdirSync(rw);
    chmodSync(rw, 0o777);
    const refused = asNobody(cli, 'serve', '--check-config', '--output', `file:${join(ro, 'flows.ndjson')}`);
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /outputs\[0\]\.path: the directory ".*read-only" is not writable by this user \(uid 65534\); fix its permissions or choose another path/);
    const accepted = asNobody(cli, 'serve', '--check-config', '--output', `file:${join(rw, 'flows.ndjson')}`);
    assert.equal(accepted.status, 0, accepted.stderr);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('nats: subject placeholders {protocol} and {exporter}, batch and ack settings', () => {
  const f = (subject: string, streamSubjects: string, extra = '') =>
    file('ph.yaml', `outputs:\n  - { type: nats, subject: "${subject}"${extra} }\nnats:\n  servers: [nats://x:4222]\n  stream: { subjects: [${streamSubjects}] }\n  ack_window: 64\n  max_retries: 3\n`);
  const { config } = load({ file: f('flows.{protocol}.{exporter}', '"flows.>"', ', max_batch_bytes: 65536, max_batch_delay_ms: 0') });
  assert.deepEqual(config.outputs, [{ type: 'nats', format: 'flowpb-batch', subject: 'flows.{protocol}.{exporter}', batch_size: 10000, max_batch_bytes: 65536, max_batch_delay_ms: 0 }]);
  assert.equal(config.nats?.ack_window, 64);
  assert.equal(config.nats?.max_retries, 3);
  has(problems({ file: f('flows.{proto}', '"flows.>"') }), 'outputs[0].subject: "flows.{proto}": the placeholders are the whole tokens {protocol} and {exporter}');
  has(problems({ file: f('flows.x{exporter}', '"flows.>"') }), 'the placeholders are the whole tokens');
  has(problems({ file: f('flows.raw', '"flows.{protocol}"') }), 'nats.stream.subjects[0]: "flows.{protocol}": "{" and "}" belong in published subjects only');
  // A placeholder token is only stored by a wildcard.
  has(problems({ file: f('flows.raw.{protocol}', '"flows.raw.netflow"') }), 'flows published to "flows.raw.{protocol}" would not be stored');
  assert.equal(load({ file: f('flows.raw.{protocol}', '"flows.raw.*"') }).config.outputs[0]!.type, 'nats');
});

test('nats: servers, authentication, files, stream name and subjects', () => {
  const ca = file('ca.pem', 'x');
  const base = (nats: string, extra = '') =>
    file('nats.yaml', `outputs:\n  - type: nats\n    subject: flows.raw.all\n${extra}nats:\n${nats.split('\n').map((l) => `  ${l}`).join('\n')}\n`);
  const p = problems({
    file: base(
      [
        'servers: ["nats://ok:4222", "http://web:80", "nats-1:4222"]',
        'token: secret',
        'user: me',
        `creds_file: ${join(dir, 'none.creds')}`,
        'tls:',
        `  ca_file: ${ca}`,
        `  cert_file: ${ca}`,
        'stream:',
        '  name: my.flows',
        '  subjects: ["flows.>.x", "other.>"]',
      ].join('\n'),
    ),
  });
  has(p, 'nats.servers[1]: "http://web:80" is not a NATS server URL');
  has(p, 'nats: give one way to authenticate, not 3: creds_file, user + password, token');
  has(p, 'nats.password: missing: nats.user needs nats.password');
  has(p, `nats.creds_file: "${join(dir, 'none.creds')}" does not exist`);
  has(p, 'nats.tls.key_file: missing: a client certificate needs both cert_file and key_file');
  has(p, 'nats.stream.name: "my.flows" is not a JetStream stream name');
  has(p, 'nats.stream.subjects[0]: "flows.>.x": ">" must be the last token');
  assert.equal(p.length, 7, p.join('\n'));

  const q = problems({ file: base('servers: [nats://x:4222]\nsubject_prefix: tenant-a\nstream:\n  subjects: ["flows.>"]', 'listeners:\n  - { port: 2055, subject: flows.raw.netflow }\n') });
  has(q, 'outputs[0].subject: flows published to "tenant-a.flows.raw.all" would not be stored: nats.stream.subjects (flows.>) does not match it');
  has(q, 'listeners[0].subject: flows published to "tenant-a.flows.raw.netflow" would not be stored');

  const { config, warnings } = load({ file: base('servers: [nats://x:4222]\nstream:\n  manage: false\n  subjects: ["elsewhere.>"]') });
  assert.deepEqual(config.nats, {
    servers: ['nats://x:4222'],
    stream: { name: 'flows', subjects: ['elsewhere.>'], max_bytes: 1024 ** 3, replicas: 1, manage: false, duplicate_window_s: 120 },
    publish_timeout_ms: 5000,
    ack_window: 32,
    max_retries: 10,
  });
  assert.deepEqual(warnings, []);
});

test('warnings for settings that have no effect', () => {
  const { warnings } = load({
    file: file(
      'warn.yaml',
      [
        'workers: 1',
        'listeners:',
        '  - { port: 2055, protocol: netflow, max_samples_per_datagram: 10, subject: flows.x, spread: random }',
        'metrics: { address: "0.0.0.0:2055" }',
        'template_store: { kv_bucket: other }',
        'nats: { servers: ["nats://x:4222"] }',
      ].join('\n'),
    ),
  });
  has(warnings, 'listeners[0].subject: there is no nats output; the subject has no effect');
  has(warnings, "listeners[0].max_samples_per_datagram: applies to sFlow, and this listener's protocol is netflow");
  has(warnings, 'listeners[0].spread: one worker with one socket has nothing to spread over');
  has(warnings, 'metrics.address 0.0.0.0:2055 has the port number of listeners[0] ("netflow-2055"): metrics use TCP and listeners UDP');
  has(warnings, 'template_store: kv_bucket has no effect while backend is "local"');
  has(warnings, 'nats: there is no nats output');
  assert.equal(warnings.length, 6, warnings.join('\n'));
});

// ---------------------------------------------------------------------------------------------
// parseServeArgs

test('parseServeArgs: every option, both spellings', () => {
  const r = parseServeArgs([
    '-c', '/etc/flow-collector.yaml',
    '--listen', '0.0.0.0:2055', '--listen=[::]:4739',
    '--output', 'file:/var/log/flows.ndjson',
    '--format=flowpb',
    '--workers', '8',
    '--metrics-addr', '[::1]:0',
    '--log-level', 'debug',
    '--check-config',
  ]);
  assert.deepEqual(r, {
    flags: { listen: ['0.0.0.0:2055', '[::]:4739'], output: 'file:/var/log/flows.ndjson', format: 'flowpb', workers: 8, metricsAddr: '[::1]:0', logLevel: 'debug' },
    configFile: '/etc/flow-collector.yaml',
    checkConfig: true,
    help: false,
  });
  assert.deepEqual(parseServeArgs([]), { flags: {}, checkConfig: false, help: false });
  assert.equal(parseServeArgs(['-h']).help, true);
  assert.equal(parseServeArgs(['--help']).help, true);
  assert.equal(parseServeArgs(['--workers', 'auto']).flags.workers, 0);
  assert.equal(parseServeArgs(['--metrics-addr', 'OFF']).flags.metricsAddr, 'off');
  assert.equal(parseServeArgs(['--config=x.json']).configFile, 'x.json');
});

test('parseServeArgs: unknown options with a suggestion, missing and bad values, all reported', () => {
  const p = argProblems(['--lisen', '0.0.0.0:2055', '--listen', '::1:2055', '--wokers', '3', '--format', 'jsn', '--output', 'file:', '--metrics-addr', 'localhost:9191', '--check-config=yes', 'flows.yaml', '--log-level']);
  assert.deepEqual(p, [
    'unknown option "--lisen"; did you mean "--listen"?',
    '--listen: "::1:2055": put an IPv6 address in brackets, e.g. [::1]:2055',
    'unknown option "--wokers"; did you mean "--workers"?',
    '--format: must be json or flowpb, got "jsn"; did you mean "json"?',
    '--output: "file:" needs a path, e.g. file:/var/log/flows.ndjson',
    '--metrics-addr: "localhost" in "localhost:9191" is not an IP address; use a literal address (0.0.0.0 for all IPv4, [::] for IPv6 and IPv4), not a host name (or "off" to disable metrics)',
    '--check-config takes no value, got "yes"',
    'unexpected argument "flows.yaml": serve takes options only (for a configuration file: --config flows.yaml)',
    '--log-level needs a value: trace|debug|info|warn|error|fatal|silent',
  ]);
  has(argProblems(['--listen', '2055']), '--listen: "2055" has no address');
  has(argProblems(['--listen', '[::1]2055']), 'write IPv6 as [ADDRESS]:PORT');
  has(argProblems(['--listen', '0.0.0.0:99999']), '"99999" in "0.0.0.0:99999" is not a port number');
  has(argProblems(['--workers', '-1']), '--workers: must be a whole number from 0 to 1024 or "auto", got "-1"');
  has(argProblems(['--output', 'stdot']), '(did you mean "stdout"?)');
  has(argProblems(['--xyz']), 'unknown option "--xyz"; see flow-collector serve --help');
});

// ---------------------------------------------------------------------------------------------
// JSON Schema

test('configJsonSchema is draft-07 JSON Schema, and the default config and the example file validate against it', async () => {
  const schema = configJsonSchema();
  assert.equal(schema['$schema'], 'http://json-schema.org/draft-07/schema#');
  // The published object is exactly the TypeBox schema the loader checks with.
  const { $schema: _s, ...rest } = schema;
  const { $id: _i, ...typebox } = JSON.parse(JSON.stringify(FileConfigSchema)) as Record<string, unknown>;
  assert.deepEqual(rest, typebox);
  // Only draft-07 keywords (plus annotations).
  const allowed = new Set(['$schema', 'title', 'description', 'default', 'type', 'properties', 'required', 'additionalProperties', 'items', 'minItems', 'minimum', 'maximum', 'minLength', 'anyOf', 'const']);
  const walk = (s: unknown, inProps: boolean): void => {
    if (Array.isArray(s)) return s.forEach((x) => walk(x, false));
    if (typeof s !== 'object' || s === null) return;
    for (const [k, v] of Object.entries(s)) {
      if (!inProps) assert.ok(allowed.has(k), `keyword ${k}`);
      if (k === 'default' || k === 'const') continue;
      walk(v, k === 'properties');
    }
  };
  walk(schema, false);
  // A real validator (TypeBox's) over the schema: the effective default configuration and the
  // example file are valid files; a broken one is not.
  assert.ok(Value.Check(FileConfigSchema, JSON.parse(formatConfig(load().config))));
  const { parse } = await import('yaml');
  assert.ok(Value.Check(FileConfigSchema, parse(EXAMPLE_YAML)));
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const docYaml = /```yaml\n([\s\S]*?)```/.exec(doc);
  assert.ok(docYaml !== null, 'docs/configuration.md has an example YAML file');
  assert.ok(Value.Check(FileConfigSchema, parse(docYaml[1]!)), 'the documented example is valid');
  assert.equal(Value.Check(FileConfigSchema, { listeners: [{ port: 2055, prot: 'auto' }] }), false);
});

test('docs/configuration.md documents every setting and its variable', () => {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  for (const { name, path } of envVariables()) {
    assert.ok(doc.includes(`\`${path}\``) || doc.includes(`(\`${path}\`)`), `setting ${path} documented`);
    assert.ok(doc.includes(name), `variable ${name} documented`);
  }
  for (const key of ['name', 'address', 'port', 'protocol', 'sockets_per_worker', 'receive_buffer_bytes', 'batch_size', 'spread', 'subject', 'max_samples_per_datagram']) {
    assert.ok(doc.includes(`\`listeners[].${key}\``), `listener setting ${key} documented`);
  }
});

test('formatConfig redacts secrets', () => {
  const f = file('secret.yaml', 'nats:\n  servers: ["nats://me:hunter2@x:4222"]\n  token: s3cret\noutputs: [{ type: nats }]\n');
  const text = formatConfig(load({ file: f }).config);
  assert.ok(!text.includes('hunter2') && !text.includes('s3cret'), text);
  assert.ok(text.includes('nats://me:<redacted>@x:4222'));
});

// ---------------------------------------------------------------------------------------------
// ServiceRadar

test('ServiceRadar flow-collector file: loads unchanged and maps field by field', () => {
  const certs = join(dir, 'certs');
  mkdirSync(certs);
  for (const f of ['root.pem', 'flow-collector.pem', 'flow-collector-key.pem']) writeFileSync(join(certs, f), 'x');
  const sr = {
    nats_url: 'nats://serviceradar-nats:4222',
    nats_creds_file: null,
    stream_name: 'events',
    stream_subjects: ['events.>', 'flows.raw.netflow'],
    stream_max_bytes: 2147483648,
    stream_replicas: 3,
    partition: 'edge-east',
    channel_size: 20000,
    batch_size: 250,
    publish_timeout_ms: 3000,
    drop_policy: 'drop_oldest',
    security: {
      mode: 'mtls',
      cert_dir: certs,
      tls: { cert_file: 'flow-collector.pem', key_file: 'flow-collector-key.pem', ca_file: 'root.pem' },
    },
    metrics_addr: '0.0.0.0:50046',
    template_store: { kv_bucket: 'flow_templates', kv_history: 5, kv_ttl_secs: 86400, nats_url: 'nats://kv-nats:4222' },
    listeners: [
      {
        protocol: 'netflow',
        listen_addr: '0.0.0.0:2055',
        subject: 'flows.raw.netflow',
        buffer_size: 65536,
        max_templates: 2000,
        max_template_fields: 10000,
        pending_flows: { max_pending_flows: 256, max_entries_per_template: 1024, max_entry_size_bytes: 65535, ttl_secs: 300 },
      },
      // IPFIX exporters send to 4739: ServiceRadar's "netflow" parser handles IPFIX too.
      { protocol: 'netflow', listen_addr: '0.0.0.0:4739', subject: 'flows.raw.ipfix' },
      { protocol: 'sflow', listen_addr: '[::]:6343', subject: 'flows.raw.sflow', max_samples_per_datagram: 1000 },
    ],
  };
  const { config, warnings, source } = load({ file: file('flow-collector.json', JSON.stringify(sr, null, 2)) });
  assert.equal(source, 'serviceradar');

  // listeners
  const [nf, ipfix, sflow] = config.listeners;
  assert.equal(config.listeners.length, 3);
  assert.deepEqual(nf, {
    name: 'netflow-2055',
    address: '0.0.0.0',
    port: 2055,
    protocol: 'auto',
    sockets_per_worker: 1,
    receive_buffer_bytes: 32 * 1024 * 1024,
    batch_size: 64,
    max_read_delay_us: 100000,
    spread: 'none',
    shared: false,
    subject: 'flows.raw.netflow',
    templates: {
      max_templates: 2000,
      max_template_fields: 10000,
      // 1024 entries x 65535 bytes per template; 256 templates of that is capped at 64 MiB.
      pending_max_bytes_per_scope: 1024 * 65535,
      pending_max_bytes_total: 64 * 1024 * 1024,
      pending_max_age_ms: 300_000,
    },
  });
  assert.equal(ipfix!.name, 'netflow-4739');
  assert.equal(ipfix!.port, 4739);
  assert.equal(ipfix!.protocol, 'auto', 'a netflow listener takes IPFIX too');
  assert.equal(ipfix!.subject, 'flows.raw.ipfix');
  assert.equal(ipfix!.templates, undefined);
  assert.deepEqual([sflow!.name, sflow!.address, sflow!.port, sflow!.protocol, sflow!.subject, sflow!.max_samples_per_datagram], ['sflow-6343', '::', 6343, 'sflow', 'flows.raw.sflow', 1000]);
  const limits = listenerLimits(config, nf!);
  assert.equal(limits.maxTemplates, 2000);
  assert.equal(limits.pendingMaxAgeMs, 300_000);

  // output, queue, metrics
  assert.deepEqual(config.outputs, [{ type: 'nats', format: 'flowpb', subject: 'flows.raw.netflow', batch_size: 250, max_batch_bytes: 1048576, max_batch_delay_ms: 100 }]);
  assert.deepEqual(config.queue, { max_bytes: 20000 * 256, drop_policy: 'drop_oldest' });
  assert.deepEqual(config.metrics, { enabled: true, address: '0.0.0.0:50046' });

  // nats
  assert.deepEqual(config.nats, {
    servers: ['nats://serviceradar-nats:4222'],
    tls: { ca_file: join(certs, 'root.pem'), cert_file: join(certs, 'flow-collector.pem'), key_file: join(certs, 'flow-collector-key.pem') },
    stream: { name: 'events', subjects: ['events.>', 'flows.raw.ipfix', 'flows.raw.netflow', 'flows.raw.sflow'], max_bytes: 2147483648, replicas: 3, manage: true, duplicate_window_s: 120 },
    publish_timeout_ms: 3000,
    ack_window: 32,
    max_retries: 10,
    partition: 'edge-east',
  });
  assert.deepEqual(config.template_store, { backend: 'nats_kv', kv_bucket: 'flow_templates', kv_history: 5, kv_ttl_s: 86400, kv_replicas: 1, kv_refresh_s: 0, servers: ['nats://kv-nats:4222'] });

  // Everything else is ours by default.
  const defaults = load().config;
  assert.deepEqual(config.templates, defaults.templates);
  assert.deepEqual(config.sampling, defaults.sampling);
  assert.deepEqual(config.logging, defaults.logging);
  assert.deepEqual(config.shutdown, defaults.shutdown);

  assert.equal(warnings.length, 4, warnings.join('\n'));
  has(warnings, 'listeners[0].buffer_size (65536): not carried. In ServiceRadar it is the buffer each datagram is read into');
  has(warnings, 'listeners[0].pending_flows: ServiceRadar bounds entries (256 templates x 1024 entries x 65535 bytes = 17179607040 bytes at most)');
  has(warnings, '(capped at 67108864');
  has(warnings, 'channel_size 20000 flows: queue.max_bytes 5120000 (256 bytes per flow assumed');
  has(warnings, `drop_policy "drop_oldest": ServiceRadar's collector did not apply it`);
  // Environment and flags still apply on top.
  const over = load({ file: file('flow-collector.json', JSON.stringify(sr)), env: { FLOW_COLLECTOR_LOGGING__LEVEL: 'debug' }, flags: { workers: 2 } }).config;
  assert.equal(over.logging.level, 'debug');
  assert.equal(over.workers, 2);
});

test('ServiceRadar: minimal file, their defaults, and the keys of newer releases', () => {
  // ServiceRadar's own sample file (rust/flow-collector/flow-collector.json).
  const { config, warnings } = load({
    file: file(
      'sample.json',
      JSON.stringify({
        nats_url: 'nats://nats:4222',
        stream_name: 'flows',
        stream_max_bytes: 1073741824,
        stream_max_age_secs: 7200,
        stream_replicas: 1,
        channel_size: 10000,
        batch_size: 100,
        publish_timeout_ms: 5000,
        listeners: [
          { protocol: 'sflow', listen_addr: '0.0.0.0:6343', subject: 'flows.raw.sflow' },
          { protocol: 'netflow', listen_addr: '0.0.0.0:2055', subject: 'flows.raw.netflow', default_sampling_rate: 512, sampling_rate_overrides: { '192.0.2.1': 100 } },
        ],
        rehome_state_path: '/var/lib/serviceradar/flow-collector-rehome.json',
        ready_state_path: '/var/lib/serviceradar/flow-collector.ready',
      }),
    ),
  });
  assert.equal(config.nats?.stream.max_age_s, 7200);
  assert.equal(config.nats?.partition, 'default', "ServiceRadar's default partition");
  assert.equal(config.nats?.tls, undefined);
  assert.deepEqual(config.metrics.enabled, false, 'no metrics_addr: no metrics server, as in ServiceRadar');
  assert.deepEqual(config.queue, { max_bytes: 2_560_000, drop_policy: 'drop_newest' });
  assert.equal(config.template_store.backend, 'local');
  assert.deepEqual(config.sampling.defaults, [
    { exporter: '192.0.2.1', rate: 100 },
    { exporter: '0.0.0.0/0', rate: 512 },
    { exporter: '::/0', rate: 512 },
  ]);
  has(warnings, 'channel_size 10000 flows: queue.max_bytes 2560000');
  has(warnings, 'rehome_state_path: not used');
  has(warnings, 'ready_state_path: not used');
  assert.equal(warnings.length, 3, warnings.join('\n'));

  const tiny = load({ file: file('tiny.json', JSON.stringify({ nats_url: 'nats://n:4222', stream_name: 'flows', listeners: [{ protocol: 'netflow', listen_addr: '127.0.0.1:2055', subject: 'flows.raw.netflow' }], channel_size: 10, security: { mode: 'none', tls: { ca_file: 'x' } } })) });
  assert.equal(tiny.config.queue.max_bytes, 65536);
  assert.equal(tiny.config.nats?.stream.max_bytes, 10 * 1024 ** 3, "ServiceRadar's default stream size");
  assert.deepEqual(tiny.config.outputs, [{ type: 'nats', format: 'flowpb', subject: 'flows.raw.netflow', batch_size: 100, max_batch_bytes: 1048576, max_batch_delay_ms: 100 }]);
  has(tiny.warnings, 'is below the smallest queue (65536 bytes)');
  has(tiny.warnings, 'security.tls: ignored because security.mode is "none"');
});

test('ServiceRadar: unknown keys, bad values and unsupported features are refused', () => {
  const p = problems({
    file: file(
      'bad-sr.json',
      JSON.stringify(
        {
          nats_url: 'nats://n:4222',
          stream_name: 'flows',
          stream_replica: 3,
          drop_policy: 'drop_all',
          metrics_addr: 'metrics:9090',
          security: { mode: 'mtls', cert_dir: '/etc/certs' },
          listeners: [
            { protocol: 'netflow', listen_adr: '0.0.0.0:2055', subject: 'flows.raw.netflow' },
            { protocol: 'sflow', listen_addr: '0.0.0.0:6343', subject: 'flows.raw.sflow', max_templates: 5 },
            { protocol: 'ipfix_tls', subject: 'flows.raw.ipfix', cert_file: 'a' },
            { protocol: 'netfow', listen_addr: '0.0.0.0:9995', subject: 'x' },
          ],
        },
        null,
        2,
      ),
    ),
  });
  has(p, 'stream_replica: unknown setting; did you mean "stream_replicas"? (line 4)');
  has(p, 'drop_policy: must be one of "drop_oldest", "drop_newest", "block", got "drop_all" (text)');
  has(p, 'listeners[0].listen_adr: unknown setting; did you mean "listen_addr"?');
  has(p, 'listeners[0].listen_addr: missing; it is required');
  has(p, 'listeners[1].max_templates: unknown setting');
  has(p, 'listeners[3].protocol: must be one of "netflow", "sflow", "ipfix_tls", got "netfow" (text); did you mean "netflow"?');
  assert.equal(p.length, 6, p.join('\n'));
  // Semantic problems once the shape is right.
  const q = problems({
    file: file(
      'bad-sr2.json',
      JSON.stringify({
        nats_url: 'nats://n:4222',
        stream_name: 'flows',
        metrics_addr: 'metrics:9090',
        security: { mode: 'mtls', cert_dir: '/etc/certs' },
        host_slices: [{ agent_id: 'a' }],
        listeners: [
          { protocol: 'ipfix_tls', subject: 'flows.raw.ipfix' },
          { protocol: 'netflow', listen_addr: 'localhost:2055', subject: 'flows.raw.netflow' },
          { protocol: 'netflow', listen_addr: '0.0.0.0:2056', subject: 'a', default_sampling_rate: 10 },
          { protocol: 'netflow', listen_addr: '0.0.0.0:2057', subject: 'b', default_sampling_rate: 20 },
        ],
      }),
    ),
  });
  has(q, 'listeners[0].protocol: "ipfix_tls" (IPFIX over TLS from certificate-pinned exporters) is not supported');
  has(q, 'listeners[1].listen_addr: "localhost" in "localhost:2055" is not an IP address');
  has(q, 'listeners[3].default_sampling_rate: 20 differs from listeners[2].default_sampling_rate (10)');
  has(q, 'metrics_addr: "metrics" in "metrics:9090" is not an IP address');
  has(q, 'security.tls: mode "mtls" needs tls.cert_file and tls.key_file');
  has(q, 'host_slices: per-host flow slices are not supported');
  assert.equal(q.length, 6, q.join('\n'));
  // Their duplicate listen_addr is refused by our listener checks, with their index.
  const d = problems({
    file: file('dup-sr.json', JSON.stringify({ nats_url: 'nats://n:4222', stream_name: 'f', listeners: [{ protocol: 'sflow', listen_addr: '0.0.0.0:6343', subject: 'a' }, { protocol: 'netflow', listen_addr: '0.0.0.0:6343', subject: 'b' }] })),
  });
  has(d, 'listeners[1]: 0.0.0.0:6343 is also the address and port of listeners[0] ("sflow-6343")');
});

test('a native file with ServiceRadar-looking listener keys is not mistaken for one when it has native sections', () => {
  const p = problems({ file: file('mixed.yaml', 'outputs: [{ type: stdout }]\nlisteners:\n  - listen_addr: 0.0.0.0:2055\n') });
  has(p, 'listeners[0].listen_addr: unknown setting');
  has(p, 'listeners[0].port: missing');
  const q = problems({ file: file('stray.yaml', 'workers: 2\nnats_url: nats://x:4222\n') });
  assert.deepEqual(q, ['nats_url: unknown setting; valid settings here are listeners, workers, templates, sampling, outputs, queue, metrics, health, logging, shutdown, nats, template_store (line 2)']);
  // A byte order mark in front of JSON is fine.
  assert.equal(load({ file: file('bom.json', '\uFEFF{"workers": 3}') }).config.workers, 3);
});

test('template_store: kv_refresh_s under kv_ttl_s; listener names as key tokens; shared listeners', () => {
  const p = problems({
    file: file(
      'kv-bad.yaml',
      [
        'listeners:',
        '  - { name: "edge.a", port: 2055 }',
        '  - { name: "edge:a", port: 2056 }',
        'template_store: { backend: nats_kv, servers: ["nats://x:4222"], kv_ttl_s: 60, kv_refresh_s: 60 }',
      ].join('\n'),
    ),
  });
  has(p, 'template_store.kv_refresh_s: 60 is not under kv_ttl_s (60)');
  has(p, 'listeners[1].name: "edge:a" and listeners[0].name both become "edge_a" in template store keys');
  const r = load({
    file: file('kv-ok.yaml', 'listeners:\n  - { port: 2055, shared: true, spread: random }\nworkers: 1\ntemplate_store: { backend: nats_kv, servers: ["nats://x:4222"], kv_ttl_s: 90, kv_refresh_s: 50 }\n'),
  });
  assert.equal(r.config.listeners[0]!.shared, true);
  assert.equal(r.config.template_store.kv_refresh_s, 50);
  assert.ok(r.warnings.some((w) => w.includes('kv_refresh_s (50) is more than half of kv_ttl_s (90)')), r.warnings.join('\n'));
  assert.ok(!r.warnings.some((w) => w.includes('nothing to spread over')), 'a shared port spreads over other processes');
  assert.equal(kvRefreshMs({ kv_refresh_s: 0, kv_ttl_s: 90 }), 30_000);
  assert.equal(kvRefreshMs({ kv_refresh_s: 0, kv_ttl_s: 0 }), 0);
  assert.equal(kvRefreshMs({ kv_refresh_s: 7, kv_ttl_s: 0 }), 7000);
});
