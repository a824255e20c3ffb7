import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TemplateCache,
  decodeTemplate,
  encodeTemplate,
  resolveLimits,
  LimitsError,
  PerLayout,
  TemplateCodecError,
  VARIABLE_LENGTH,
  type TemplateDef,
} from '../src/templates/mod.js';
import { Counters, Exporter } from '../src/decode/mod.js';
import { RawRecord } from '../src/templates/raw.js';
import { TranscodeCtx } from '../src/decode/transcode.js';

const def = (id: number, n = 3, extra: Partial<TemplateDef> = {}): TemplateDef => ({
  protocol: 10,
  id,
  options: false,
  scopeCount: 0,
  fields: Array.from({ length: n }, (_, i) => ({ id: i + 1, pen: 0, length: 4 })),
  ...extra,
});

test('template codec round-trips every kind of definition', () => {
  const defs: TemplateDef[] = [
    def(256),
    { protocol: 9, id: 300, options: true, scopeCount: 1, fields: [{ id: 1, pen: 0, length: 4 }, { id: 34, pen: 0, length: 4 }, { id: 35, pen: 0, length: 1 }] },
    { protocol: 10, id: 65535, options: false, scopeCount: 0, fields: [{ id: 1, pen: 29305, length: 8 }, { id: 12345, pen: 4294967295, length: VARIABLE_LENGTH }, { id: 0x7fff, pen: 0, length: 0 }] },
    { protocol: 10, id: 400, options: true, scopeCount: 2, fields: [{ id: 149, pen: 0, length: 4 }, { id: 302, pen: 0, length: 4 }, { id: 305, pen: 0, length: 4 }] },
    { protocol: 10, id: 401, options: false, scopeCount: 0, fields: [] },
  ];
  for (const d of defs) {
    const bytes = encodeTemplate(d);
    assert.equal(bytes[0], 1, 'version byte first');
    assert.deepEqual(decodeTemplate(bytes), d);
  }
  // Compactness: 9 header bytes, 4 per IANA field, 8 per enterprise field.
  assert.equal(encodeTemplate(defs[2]!).length, 9 + 8 + 8 + 4);
});

test('template codec rejects damaged input with a reason', () => {
  const good = encodeTemplate(def(256));
  assert.throws(() => decodeTemplate(good.subarray(0, 8)), TemplateCodecError);
  assert.throws(() => decodeTemplate(good.subarray(0, good.length - 1)), /truncated/);
  assert.throws(() => decodeTemplate(Uint8Array.from([...good, 0])), /trailing/);
  const v2 = Uint8Array.from(good);
  v2[0] = 2;
  assert.throws(() => decodeTemplate(v2), /version 2/);
  const badProto = Uint8Array.from(good);
  badProto[1] = 7;
  assert.throws(() => decodeTemplate(badProto), /protocol/);
});

test('PerLayout: one value per layout whatever the template id, the least recently asked for evicted first, a failed build not kept', () => {
  const memo = new PerLayout<string | null>(2);
  let built = 0;
  const make = (v: string | null) => () => {
    built++;
    return v;
  };
  // Same layout under another id: the value built for the first.
  assert.equal(memo.get(def(256, 3), make('a')), 'a');
  assert.equal(memo.get(def(999, 3), make('other')), 'a');
  // null is a value like any other (a layout with nothing to compile).
  assert.equal(memo.get(def(256, 4), make(null)), null);
  assert.equal(memo.get(def(300, 4), make('other')), null);
  assert.equal(built, 2);
  // Asking for the 3-field layout makes the 4-field one the least recent: a third layout evicts it.
  memo.get(def(256, 3), make('other'));
  memo.get(def(256, 5), make('c'));
  assert.equal(memo.get(def(256, 3), make('other')), 'a');
  assert.equal(memo.get(def(256, 4), make('again')), 'again');
  assert.equal(built, 4);
  // A build that throws leaves nothing behind: the next ask builds again.
  assert.throws(() => memo.get(def(256, 6), () => {
    throw new Error('bad layout');
  }), /bad layout/);
  assert.equal(memo.get(def(256, 6), make('f')), 'f');
});

