/**
 * `flow-collector blast`: the load generator's command line. Parses the arguments (a bad one
 * exits 2 naming the flag), builds the exporter streams (synthesised or replayed), runs the
 * send loop and prints what was sent. Documented in docs/cli.md and docs/load-testing.md; keep
 * the usage text and those files in step.
 */
import { lookup } from 'node:dns/promises';
import { isIP, isIPv4 } from 'node:net';
import { loadReplay, cloneStream } from './replay.js';
import { runBlast, SendError, type BlastResult } from './run.js';
import { synthesise } from './synth.js';
import type { ExporterStream, Protocol } from './stream.js';

export const BLAST_USAGE = `Usage: flow-collector blast --target ADDR:PORT [options] [FILE...]

Sends NetFlow v5, NetFlow v9, IPFIX or sFlow v5 datagrams to a collector at a target rate, from
many exporters (one UDP socket each, bound to its own source address), and prints what it sent.
Either synthesises traffic (--synth) or replays capture files (pcap, pcapng, raw .dat payloads);
sequence numbers and export times are rewritten as it sends, per exporter and observation
domain, so the collector sees continuous sequences.

Options:
  --target ADDR:PORT      the collector (required); [v6addr]:PORT for IPv6; a host name is
                          resolved once
  --rate N|max            datagrams per second in all (default 10000); max: as fast as the
                          kernel takes them
  --duration SECONDS      how long to send (default 10, unless --count)
  --count N               datagrams to send in all (templates included), then stop
  --synth v5|v9|ipfix|sflow
                          synthesise this protocol (instead of FILEs)
  --exporters N           exporters (default 8 with --synth; with FILEs, one per exporter in
                          the files; more replay them again from further addresses)
  --domains N             observation domains (v9 source ids, IPFIX domains, v5 engines, sFlow
                          sub-agents) per synthetic exporter (default 2)
  --source ADDR           first exporter address: exporter i binds to ADDR + i (default
                          127.0.1.1 when the target is on loopback, else 0.0.0.0: every exporter
                          on the wildcard address, each with its own port); an IPv6 ADDR is
                          shared by all exporters
  --sampling-rate N       1 in N: v5 header, v9/IPFIX sampler table, sFlow samples (default 100)
  --template-every N      send an exporter's templates again after N of its datagrams
                          (default 0: off)
  --template-interval S   ... or after S seconds (default 60 with --synth, 0 with FILEs)
  --preamble              send every exporter's templates first (default on)
  --no-preamble           do not
  --preamble-wait MS      pause after the preamble (default 200)
  --pool N                distinct data datagrams per synthetic exporter, cycled (default 64,
                          fewer with over 128 exporters: 8192 in all, at least 4 each)
  --burst N               most datagrams per send call (default 32)
  --seed N                seed of the synthetic traffic (default 1)
  --json                  print the result as one JSON object
  -h, --help              show this help

On a terminal, a progress line is kept on stderr. SIGINT stops sending and prints what was
sent. Exit codes: 0 sent; 1 a runtime failure (an unreadable file, an address that cannot be
bound, a send error that does not go away); 2 bad arguments.
`;

export interface BlastArgs {
  target: { host: string; port: number };
  rate: number;
  duration: number;
  count: number;
  synth: Protocol | undefined;
  exporters: number | undefined;
  domains: number;
  source: string | undefined;
  samplingRate: number;
  templateEvery: number;
  templateInterval: number | undefined;
  preamble: boolean;
  preambleWaitMs: number;
  pool: number;
  burst: number;
  seed: number;
  json: boolean;
  files: string[];
}

export class UsageError extends Error {}

/** Most exporters (each is a socket and a source address). */
export const MAX_EXPORTERS = 4096;

function parseTarget(v: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:]+):(\d+)$/.exec(v);
  if (!m) throw new UsageError(`--target: "${v}" is not ADDR:PORT; write e.g. --target 127.0.0.1:2055 or --target [::1]:2055`);
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--target: port ${m[2]} is out of range; use 1-65535`);
  return { host: m[1]!, port };
}

function positiveInt(name: string, v: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${name}: "${v}" is not a whole number from ${min} to ${max}`);
  }
  return n;
}

function positiveNumber(name: string, v: string, allowZero = false): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
    throw new UsageError(`${name}: "${v}" is not a ${allowZero ? 'non-negative' : 'positive'} number`);
  }
  return n;
}

