/**
 * Robustness sample: the fuzzer of bench/fuzz.ts at a smaller scale (the full run is
 * `npm run fuzz`, 1M datagrams). Mutated corpus and built-in datagrams, truncations, bad set and
 * field lengths, random datagrams behind valid headers, splices and template floods over more
 * exporters than max_sources. Asserted: no exception reaches FlowDecoder's catch
 * (decode.exception stays 0), every decode call returns (a watchdog in the parent thread
 * terminates the worker if one does not), decoded records reference only bytes inside their
 * buffers, and the template cache stays within its limits throughout.
 *
 * The watchdog limit is generous (the machine is shared); it detects loops, it is not a timing.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowDecoder, Exporter } from '../src/decode/mod.js';
import { FUZZ_LIMITS, Rng, cacheProblem, defaultCorpusDir, fromHex, runInWorker, type Finding } from '../bench/fuzz-core.js';

const HANG_MS = 10_000;
const SEED = 20_240_601;
const ITERATIONS = 25_000;

function describeFindings(fs: Finding[]): string {
  return fs
    .slice(0, 5)
    .map((f) => `${f.kind} at ${f.iteration} (${f.protocol ?? '?'}): ${f.message}\n  datagram ${f.datagram}\n  minimized ${f.minimized ?? '-'}\n  ${f.stack ?? ''}`)
    .join('\n');
}

describe('fuzzer building blocks', () => {
  test('the PRNG is deterministic per seed and spreads its values', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const xs = Array.from({ length: 1000 }, () => a.u32());
    assert.deepEqual(
      Array.from({ length: 1000 }, () => b.u32()),
      xs,
    );
    assert.notDeepEqual(
      Array.from({ length: 1000 }, () => c.u32()),
      xs,
    );
    const buckets = new Array<number>(16).fill(0);
    const r = new Rng(7);
    for (let i = 0; i < 16_000; i++) buckets[r.int(16)]!++;
    for (const n of buckets) assert.ok(n > 800 && n < 1200, `bucket ${n}`);
  });

  test('cacheProblem: no violation in a cache that evicts to stay within max_sources', () => {
    const d = new FlowDecoder({ sink: { onFlow() {} }, limits: { maxSources: 2 } });
    assert.equal(cacheProblem(d), undefined);
    // Create three scopes through real datagrams: the cache must evict to stay at 2.
    for (const [i, addr] of ['10.0.0.1', '10.0.0.2', '10.0.0.3'].entries()) {
      const msg = fromHex(`000a0010000000000000000${i}00000001`);
      d.decode(msg, 0, msg.length, new Exporter(addr, 2055), 1_773_489_600, 0);
    }
    assert.equal(d.templates.scopeCount, 2);
    assert.equal(cacheProblem(d), undefined);
  });
});

describe('decoder fuzz sample', () => {
  test(`${ITERATIONS} mutated/random datagrams: no exception, no hang, limits held (seed ${SEED})`, async () => {
    const res = await runInWorker({
      seed: SEED,
      iterations: ITERATIONS,
      limits: FUZZ_LIMITS,
      corpusDir: defaultCorpusDir(),
      exporters: 200,
      hangMs: HANG_MS,
    });
    assert.deepEqual(res.findings.map((f) => `${f.kind}: ${f.message}`), [], describeFindings(res.findings));
    const s = res.stats!;
    assert.equal(s.iterations, ITERATIONS);
    assert.equal(s.counters['decode.exception'] ?? 0, 0);
    // Limits held (also checked every 257 datagrams inside the loop, as findings).
    assert.ok(s.maxScopes <= FUZZ_LIMITS.maxSources);
    assert.ok(s.maxTemplatesInScope <= FUZZ_LIMITS.maxTemplates);
    assert.ok(s.maxPendingBytes <= FUZZ_LIMITS.pendingMaxBytesTotal);
    // The sample reached the paths it is meant to: eviction, rejections, pending, errors.
    assert.equal(s.maxScopes, FUZZ_LIMITS.maxSources, 'enough exporters to fill max_sources');
    assert.ok(s.evictions > 0, 'scopes evicted');
    assert.ok((s.counters['template.rejected.too_many_fields'] ?? 0) > 0, 'max_template_fields rejections');
    assert.ok((s.counters['template.rejected.scope_full'] ?? 0) > 0, 'max_templates rejections');
    assert.ok((s.counters['pending.buffered'] ?? 0) > 0 && (s.counters['pending.replayed'] ?? 0) > 0, 'pending buffer used and replayed');
    assert.ok((s.counters['netflow_v9.set.bad_length'] ?? 0) + (s.counters['ipfix.set.bad_length'] ?? 0) > 0, 'bad set lengths seen');
    assert.ok((s.counters['netflow_v9.set.truncated'] ?? 0) + (s.counters['ipfix.set.truncated'] ?? 0) > 0, 'truncated sets seen');
    assert.ok((s.counters['record.truncated'] ?? 0) > 0, 'truncated records seen');
    assert.ok(s.records > ITERATIONS, 'mutated data still decodes records');
    for (const k of ['records.netflow_v5', 'records.netflow_v9', 'records.ipfix']) assert.ok((s.counters[k] ?? 0) > 0, k);
  });
});

/**
 * Reproducers the fuzzer found (minimised). Each is fed to a fresh decoder in a worker under the
 * watchdog. These fail until the decoder is fixed.
 */
const REGRESSIONS: { name: string; datagram: string }[] = [
  {
    // Options template 256 whose only (scope) field has length 0, then a data set for it:
    // optionsSet decodes "records" of 0 bytes forever (export.ts: minLen 0 is only guarded for
    // data templates; optionsSet uses max(minLen, 1) and decodeGeneric returns p unchanged).
    name: 'NetFlow v9 options template with only zero-length fields loops in optionsSet',
    datagram: '000900020000000000000000000000000000000000010010010000040000000100000000010000080000000' + '0',
  },
  {
    name: 'IPFIX options template with only zero-length fields loops in optionsSet',
    datagram: '000a00260000000000000000000000000003000e010000010001000100000100000800000000',
  },
  {
    // Found by seed 1523730956 at iteration 187423 (template 43630: 22/65535 22/6 ...), reduced
    // by hand: template 256 = flowStartSysUpTime variable-length, then flowStartSysUpTime with
    // 4 bytes; one record. The time local is read from the second field, but without a time
    // base (IPFIX, no systemInitTimeMilliseconds) it was kept as an extra with the offset of the
    // second field and the length of the FIRST (65535, the variable-length marker), i.e. bytes
    // [37, 65572) of a 41-byte datagram (compile.ts: findIndex on the element id).
    name: 'IPFIX template repeating flowStartSysUpTime (variable, then 4 bytes): extra references bytes past the record',
    datagram: '000a0029000000000000000100000000' + '000200100100000200' + '16ffff00160004' + '01000009' + '00' + '00001000',
  },
];

describe('fuzzer reproducers', () => {
  for (const r of REGRESSIONS) {
    test(r.name, async () => {
      const res = await runInWorker({
        seed: 1,
        iterations: 0,
        limits: FUZZ_LIMITS,
        hangMs: HANG_MS,
        regressions: [{ name: r.name, prefix: [], datagram: r.datagram }],
      });
      assert.deepEqual(res.findings.map((f) => `${f.kind}: ${f.message}`), [], describeFindings(res.findings));
    });
  }
});
