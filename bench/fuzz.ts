/**
 * Decoder fuzzer (npm run fuzz = 1M iterations): mutated conformance and built-in datagrams,
 * truncations, bad set and field lengths, random datagrams behind valid headers, splices and
 * template floods over more exporters than max_sources, with small template limits so eviction
 * and rejection paths run. Reports any exception the decoder caught (decode.exception), any
 * decode call that does not return (watchdog), template-cache invariant violations, and heap
 * use before and after.
 *
 *   node dist/bench/fuzz.js [--iterations N] [--seed S] [--hang-ms 2000] [--no-corpus]
 *
 * Exit status 1 when anything was found. Rerun with the printed seed to reproduce.
 */
import { FUZZ_LIMITS, defaultCorpusDir, runInWorker, type Finding, type FuzzStats, type RunResult } from './fuzz-core.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : undefined;
}


function printFinding(f: Finding): void {
  console.log(`\n!! ${f.kind} at iteration ${f.iteration}${f.protocol ? ` (${f.protocol})` : ''}: ${f.message}`);
  if (f.mutations && f.mutations.length > 0) console.log(`   mutations: ${f.mutations.join(', ')}`);
  if (f.stack) console.log(`   stack: ${f.stack.split('\n').slice(0, 8).join('\n          ')}`);
  for (const [i, p] of (f.prefix ?? []).entries()) console.log(`   prefix[${i}]: ${p}`);
  if (f.datagram) console.log(`   datagram: ${f.datagram}`);
  if (f.minimized) console.log(`   minimized: ${f.minimized}`);
}

async function main(): Promise<void> {
  const iterations = Number(arg('iterations') ?? 1_000_000);
  const seed = arg('seed') !== undefined ? Number(arg('seed')) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
  const hangMs = Number(arg('hang-ms') ?? 2000);
  const corpusDir = process.argv.includes('--no-corpus') ? undefined : defaultCorpusDir();
  console.log(`fuzz: seed ${seed}, ${iterations} iterations, corpus ${corpusDir ?? '(none)'}, limits ${JSON.stringify(FUZZ_LIMITS)}, hang limit ${hangMs} ms`);
  const t0 = Date.now();
  // A hang or crash ends a worker; the run goes on in a fresh worker (fresh decoder) with a
  // seed derived from the first, until the iterations are done. Each segment is reproducible
  // from its own seed, printed with its findings.
  const findings: Finding[] = [];
  let done = 0;
  let segment = 0;
  let res: RunResult;
  const statsList: FuzzStats[] = [];
  while (done < iterations && segment < 100) {
    const segSeed = segment === 0 ? seed : (seed + Math.imul(segment, 0x9e3779b9)) >>> 0;
    if (segment > 0) console.log(`\n-- restarting: segment ${segment}, seed ${segSeed}, ${iterations - done} iterations left`);
    res = await runInWorker({
      seed: segSeed,
      iterations: iterations - done,
      limits: FUZZ_LIMITS,
      corpusDir,
      exporters: 200,
      progressEvery: 100_000,
      hangMs,
      onProgress: (it, s) => {
        const h = s.heapSamples?.[s.heapSamples.length - 1];
        console.log(`  ${done + it} iterations, ${s.records} records, heap ${h ? (h[1] / 2 ** 20).toFixed(1) : '?'} MiB, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      },
      onFinding: (f) => printFinding({ ...f, message: `${f.message} [segment seed ${segSeed}]` }),
    });
    findings.push(...res.findings);
    if (res.hang) {
      printFinding({ ...res.hang, message: `${res.hang.message} [segment seed ${segSeed}, iteration ${res.hang.iteration} of the segment]` });
      done += res.hang.iteration + 1;
    } else if (res.stats) {
      statsList.push(res.stats);
      done += res.stats.iterations;
    }
    segment++;
  }
  console.log(`\ntotal: ${done} datagrams decoded in ${segment} segment(s), ${((Date.now() - t0) / 1000).toFixed(1)} s, seed ${seed}; findings: ${findings.length} (${findings.filter((f) => f.kind === 'hang' || f.kind === 'crash').length} hang/crash)`);
  const s = statsList[statsList.length - 1];
  if (s) {
    console.log('\nlast complete segment:');
    const c = s.counters;
    console.log(`\ndone: ${s.iterations} datagrams in ${(s.elapsedMs / 1000).toFixed(1)} s (${Math.round(s.iterations / (s.elapsedMs / 1000))}/s), seed ${s.seed}`);
    console.log(`  seeds: ${s.seeds} (${s.corpusSeeds} from the corpus); records decoded: ${s.records}`);
    console.log(`  decode.exception: ${c['decode.exception'] ?? 0}; findings in this segment: ${s.findings.length}`);
    console.log(`  template cache: max scopes ${s.maxScopes}/${FUZZ_LIMITS.maxSources}, max templates in a scope ${s.maxTemplatesInScope}/${FUZZ_LIMITS.maxTemplates}, max pending ${s.maxPendingBytes}/${FUZZ_LIMITS.pendingMaxBytesTotal} bytes, scopes evicted ${s.evictions}`);
    const mib = (x: number) => `${(x / 2 ** 20).toFixed(1)} MiB`;
    const samples = s.heapSamples.map(([i, h]) => `${i}: ${mib(h)}`).join(', ');
    console.log(`  heap used (after gc): ${mib(s.heapBefore)} before; with the decoder alive ${samples}; ${mib(s.heapAfter)} after dropping it`);
    const interesting = Object.entries(c).filter(([k]) => /^(template\.|scope\.|pending\.|records\.|datagram|ipfix\.list|options\.|section\.)/.test(k));
    console.log(`  counters: ${interesting.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  }
  process.exitCode = findings.length > 0 ? 1 : 0;
}

void main();