test('limits: defaults, snake_case overrides, and errors that name the field and the fix', () => {
  const d = resolveLimits();
  assert.equal(d.scopeIncludesPort, false);
  assert.ok(d.maxSources > 0 && d.maxTemplates > 0 && d.pendingMaxAgeMs > 0);
  const l = resolveLimits({ max_sources: 5, scope_includes_port: true, maxTemplates: 7 });
  assert.equal(l.maxSources, 5);
  assert.equal(l.maxTemplates, 7);
  assert.equal(l.scopeIncludesPort, true);
  assert.throws(() => resolveLimits({ max_sources: 0 }), (e: Error) => e instanceof LimitsError && /templates\.max_sources/.test(e.message) && /at least 1/.test(e.message));
  assert.throws(() => resolveLimits({ max_sourcez: 1 }), /templates\.max_sourcez: unknown setting; valid settings are/);
  assert.throws(() => resolveLimits({ scope_includes_port: 'yes' }), /true or false/);
  assert.throws(() => resolveLimits({ max_record_length: 70000 }), /65535/);
  assert.throws(() => resolveLimits({ pending_max_bytes_per_scope: 10, pending_max_bytes_total: 5 }), /raise the total/);
});

function cache(limits: Record<string, unknown> = {}) {
  const counters = new Counters();
  let compiles = 0;
  const c = new TemplateCache<string>(resolveLimits(limits), counters, (d) => `compiled-${d.id}-${++compiles}`);
  const events: string[] = [];
  c.observe((s, ev, d) => events.push(`${s.key}:${ev}:${d.id}`));
  return { c, counters, events, compiles: () => compiles };
}

test('scopes: exporter + domain, IPv4-mapped normalised, port only when configured', () => {
  const { c } = cache();
  const a = c.scope(new Exporter('192.0.2.1', 1000), 0, 10);
  assert.equal(c.scope(new Exporter('::ffff:192.0.2.1', 2000), 0, 10), a, 'mapped address and other port share the scope');
  assert.notEqual(c.scope(new Exporter('192.0.2.1', 1000), 1, 10), a, 'domain separates');
  assert.notEqual(c.scope(new Exporter('192.0.2.1', 1000), 0, 9), a, 'v9 and IPFIX do not share template ids');
  assert.equal(a.key, '192.0.2.1/ipfix/0');
  const withPort = cache({ scope_includes_port: true }).c;
  const p1 = withPort.scope(new Exporter('192.0.2.1', 1000), 0, 10);
  assert.notEqual(withPort.scope(new Exporter('192.0.2.1', 2000), 0, 10), p1);
  assert.equal(withPort.scope(new Exporter('192.0.2.1', 1000), 0, 10), p1);
  // The exporter's part of the key, as find() takes it: with the port only when configured.
  assert.equal(new Exporter('::ffff:192.0.2.1', 7).keyPort, '192.0.2.1|7');
  assert.equal(withPort.exporterKey(new Exporter('192.0.2.1', 2000)), '192.0.2.1|2000');
  assert.equal(withPort.find('192.0.2.1|1000', 0, 10), p1);
  assert.equal(c.exporterKey(new Exporter('192.0.2.1', 2000)), '192.0.2.1');
  assert.equal(c.find(c.exporterKey(new Exporter('192.0.2.1', 2000)), 0, 10), a);
});

