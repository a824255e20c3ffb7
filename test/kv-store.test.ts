/**
 * The nats_kv template store's parts: key format and value envelope, and the convergence rules
 * of NatsKvTemplateStore between instances in this process against a real nats-server 2.9.10
 * (two instances converge on the definition learned last; an older value is a conflict and ours
 * is written back; a withdrawal deletes everywhere unless the wire taught the template again
 * after it; options rows; a template evicted from the bounded cache is fetched again on a miss;
 * an existing bucket with other settings is used and the difference logged).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { DEFAULT_LIMITS, type OptionsRow, type ScopeRef, type StoreChange, type TemplateDef, type TemplateLimits } from '../src/templates/mod.js';
import { NatsKvTemplateStore, decodeEnvelope, encodeOptionsEnvelope, encodeTemplateEnvelope, exporterFromToken, optionsKey, parseKey, templateKey } from '../src/templates/kv/mod.js';
import { makeTempDir } from './support/tools.js';
import { until } from './support/serve.js';
import { client, haveNatsServer, startNatsServer, type NatsServer } from './support/nats.js';

const skip = haveNatsServer ? false : 'nats-server is not installed';
const tmp = makeTempDir('fc-kvstore-');
const stores: NatsKvTemplateStore[] = [];
let server: NatsServer | undefined;
after(async () => {
  for (const s of stores) await s.close(0);
  await server?.stop();
  tmp.cleanup();
});

const scope: ScopeRef = { listener: 'nf', protocol: 9, exporter: '192.0.2.1', port: 0, domain: 0 };
const def = (extra: number): TemplateDef => ({ protocol: 9, id: 256, options: false, scopeCount: 0, fields: [{ id: 8, pen: 0, length: 4 }, { id: 1, pen: 0, length: extra }] });

test('keys: readable tokens, the port only when scoped by port; parsed back', () => {
  assert.equal(templateKey(scope, false, 256), 'nf.v9.192_0_2_1.0.t.256');
  const v6: ScopeRef = { listener: 'ipfix-4739', protocol: 10, exporter: '2001:db8::1', port: 4739, domain: 5 };
  assert.equal(templateKey(v6, true, 300), 'ipfix-4739.ipfix.2001_db8__1.4739.5.t.300');
  assert.equal(templateKey({ ...v6, listener: 'a.b:c' }, false, 1), 'a_b_c.ipfix.2001_db8__1.5.t.1');
  const ok = optionsKey(scope, false, 400, 'scopeSystem=0');
  assert.match(ok, /^nf\.v9\.192_0_2_1\.0\.o\.400_[0-9a-f]{16}$/);
  assert.notEqual(ok, optionsKey(scope, false, 400, 'scopeSystem=1'));
  assert.deepEqual(parseKey('ipfix-4739.ipfix.2001_db8__1.4739.5.t.300', () => true), { listenerToken: 'ipfix-4739', protocol: 10, exporter: '2001:db8::1', port: 4739, domain: 5, kind: 't', id: '300' });
  assert.equal(parseKey('nf.v9.192_0_2_1.0.t.256', () => true), undefined, 'token count must match the listener');
  assert.equal(parseKey('nf.v9.192_0_2_1.0.t.256', () => undefined), undefined, 'unknown listener');
  assert.equal(parseKey('nf.v8.192_0_2_1.0.t.256', () => false), undefined);
  assert.equal(parseKey('nf.v9.192_0_2_1.0.x.256', () => false), undefined);
  assert.equal(exporterFromToken('10_0_0_1'), '10.0.0.1');
  assert.equal(exporterFromToken('__1'), '::1');
});

test('values: versioned envelope round-trips templates and options rows; garbage is a codec error', () => {
  const e = decodeEnvelope(encodeTemplateEnvelope(def(4), 1_700_000_000_123, 'pod-a'));
  assert.deepEqual(e, { kind: 'template', learnedAt: 1_700_000_000_123, origin: 'pod-a', def: def(4) });
  const row: OptionsRow = { templateId: 400, scopeKey: 'scopeSystem=0', at: 5, values: { samplerId: 1, samplerRandomInterval: 100, name: 'x', raw: new Uint8Array([1, 2, 3]), big: 2n ** 70n, f: Number.NaN } };
  const o = decodeEnvelope(encodeOptionsEnvelope(row, 42, 'pod-b'));
  assert.equal(o.kind, 'options');
  assert.deepEqual(o.kind === 'options' && o.row, row);
  for (const bad of [new Uint8Array(0), new Uint8Array([2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]), new Uint8Array([1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0]), encodeTemplateEnvelope(def(4), 1, 'x').subarray(0, 20)]) {
    assert.throws(() => decodeEnvelope(bad), /./);
  }
});

function store(url: string, bucket: string, name: string, limits: Partial<TemplateLimits> = {}, extra: { history?: number; log?: string[] } = {}): { s: NatsKvTemplateStore; changes: StoreChange[] } {
  const changes: StoreChange[] = [];
  const s = new NatsKvTemplateStore({
    connection: { servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 200 },
    bucket,
    history: extra.history ?? 1,
    ttlS: 0,
    replicas: 1,
    refreshS: 0,
    listeners: [{ name: 'nf', limits: { ...DEFAULT_LIMITS, ...limits } }],
    origin: name,
    log: (_l, _k, msg, fields) => extra.log?.push(`${msg} ${JSON.stringify(fields ?? {})}`),
  });
  s.subscribe((c) => changes.push(c), () => undefined);
  s.start();
  stores.push(s);
  return { s, changes };
}

const ready = (s: NatsKvTemplateStore) => until(() => s.connectionState === 'ready' && s.isPreloaded, 'store ready');
const same = (a: TemplateDef | undefined, b: TemplateDef) => a !== undefined && JSON.stringify(a) === JSON.stringify(b);

test('two instances converge on the definition learned last; an older value is a conflict; withdrawal and re-learning; options; refetch after eviction', { skip }, async () => {
  server = await startNatsServer(join(tmp.dir, 'n'));
  const url = server.url;
  const a = store(url, 'conv', 'A');
  const b = store(url, 'conv', 'B');
  await Promise.all([ready(a.s), ready(b.s)]);

  const t = Date.now();
  a.s.learned(scope, def(4), t);
  await until(() => same(b.s.lookup(scope, 256), def(4)), 'B has A\'s definition');
  assert.equal(b.changes.at(-1)!.kind, 'template');
  b.s.learned(scope, def(8), t + 10);
  await until(() => same(a.s.lookup(scope, 256), def(8)), 'A has B\'s newer definition');

  // An instance whose write was delayed stores an older definition: B (which learned def(8) from
  // the wire after it) writes its own back; A (which never saw def(8) on its wire) follows the bucket.
  const nc = await client(url);
  const kv = await new Kvm(nc).open('conv');
  await kv.put(templateKey(scope, false, 256), encodeTemplateEnvelope(def(2), t + 5, 'C'));
  await until(() => b.s.stats()['conflicts']! >= 1, 'B counts a conflict');
  await until(async () => {
    const e = await kv.get(templateKey(scope, false, 256));
    return e !== null && e.operation === 'PUT' && same((decodeEnvelope(e.value) as { def: TemplateDef }).def, def(8));
  }, 'the bucket holds def(8) again');
  await until(() => same(a.s.lookup(scope, 256), def(8)) && same(b.s.lookup(scope, 256), def(8)), 'both converge on def(8)');

  // A withdrawal on A deletes it everywhere.
  a.s.withdrawn(scope, 256);
  await until(() => b.s.lookup(scope, 256) === undefined, 'B withdrew it');
  assert.ok(b.changes.some((c) => c.kind === 'withdraw' && c.id === 256));
  assert.equal((await kv.get(templateKey(scope, false, 256)))?.operation ?? 'DEL', 'DEL');

  // B learns it from the wire after the next withdrawal's marker: B keeps it and writes it back.
  b.s.learned(scope, def(8), Date.now() + 60_000);
  await until(() => same(a.s.lookup(scope, 256), def(8)), 'A has it again');
  const conflicts = b.s.stats()['conflicts']!;
  a.s.withdrawn(scope, 256);
  await until(() => b.s.stats()['conflicts']! > conflicts, 'B refuses the delete');
  await until(() => same(a.s.lookup(scope, 256), def(8)), 'A has it back from B');
  assert.ok(same(b.s.lookup(scope, 256), def(8)));

  // Options rows travel with their values.
  const row: OptionsRow = { templateId: 400, scopeKey: 'scopeSystem=0', at: Date.now(), values: { samplerId: 1, samplerRandomInterval: 100, raw: new Uint8Array([9]) } };
  a.s.options(scope, row);
  await until(() => b.changes.some((c) => c.kind === 'options'), 'B gets the row');
  const got = b.changes.find((c) => c.kind === 'options') as Extract<StoreChange, { kind: 'options' }>;
  assert.deepEqual(got.row.values, row.values);
  const puts = a.s.stats()['puts']!;
  a.s.options(scope, { ...row, at: row.at + 1000 });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(a.s.stats()['puts'], puts, 'an unchanged row is not written again (no TTL)');

  // A third instance with room for one exporter: the preload keeps the most recent one; a miss
  // for the evicted exporter is fetched.
  const other: ScopeRef = { ...scope, exporter: '192.0.2.2' };
  a.s.learned(other, def(4), Date.now());
  await until(() => same(b.s.lookup(other, 256), def(4)), 'B has the second exporter');
  const c = store(url, 'conv', 'C', { maxSources: 1 });
  await ready(c.s);
  const held = [scope, other].filter((x) => c.s.lookup(x, 256) !== undefined);
  assert.equal(held.length, 1, 'one exporter held');
  const evicted = c.s.lookup(scope, 256) === undefined ? scope : other;
  c.s.missing(evicted, 256);
  await until(() => c.s.stats()['gets_hit'] === 1, 'fetched on the miss');
  assert.ok(c.changes.some((x) => x.kind === 'template' && x.scope.exporter === evicted.exporter));
  c.s.missing({ ...scope, exporter: '192.0.2.99' }, 256);
  await until(() => c.s.stats()['gets_miss'] === 1, 'a template nobody has is a miss');
  c.s.missing({ ...scope, exporter: '192.0.2.99' }, 256);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(c.s.stats()['gets_negative_cached'], 1, 'asked again at once: answered from the negative cache');

  // An existing bucket with other settings is used as it is, the difference logged.
  const log: string[] = [];
  const d = store(url, 'conv', 'D', {}, { history: 5, log });
  await ready(d.s);
  assert.ok(log.some((l) => l.includes('exists with other settings') && l.includes('kv_history')), log.join('\n'));
  assert.equal((await kv.status()).history, 1);
  await nc.close();
});

test('refresh writes: a template seen again is written only when the stored copy is older than the refresh interval; workers pass refreshes on at most every half of it', { skip }, async () => {
  if (server === undefined) server = await startNatsServer(join(tmp.dir, 'n'));
  const changes: StoreChange[] = [];
  const s = new NatsKvTemplateStore({
    connection: { servers: server.url },
    bucket: 'refresh',
    history: 1,
    ttlS: 3,
    replicas: 1,
    refreshS: 1,
    listeners: [{ name: 'nf', limits: DEFAULT_LIMITS }],
    origin: 'R',
    log: () => {},
  });
  stores.push(s);
  s.subscribe((c) => changes.push(c), () => undefined);
  s.start();
  await ready(s);
  s.learned(scope, def(4), Date.now());
  await until(() => s.stats()['puts'] === 1, 'written once');
  s.refreshed(scope, def(4), Date.now());
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(s.stats()['puts'], 1, 'fresh: not written again');
  await new Promise((r) => setTimeout(r, 1000));
  s.refreshed(scope, def(4), Date.now());
  await until(() => s.stats()['puts'] === 2, 'stale: written again');

  // The in-process side: refreshes reach the member that hears them at most every refresh/2.
  const { LocalTemplateStore } = await import('../src/templates/mod.js');
  const name = `refresh-${process.pid}`;
  const worker = new LocalTemplateStore(name, 'w0', 1000);
  const main = new LocalTemplateStore(name, 'main');
  const heard: unknown[] = [];
  main.subscribe(() => {}, () => undefined);
  main.hearRefreshes((c) => heard.push(c));
  worker.subscribe(() => {}, () => undefined);
  const t = Date.now();
  worker.refreshed(scope, def(4), t);
  worker.refreshed(scope, def(4), t + 100);
  worker.refreshed(scope, def(4), t + 600);
  await until(() => heard.length === 2, 'two refreshes heard');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(heard.length, 2);
  await worker.close();
  await main.close();
});
