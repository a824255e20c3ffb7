import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Exporter } from '../src/decode/mod.js';
import { LocalTemplateStore, type StoreChange, type TemplateDef } from '../src/templates/mod.js';
import { collectingDecoder } from './support/collect.js';
import { ipfixMessage, ipfixTemplateRecord, ip4, set, u16, u32, u8, v9Message, v9OptionsTemplateRecord, v9TemplateRecord } from './support/export-builder.js';

const FIELDS = [
  { id: 8, len: 4 }, // sourceIPv4Address
  { id: 12, len: 4 }, // destinationIPv4Address
  { id: 1, len: 4 }, // octetDeltaCount
  { id: 2, len: 4 }, // packetDeltaCount
];
const tplSet = set(2, ipfixTemplateRecord(300, FIELDS));
const dataSet = set(300, [...ip4('10.0.0.1'), ...ip4('10.0.0.2'), ...u32(1500), ...u32(3)]);

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a template learned by one decoder reaches another through the local store, and its pending data is replayed', async () => {
  const name = `t-${Math.random()}`;
  const a = collectingDecoder();
  const b = collectingDecoder();
  const sa = new LocalTemplateStore(name, 'a');
  const sb = new LocalTemplateStore(name, 'b');
  const got: StoreChange[] = [];
  const ex = new Exporter('192.0.2.7', 4739);
  // b: apply what others learned; a: publish what it learns.
  sb.subscribe(
    (c) => {
      got.push(c);
      if (c.kind === 'template') b.dec.applyTemplate(ex, c.scope.domain, c.def, Date.now());
    },
    () => undefined,
  );
  a.dec.templates.observe((scope, ev, def) => {
    if (ev === 'learned') sa.learned({ listener: 'l', protocol: scope.protocol, exporter: scope.exporterKey, port: scope.port, domain: scope.domain }, def, 1);
  });
  sa.subscribe(() => {}, () => undefined);
  // b sees data first: it waits in b's pending buffer.
  assert.equal(b.feed(ipfixMessage([dataSet], { domain: 5 }), ex), 'template.missing');
  assert.equal(b.flows.length, 0);
  // a learns the template from the wire.
  a.feed(ipfixMessage([tplSet], { domain: 5 }), ex);
  for (let i = 0; i < 50 && b.flows.length === 0; i++) await wait(10);
  assert.equal(got.length, 1);
  assert.equal(got[0]!.kind, 'template');
  assert.deepEqual(got[0]!.scope, { listener: 'l', protocol: 10, exporter: '192.0.2.7', port: 0, domain: 5 });
  assert.equal(got[0]!.origin, 'a');
  assert.equal(b.flows.length, 1, 'pending data replayed when the shared template arrived');
  assert.equal(b.flows[0]!.src_addr, '10.0.0.1');
  assert.equal(b.flows[0]!.bytes, 1500);
  assert.equal(b.dec.counters.get('pending.replayed'), 1);
  // b decodes later data directly.
  b.feed(ipfixMessage([dataSet], { domain: 5 }), ex);
  assert.equal(b.flows.length, 2);
  assert.equal(sb.stats()['received'], 1);
  await sa.close();
  await sb.close();
});

test('a member that misses a template asks, and a member that knows it answers', async () => {
  const name = `t-${Math.random()}`;
  const def: TemplateDef = { protocol: 9, id: 260, options: false, scopeCount: 0, fields: [{ id: 8, pen: 0, length: 4 }] };
  const scope = { listener: 'l', protocol: 9 as const, exporter: '198.51.100.1', port: 0, domain: 0 };
  const knows = new LocalTemplateStore(name, 'knows');
  const asks = new LocalTemplateStore(name, 'asks');
  let lookups = 0;
  knows.subscribe(() => {}, (s, id) => {
    lookups++;
    return s.exporter === scope.exporter && id === 260 ? def : undefined;
  });
  const got: StoreChange[] = [];
  asks.subscribe((c) => got.push(c), () => undefined);
  asks.missing(scope, 260);
  asks.missing(scope, 260); // rate-limited: one request
  for (let i = 0; i < 50 && got.length === 0; i++) await wait(10);
  assert.equal(lookups, 1);
  assert.equal(got.length, 1);
  assert.equal(got[0]!.kind, 'template');
  assert.deepEqual((got[0] as { def: TemplateDef }).def, def);
  assert.equal(asks.stats()['requests_sent'], 1);
  assert.equal(knows.stats()['requests_answered'], 1);
  await knows.close();
  await asks.close();
});

test('shared options data gives another decoder the exporter sampling rate; withdrawal removes the template', async () => {
  const a = collectingDecoder();
  const b = collectingDecoder();
  const ex = new Exporter('203.0.113.9', 2055);
  // v9 options template: scope System (1, len 4); samplerId 48, samplerRandomInterval 50.
  const optTpl = set(1, v9OptionsTemplateRecord(400, [{ id: 1, len: 4 }], [{ id: 48, len: 1 }, { id: 50, len: 4 }]), true);
  const optData = set(400, [...u32(0), ...u8(1), ...u32(100)], true);
  const tpl = set(0, v9TemplateRecord(256, [{ id: 8, len: 4 }, { id: 1, len: 4 }, { id: 2, len: 4 }, { id: 48, len: 1 }]));
  const data = set(256, [...ip4('10.1.1.1'), ...u32(1000), ...u32(2), ...u8(1)], true);
  const rows: { scope: any; row: any }[] = [];
  a.dec.observeOptions((scope, row) => rows.push({ scope, row }));
  a.feed(v9Message([optTpl, optData]), ex);
  assert.equal(rows.length, 1);
  const s = rows[0]!.scope;
  b.dec.applyOptions(ex, s.domain, s.protocol, rows[0]!.row);
  const def = a.dec.templates.find('203.0.113.9', 0, 9)!.get(400)!.def;
  assert.equal(b.dec.applyTemplate(ex, 0, def, Date.now()), 'learned');
  b.feed(v9Message([tpl, data]), ex);
  assert.equal(b.flows.length, 1);
  assert.equal(b.flows[0]!.sampling_rate, 100);
  assert.equal(b.dec.applyWithdrawal(ex, 0, 9, 256), true);
  assert.equal(b.dec.applyWithdrawal(ex, 0, 9, 256), false);
  assert.equal(b.feed(v9Message([data]), ex), 'template.missing');
  void u16;
});

test('options rows are observed (and so shared) when new or changed, not when an exporter repeats them', () => {
  const a = collectingDecoder();
  const ex = new Exporter('203.0.113.10', 2055);
  const optTpl = set(1, v9OptionsTemplateRecord(400, [{ id: 1, len: 4 }], [{ id: 48, len: 1 }, { id: 50, len: 4 }]), true);
  const row = (rate: number) => set(400, [...u32(0), ...u8(1), ...u32(rate)], true);
  const seen: number[] = [];
  a.dec.observeOptions((_scope, r) => seen.push(r.values['samplerRandomInterval'] as number));
  a.feed(v9Message([optTpl, row(100)]), ex);
  a.feed(v9Message([optTpl, row(100)]), ex);
  a.feed(v9Message([row(100)]), ex);
  a.feed(v9Message([row(50)]), ex);
  a.feed(v9Message([row(50)]), ex);
  assert.deepEqual(seen, [100, 50]);
  assert.equal(a.dec.counters.get('options.records'), 5);
});