test('template events: learned, refreshed, changed, withdrawn, missing; compiled once per layout', () => {
  const { c, counters, events, compiles } = cache();
  const s = c.scope(new Exporter('192.0.2.1'), 0, 10);
  assert.equal(c.learn(s, def(256)), 'learned');
  assert.equal(c.learn(s, def(256)), 'refreshed');
  assert.equal(c.learn(s, def(256, 4)), 'changed');
  assert.equal(s.get(256)!.def.fields.length, 4);
  // Same layout in another scope reuses the compiled decoder.
  const s2 = c.scope(new Exporter('192.0.2.2'), 0, 10);
  assert.equal(c.learn(s2, def(256, 4)), 'learned');
  assert.equal(s2.get(256)!.compiled, s.get(256)!.compiled);
  assert.equal(compiles(), 2);
  assert.equal(c.withdraw(s, 256), true);
  assert.equal(c.withdraw(s, 256), false);
  c.missing(s, 999);
  assert.deepEqual(events, [
    '192.0.2.1/ipfix/0:learned:256',
    '192.0.2.1/ipfix/0:refreshed:256',
    '192.0.2.1/ipfix/0:changed:256',
    '192.0.2.2/ipfix/0:learned:256',
    '192.0.2.1/ipfix/0:withdrawn:256',
    '192.0.2.1/ipfix/0:missing:999',
  ]);
  assert.equal(counters.get('template.learned'), 2);
  assert.equal(counters.get('template.refreshed'), 1);
  assert.equal(counters.get('template.changed'), 1);
  assert.equal(counters.get('template.withdrawn'), 1);
  assert.equal(counters.get('template.withdrawn_unknown'), 1);
  assert.equal(counters.get('template.missing'), 1);
});

test('withdraw all data or all options templates', () => {
  const { c } = cache();
  const s = c.scope(new Exporter('192.0.2.1'), 0, 10);
  c.learn(s, def(256));
  c.learn(s, def(257));
  c.learn(s, def(258, 2, { options: true, scopeCount: 1 }));
  assert.equal(c.withdrawAll(s, false), 2);
  assert.deepEqual([...s.templates.keys()], [258]);
  assert.equal(c.withdrawAll(s, true), 1);
  assert.equal(s.templates.size, 0);
});

test('limits: fields per template, record length, templates per scope are refused and counted', () => {
  const { c, counters } = cache({ max_template_fields: 4, max_record_length: 12, max_templates: 2 });
  const s = c.scope(new Exporter('192.0.2.1'), 0, 10);
  assert.equal(c.learn(s, def(256, 5)), 'rejected');
  assert.equal(counters.get('template.rejected.too_many_fields'), 1);
  assert.equal(c.learn(s, { ...def(257, 4) }), 'rejected', '16 bytes > 12');
  assert.equal(counters.get('template.rejected.record_too_long'), 1);
  assert.equal(c.learn(s, def(258, 3)), 'learned');
  assert.equal(c.learn(s, def(259, 3)), 'learned');
  assert.equal(c.learn(s, def(260, 3)), 'rejected');
  assert.equal(counters.get('template.rejected.scope_full'), 1);
  assert.equal(c.learn(s, def(259, 2)), 'changed', 'redefining a known id is allowed when full');
});

test('max_sources evicts the least-recently-used scope whole, with its pending data', () => {
  const { c, counters, events } = cache({ max_sources: 3 });
  const ex = (i: number) => new Exporter(`192.0.2.${i}`);
  const s1 = c.scope(ex(1), 0, 10);
  c.learn(s1, def(256));
  s1.pending.add(300, Buffer.alloc(10), 0, 10, { exportSec: 0, sysUptime: 0, sequence: 0, recvSec: 0, recvNsec: 0 }, 0);
  c.scope(ex(2), 0, 10);
  c.scope(ex(3), 0, 10);
  c.scope(ex(1), 0, 10); // touch 1: now 2 is the oldest
  c.scope(ex(4), 0, 10);
  assert.equal(c.scopeCount, 3);
  assert.ok(c.find('192.0.2.1', 0, 10), 'recently used scope kept');
  assert.equal(c.find('192.0.2.2', 0, 10), undefined, 'oldest scope evicted');
  c.scope(ex(5), 0, 10);
  c.scope(ex(6), 0, 10);
  assert.equal(c.find('192.0.2.1', 0, 10), undefined);
  assert.equal(counters.get('scope.evicted'), 3);
  assert.equal(counters.get('template.evicted'), 1);
  assert.equal(counters.get('pending.dropped.scope_evicted'), 1);
  assert.equal(c.pendingBytes, 0);
  assert.ok(events.includes('192.0.2.1/ipfix/0:evicted:256'));
});