/** Parses `blast` arguments; null means --help. Throws UsageError. */
export function parseBlastArgs(argv: readonly string[]): BlastArgs | null {
  const a: BlastArgs = {
    target: { host: '', port: 0 },
    rate: 10_000,
    duration: NaN,
    count: NaN,
    synth: undefined,
    exporters: undefined,
    domains: 2,
    source: undefined,
    samplingRate: 100,
    templateEvery: 0,
    templateInterval: undefined,
    preamble: true,
    preambleWaitMs: 200,
    pool: 0,
    burst: 32,
    seed: 1,
    json: false,
    files: [],
  };
  let target: string | undefined;
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      a.files.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      if (arg === '-') throw new UsageError('"-": reading from stdin is not supported; give capture files by path');
      a.files.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 && arg.startsWith('--') ? arg.slice(0, eq) : arg;
    const inline = eq > 0 && arg.startsWith('--') ? arg.slice(eq + 1) : undefined;
    const flag = (): void => {
      if (inline !== undefined) throw new UsageError(`${name}: takes no value; write ${name} alone`);
    };
    const value = (hint: string): string => {
      if (seen.has(name)) throw new UsageError(`${name}: given more than once; keep one`);
      seen.add(name);
      if (inline !== undefined) return inline;
      const v = argv[i + 1];
      if (v === undefined || (v.startsWith('--') && v.length > 2)) throw new UsageError(`${name}: missing value; write ${name} ${hint}`);
      i++;
      return v;
    };
    switch (name) {
      case '-h':
      case '--help':
        return null;
      case '--target':
        target = value('ADDR:PORT');
        break;
      case '--rate': {
        const v = value('DATAGRAMS_PER_S');
        a.rate = v === 'max' ? Infinity : positiveNumber('--rate', v);
        break;
      }
      case '--duration':
        a.duration = positiveNumber('--duration', value('SECONDS'));
        break;
      case '--count':
        a.count = positiveInt('--count', value('N'));
        break;
      case '--synth': {
        const v = value('v5|v9|ipfix|sflow');
        if (v !== 'v5' && v !== 'v9' && v !== 'ipfix' && v !== 'sflow') throw new UsageError(`--synth: unknown protocol "${v}"; use v5, v9, ipfix or sflow`);
        a.synth = v;
        break;
      }
      case '--exporters':
        a.exporters = positiveInt('--exporters', value('N'), 1, MAX_EXPORTERS);
        break;
      case '--domains':
        a.domains = positiveInt('--domains', value('N'), 1, 16);
        break;
      case '--source': {
        const v = value('ADDR');
        if (isIP(v) === 0) throw new UsageError(`--source: "${v}" is not an IP address; give the first exporter's address, e.g. --source 127.0.1.1`);
        a.source = v;
        break;
      }
      case '--sampling-rate':
        a.samplingRate = positiveInt('--sampling-rate', value('N'), 1, 0x3fff);
        break;
      case '--template-every':
        a.templateEvery = positiveInt('--template-every', value('N'), 0);
        break;
      case '--template-interval':
        a.templateInterval = positiveNumber('--template-interval', value('SECONDS'), true);
        break;
      case '--preamble':
        flag();
        a.preamble = true;
        break;
      case '--no-preamble':
        flag();
        a.preamble = false;
        break;
      case '--preamble-wait':
        a.preambleWaitMs = positiveNumber('--preamble-wait', value('MS'), true);
        break;
      case '--pool':
        a.pool = positiveInt('--pool', value('N'), 1, 4096);
        break;
      case '--burst':
        a.burst = positiveInt('--burst', value('N'), 1, 1024);
        break;
      case '--seed':
        a.seed = positiveInt('--seed', value('N'), 0, 0xffffffff);
        break;
      case '--json':
        flag();
        a.json = true;
        break;
      default:
        throw new UsageError(`${name}: unknown option; see flow-collector blast --help (a file whose name starts with "-" goes after "--")`);
    }
  }
  if (target === undefined) throw new UsageError('--target: required; write --target ADDR:PORT (the collector), e.g. --target 127.0.0.1:2055');
  a.target = parseTarget(target);
  if (a.synth === undefined && a.files.length === 0) throw new UsageError('--synth: give --synth v5|v9|ipfix|sflow, or capture FILEs to replay');
  if (a.synth !== undefined && a.files.length > 0) throw new UsageError(`--synth: cannot be combined with FILEs (${a.files[0]}); give one or the other`);
  if (!Number.isNaN(a.duration) && !Number.isNaN(a.count)) throw new UsageError('--count: cannot be combined with --duration; give one (the run stops at whichever you give)');
  if (Number.isNaN(a.duration) && Number.isNaN(a.count)) a.duration = 10;
  if (a.rate === Infinity && Number.isNaN(a.count) && Number.isNaN(a.duration)) a.duration = 10;
  return a;
}