test('max_sources: exporters in use survive a flood of new sources; idle ones go oldest first (the LRU order is kept coarsely)', () => {
  // A scope in use moves to the recent end at most once per max_sources / 4 (here 25) look-ups.
  const { c, counters } = cache({ max_sources: 100 });
  const ex = (i: number) => new Exporter(`198.51.${i >> 8}.${i & 255}`);
  const busy = [ex(60_001), ex(60_002)];
  const idle = ex(60_003);
  c.scope(idle, 0, 10);
  for (let i = 0; i < 2000; i++) {
    c.scope(ex(i), 0, 10);
    c.scope(busy[i & 1]!, 0, 10);
    c.scope(busy[(i + 1) & 1]!, 0, 10);
    for (const b of busy) assert.ok(c.find(b.key, 0, 10), `busy exporter ${b.key} kept after ${i + 1} new sources`);
  }
  assert.equal(c.find(idle.key, 0, 10), undefined, 'the idle exporter was evicted');
  assert.equal(c.scopeCount, 100);
  assert.equal(counters.get('scope.evicted'), 2003 - 100);
  // The newest sources are the ones kept.
  assert.ok(c.find(ex(1999).key, 0, 10));
  assert.equal(c.find(ex(1999 - 98).key, 0, 10), undefined);
});

test('scopes: one Exporter object across datagrams gets the scope its keys say (it remembers its last one): domains and protocols in turn, two caches, after its scope was evicted', () => {
  const { c, counters } = cache({ max_sources: 2 });
  const a = new Exporter('192.0.2.1', 2055);
  const ipfix0 = c.scope(a, 0, 10);
  const v9 = c.scope(a, 0, 9);
  assert.notEqual(v9, ipfix0, 'v9 and IPFIX of one domain');
  for (let i = 0; i < 3; i++) {
    assert.equal(c.scope(a, 0, 10), ipfix0);
    assert.equal(c.scope(a, 0, 10), ipfix0, 'the same again');
    assert.equal(c.scope(a, 0, 9), v9);
  }
  assert.equal(c.scopeCount, 2);
  // Two caches (two listeners' decoders) with the same Exporter object: each its own scope.
  const other = cache().c;
  const elsewhere = other.scope(a, 0, 10);
  assert.notEqual(elsewhere, ipfix0);
  assert.equal(c.scope(a, 0, 10), ipfix0);
  assert.equal(other.scope(a, 0, 10), elsewhere);
  assert.equal(c.scope(a, 0, 10), ipfix0);
  // Its remembered scope evicted by newer sources: the next datagram gets a new one, the one filed.
  const b = new Exporter('192.0.2.2', 2055);
  c.scope(b, 0, 10);
  c.scope(b, 1, 10);
  assert.equal(c.find(a.key, 0, 10), undefined, 'evicted');
  const again = c.scope(a, 0, 10);
  assert.notEqual(again, ipfix0, 'not the evicted scope');
  assert.equal(c.find(a.key, 0, 10), again);
  assert.equal(c.scopeCount, 2);
  assert.equal(counters.get('scope.evicted'), 3);
  // A domain past 2^31 (a double key) is remembered like any other.
  const big = c.scope(a, 2 ** 32 - 1, 10);
  assert.equal(c.scope(a, 2 ** 32 - 1, 10), big);
  assert.equal(big.domain, 2 ** 32 - 1);
  assert.equal(c.find(a.key, 2 ** 32 - 1, 10), big);
});