function ipv4Plus(base: string, k: number): string {
  const n = (base.split('.').reduce((s, x) => s * 256 + Number(x), 0) + k) >>> 0;
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function isLoopback(host: string): boolean {
  return host === '::1' || (isIPv4(host) && host.startsWith('127.'));
}

/** Source address of each exporter. */
export function exporterSources(count: number, source: string | undefined, targetHost: string): string[] {
  const v6 = targetHost.includes(':');
  const base = source ?? (isLoopback(targetHost) ? (v6 ? '::1' : '127.0.1.1') : v6 ? '::' : '0.0.0.0');
  if (base.includes(':') || base === '0.0.0.0') return Array.from({ length: count }, () => base);
  return Array.from({ length: count }, (_, k) => ipv4Plus(base, k));
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function human(r: BlastResult, a: BlastArgs, target: string): string {
  const lines = [
    `blast: sent ${fmt(r.datagrams)} datagrams (${fmt(r.templateDatagrams)} with templates) from ${r.exporters.length} exporters to ${target}${r.interrupted ? ' (interrupted)' : ''}`,
    `  rate: ${fmt(r.achievedRate)} datagrams/s over ${r.seconds.toFixed(2)} s (target ${a.rate === Infinity ? 'max' : fmt(a.rate)})`,
    `  flows: ${fmt(r.flows)} (${fmt(r.seconds > 0 ? r.flows / r.seconds : 0)}/s)`,
    `  bytes: ${fmt(r.bytes)} (${((r.bytes * 8) / Math.max(r.seconds, 1e-9) / 1e6).toFixed(1)} Mbit/s of UDP payload)`,
    `  send path: ${r.path === 'addon' ? 'addon sendmmsg' : `dgram (${r.pathReason})`}; send buffer full ${fmt(r.stalls)} times${r.retriedErrors > 0 ? `; ${fmt(r.retriedErrors)} transient send errors retried` : ''}`,
  ];
  return lines.join('\n') + '\n';
}

/** Runs `blast`; returns the exit code. */
export async function runBlastCli(argv: string[]): Promise<number> {
  let a: BlastArgs | null;
  try {
    a = parseBlastArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`flow-collector blast: ${e.message}\n\n${BLAST_USAGE}`);
      return 2;
    }
    throw e;
  }
  if (a === null) {
    process.stdout.write(BLAST_USAGE);
    return 0;
  }
  const fail = (m: string): number => {
    process.stderr.write(`flow-collector blast: ${m}\n`);
    return 1;
  };
  let host = a.target.host;
  if (isIP(host) === 0) {
    try {
      host = (await lookup(host)).address;
    } catch (e) {
      return fail(`--target: cannot resolve "${host}": ${(e as Error).message}`);
    }
  }
  const target = `${host.includes(':') ? `[${host}]` : host}:${a.target.port}`;
  let streams: ExporterStream[];
  try {
    if (a.synth !== undefined) {
      const sources = exporterSources(a.exporters ?? 8, a.source, host);
      const pool = a.pool > 0 ? a.pool : Math.max(4, Math.min(64, Math.floor(8192 / sources.length)));
      streams = synthesise({ protocol: a.synth, sources, domains: a.domains, pool, samplingRate: a.samplingRate, seed: a.seed });
    } else {
      const groups = await loadReplay(a.files);
      const usable = groups.filter((g) => g.stream.offsets.length > 0);
      if (usable.length === 0) return fail(`no UDP datagrams in ${a.files.join(', ')}`);
      const n = a.exporters ?? usable.length;
      const sources = exporterSources(n, a.source, host);
      streams = sources.map((src, k) => cloneStream(usable[k % usable.length]!.stream, src, `${usable[k % usable.length]!.stream.label} as exporter ${k + 1}`));
    }
  } catch (e) {
    return fail((e as Error).message);
  }
  const tty = process.stderr.isTTY === true && !a.json;
  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  let r: BlastResult;
  try {
    r = await runBlast(streams, {
      host,
      port: a.target.port,
      rate: a.rate,
      duration: Number.isNaN(a.duration) ? Infinity : a.duration,
      count: Number.isNaN(a.count) ? Infinity : a.count,
      preamble: a.preamble,
      preambleWaitMs: a.preambleWaitMs,
      templateEvery: a.templateEvery,
      templateInterval: a.templateInterval ?? (a.synth !== undefined ? 60 : 0),
      burst: a.burst,
      signal: ac.signal,
      onProgress: tty
        ? (p) => process.stderr.write(`\rblast: ${p.seconds.toFixed(0)} s, ${fmt(p.datagrams)} datagrams (${fmt(p.datagrams / Math.max(p.seconds, 1e-9))}/s), ${fmt(p.flows)} flows\x1b[K`)
        : undefined,
    });
  } catch (e) {
    if (tty) process.stderr.write('\n');
    return fail(e instanceof SendError ? e.message : (e as Error).message);
  } finally {
    process.removeListener('SIGINT', onSig);
    process.removeListener('SIGTERM', onSig);
  }
  if (tty) process.stderr.write('\r\x1b[K');
  if (a.json) {
    process.stdout.write(JSON.stringify({ target, rate: a.rate === Infinity ? 'max' : a.rate, ...r }) + '\n');
  } else {
    process.stdout.write(human(r, a, target));
  }
  return 0;
}