test('pending buffer: bounded per scope, in total and by age; take returns in order', () => {
  const { c, counters } = cache({ pending_max_bytes_per_scope: 100, pending_max_bytes_total: 150, pending_max_age_ms: 1000 });
  const h = { exportSec: 1, sysUptime: 2, sequence: 3, recvSec: 4, recvNsec: 5 };
  const s1 = c.scope(new Exporter('192.0.2.1'), 0, 10);
  const s2 = c.scope(new Exporter('192.0.2.2'), 0, 10);
  const data = Buffer.from(Array.from({ length: 200 }, (_, i) => i));
  assert.equal(s1.pending.add(300, data, 0, 40, h, 0), true);
  assert.equal(s1.pending.add(301, data, 40, 40, h, 10), true);
  assert.equal(s1.pending.add(300, data, 80, 40, h, 20), true, 'scope full: the oldest entry makes room');
  assert.equal(counters.get('pending.dropped.scope_full'), 1);
  assert.equal(s1.pending.byteSize, 80);
  assert.equal(s1.pending.add(300, data, 0, 101, h, 20), false);
  assert.equal(counters.get('pending.dropped.too_large'), 1);
  assert.equal(s2.pending.add(302, data, 0, 60, h, 20), true);
  assert.equal(s2.pending.add(302, data, 0, 20, h, 20), false, 'total budget 150 reached');
  assert.equal(counters.get('pending.dropped.total_full'), 1);
  assert.equal(c.pendingBytes, 140);
  const got = s1.pending.take(300);
  assert.equal(got.length, 1);
  assert.deepEqual([...got[0]!.data], [...data.subarray(80, 120)], 'a private copy of the bytes');
  assert.equal(got[0]!.hdr.sysUptime, 2);
  assert.ok(Buffer.isBuffer(got[0]!.data), 'a Buffer, as datagrams are');
  assert.equal(counters.get('pending.replayed'), 1);
  data.fill(0);
  assert.equal(s1.pending.take(301)[0]!.data[0], 40, 'copy is independent of the datagram buffer');
  c.sweep(2000);
  assert.equal(s2.pending.size, 0);
  assert.equal(counters.get('pending.expired'), 1);
  assert.equal(c.pendingBytes, 0);
});

test('options rows are kept per scope, bounded', () => {
  const { c, counters } = cache({ max_options_records: 2 });
  const s = c.scope(new Exporter('192.0.2.1'), 0, 10);
  c.keepOptions(s, { templateId: 300, scopeKey: 'a=1', values: { a: 1 }, at: 0 });
  c.keepOptions(s, { templateId: 300, scopeKey: 'a=2', values: { a: 2 }, at: 0 });
  c.keepOptions(s, { templateId: 300, scopeKey: 'a=1', values: { a: 1, b: 2 }, at: 1 });
  c.keepOptions(s, { templateId: 300, scopeKey: 'a=3', values: { a: 3 }, at: 2 });
  assert.deepEqual([...s.options.keys()], ['300|a=1', '300|a=3']);
  assert.equal(counters.get('options.evicted'), 1);
});

test('a kept template record finds its repeats word by word: any alignment, a tail of 2 bytes, a byte changed anywhere, cut short, another buffer', () => {
  for (const len of [4, 12, 22, 86]) {
    const rec = Uint8Array.from({ length: len }, (_, i) => (i * 37 + 11) & 255);
    const kept = new RawRecord(rec);
    // Views as the decoder gets them: one per receive buffer, from its transcoding context.
    const views = new TranscodeCtx();
    assert.ok(kept.equals(rec));
    for (let at = 0; at < 4; at++) {
      // Into a buffer at an offset of its own ArrayBuffer, as receive buffers are sliced.
      const ab = new Uint8Array(len + 16);
      const buf = ab.subarray(3);
      buf.set(rec, at);
      assert.equal(kept.endAt(buf, views.view(buf), at, buf.length), at + len, `len ${len} at ${at}`);
      assert.equal(kept.endAt(buf, views.view(buf), at, at + len), at + len);
      assert.equal(kept.endAt(buf, views.view(buf), at, at + len - 1), -1, 'the limit cuts it short');
      for (let i = 0; i < len; i++) {
        buf[at + i]! ^= 0x40;
        assert.equal(kept.endAt(buf, views.view(buf), at, buf.length), -1, `len ${len} at ${at}: byte ${i} changed`);
        buf[at + i]! ^= 0x40;
      }
      // Another buffer with a different byte where the last one matched: not the last one's view (TranscodeCtx.view makes a new one).
      const other = buf.slice();
      other[at + len - 1]! ^= 1;
      assert.equal(kept.endAt(other, views.view(other), at, other.length), -1);
      assert.equal(kept.endAt(buf, views.view(buf), at, buf.length), at + len);
    }
    assert.equal(kept.endAt(rec, views.view(rec), 1, rec.length), -1);
    assert.ok(!kept.equals(rec.subarray(1)));
  }
});
