/**
 * `flow-collector decode FILE...`: decodes capture files (pcap, pcapng) and raw `.dat` UDP
 * payloads offline with the collector's own decoder and prints what it decoded.
 *
 * One FlowDecoder serves every file, in argument order, so templates learned from one file
 * decode data in the next (and data that arrives before its template is buffered and decoded
 * when the template turns up, exactly as the live collector does).
 *
 * Output is batched: records are encoded into one growing buffer and written to stdout in
 * chunks of about FLUSH_BYTES, waiting for 'drain' when the stream asks for it. A reader that
 * goes away (`| head`) ends the command quietly with exit code 0.
 *
 * Documented in docs/cli.md; keep the usage text, the summary shape and that file in step.
 */
import { isIP } from 'node:net';
import {
  FlowDecoder,
  ExporterTable,
  Exporter,
  normaliseAddress,
  type FlowRecord,
  type CounterRecord,
} from '../decode/mod.js';
import { NdjsonBatchWriter, DelimitedBatchWriter } from '../encode/mod.js';
import { CounterEncoder } from '../encode/counters.js';
import { loadCaptureFile, splitConcatenatedExports, emptySkipped, type LoadedKind, type SkipReason, type UdpDatagram } from '../capture/mod.js';

export const DECODE_USAGE = `Usage: flow-collector decode [options] FILE...

Decodes NetFlow v1/v5/v7/v9, IPFIX and sFlow v5 datagrams from capture files and prints the
flows to stdout, one JSON object per line (NDJSON). The protocol is recognised from each payload.

FILE is a pcap or pcapng capture (recognised by its magic; UDP to any port, IPv4 and IPv6;
Ethernet, Linux cooked and raw IP link types), or a raw .dat file holding one UDP payload (a
.dat file that is exactly several NetFlow v1/v5/v7 or IPFIX messages back to back is split
into them). Files are decoded in the order given and share template state, so put template
files before data files; data that comes first is decoded when its template arrives.

Options:
  --format FORMAT   json (default): NDJSON, one flow per line; sFlow interface counters
                    are lines with "record_type":"interface_counters".
                    flowpb: length-delimited flowpb.FlowMessage stream (varint length +
                    message, repeated); flows only, counter records are left out.
  --summary         print one JSON object with counts (files, exporters, protocol versions,
                    templates, records, errors, templates still missing) instead of flows
  --exporter ADDR   exporter address for .dat files (default 192.0.2.1); captures use
                    each packet's source address and port
  -h, --help        show this help

Errors go to stderr, one line per datagram that had one: FILE:INDEX: REASON, where INDEX is
the 0-based frame number within a capture (Wireshark's frame number minus 1) or, for a .dat
file, the 0-based message index (0 unless the file was split). A datagram whose template is
not known yet reports template.missing.

Receive time: the capture timestamp for pcap/pcapng packets; the time the command started
for .dat files (the same for all of them).

Exit codes: 0 when every file was read (even if datagrams had decode errors); 1 when a file
could not be read or parsed (reported on stderr, the other files are still decoded) or
stdout failed; 2 for bad arguments.
`;

export const DEFAULT_DAT_EXPORTER = '192.0.2.1';

/** Bytes of encoded output collected before a write to stdout. */
const FLUSH_BYTES = 256 * 1024;
/** Bytes of error lines collected before a write to stderr. */
const ERR_FLUSH_BYTES = 64 * 1024;

export type DecodeFormat = 'json' | 'flowpb';

export interface DecodeOptions {
  files: string[];
  format: DecodeFormat;
  summary: boolean;
  /** Normalised address used as the exporter of .dat payloads. */
  exporter: string;
}

/** A usage error: names the argument and says how to fix it. */
export class UsageError extends Error {}

/** Parses `decode` arguments; null means --help was asked for. Throws UsageError. */
export function parseDecodeArgs(argv: readonly string[]): DecodeOptions | null {
  const o: DecodeOptions = { files: [], format: 'json', summary: false, exporter: DEFAULT_DAT_EXPORTER };
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      o.files.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      if (arg === '-') throw new UsageError('"-": reading from stdin is not supported; save the capture to a file and pass its path');
      o.files.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 && arg.startsWith('--') ? arg.slice(0, eq) : arg;
    const inline = eq > 0 && arg.startsWith('--') ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[i + 1];
      if (v === undefined || (v.startsWith('--') && v.length > 2)) {
        throw new UsageError(`${name}: missing value; write ${name} ${name === '--format' ? 'json|flowpb' : 'ADDR'}`);
      }
      i++;
      return v;
    };
    const once = (): void => {
      if (seen.has(name)) throw new UsageError(`${name}: given more than once; keep one`);
      seen.add(name);
    };
    switch (name) {
      case '-h':
      case '--help':
        return null;
      case '--format': {
        once();
        const v = value();
        if (v !== 'json' && v !== 'flowpb') throw new UsageError(`--format: unknown format "${v}"; use --format json or --format flowpb`);
        o.format = v;
        break;
      }
      case '--summary':
        if (inline !== undefined) throw new UsageError(`--summary: takes no value; write --summary alone`);
        o.summary = true;
        break;
      case '--exporter': {
        once();
        const v = value();
        if (isIP(v) === 0) throw new UsageError(`--exporter: "${v}" is not an IP address; give an IPv4 or IPv6 address such as ${DEFAULT_DAT_EXPORTER} (no port)`);
        o.exporter = normaliseAddress(v);
        break;
      }
      default:
        throw new UsageError(`${name}: unknown option; the options are --format, --summary, --exporter and --help (a file whose name starts with "-" goes after "--")`);
    }
  }
  if (o.files.length === 0) throw new UsageError('FILE: no input files; give one or more pcap, pcapng or .dat files');
  return o;
}

/**
 * A writable (stdout, stderr) used with backpressure: `write` waits for 'drain' when the
 * stream's buffer is full. When the reader goes away (EPIPE) or the stream fails, `closed`
 * turns true and later writes are dropped; `failure` keeps any error other than EPIPE.
 */
class Output {
  closed = false;
  failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly stream: NodeJS.WritableStream) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED' && this.failure === undefined) this.failure = e;
      this.close();
    });
    stream.on('close', () => this.close());
  }

  private close(): void {
    this.closed = true;
    const w = this.wake;
    this.wake = undefined;
    if (w !== undefined) w();
  }

  /** Writes a copy of `chunk` (callers reuse their buffers), waiting for 'drain' if needed. */
  async write(chunk: Uint8Array | string): Promise<void> {
    if (this.closed || chunk.length === 0) return;
    const ok = this.stream.write(typeof chunk === 'string' ? chunk : Buffer.from(chunk));
    if (ok || this.closed) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.stream.removeListener('drain', done);
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      this.stream.once('drain', done);
    });
  }
}

// --- summary ---------------------------------------------------------------------------------

interface FileSummary {
  path: string;
  /** pcap, pcapng or dat; null when the file could not be read. */
  format: LoadedKind | null;
  /** Packet records in a capture; 1 for a .dat file. */
  frames: number;
  /** UDP datagrams (messages, for split .dat files) given to the decoder. */
  datagrams: number;
  /** Frames that carried no UDP datagram, by reason (all reasons present). */
  skipped: Record<SkipReason, number>;
  /** Datagrams that reported an error (one stderr line each). */
  datagram_errors: number;
  /** Why the file could not be read (only then). */
  error?: string;
}

interface VersionSummary {
  datagrams: number;
  records: number;
  /** Records by template id (NetFlow v9 and IPFIX). */
  templates: Record<string, number>;
}

interface MissingSummary {
  scope: string;
  exporter: string;
  protocol: 'netflow_v9' | 'ipfix';
  domain: number;
  /** Template ids that data referred to and that never arrived, ascending. */
  template_ids: number[];
  /** Data sets still waiting in the pending buffer, and their bytes. */
  pending_sets: number;
  pending_bytes: number;
}

export interface DecodeSummary {
  files: FileSummary[];
  datagrams: number;
  /** Flow records decoded (all exporters). */
  records: number;
  /** sFlow interface counter records decoded. */
  counter_records: number;
  /** Address → protocol ('netflow_v5', 'netflow_v9', 'ipfix', 'sflow_v5', ...) → counts. */
  exporters: Record<string, Record<string, VersionSummary>>;
  /** First error reason of each datagram, counted (what stderr lists). */
  datagram_errors: Record<string, number>;
  /** Everything the decoder counted, by reason (errors, template events, pending, ...). */
  counters: Record<string, number>;
  /** Scopes with templates still missing or data still pending at the end. */
  templates_missing: MissingSummary[];
}

// --- the command -----------------------------------------------------------------------------

/** Runs `decode` with its arguments (after the command name); resolves to the exit code. */
export async function runDecode(argv: string[]): Promise<number> {
  let opts: DecodeOptions | null;
  try {
    opts = parseDecodeArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`flow-collector decode: ${e.message}\n\n${DECODE_USAGE}`);
    return 2;
  }
  if (opts === null) {
    process.stdout.write(DECODE_USAGE);
    return 0;
  }
  return decodeFiles(opts);
}

async function decodeFiles(opts: DecodeOptions): Promise<number> {
  const out = new Output(process.stdout);
  const err = new Output(process.stderr);
  let errText = '';
  const report = async (line: string): Promise<void> => {
    errText += line + '\n';
    if (errText.length >= ERR_FLUSH_BYTES) {
      const t = errText;
      errText = '';
      await err.write(t);
    }
  };

  const summaryMode = opts.summary;
  const json = opts.format === 'json';
  const ndjson = json && !summaryMode ? new NdjsonBatchWriter(FLUSH_BYTES + 64 * 1024) : undefined;
  const delimited = !json && !summaryMode ? new DelimitedBatchWriter(FLUSH_BYTES + 64 * 1024) : undefined;
  const counterEncoder = new CounterEncoder();

  // Per-datagram tallies, merged into the summary after each datagram.
  let dgRecords = 0;
  const dgTemplates = new Map<number, number>();
  let records = 0;
  let counterRecords = 0;

  const sink = {
    onFlow(rec: FlowRecord): void {
      records++;
      if (ndjson !== undefined) ndjson.append(rec);
      else if (delimited !== undefined) delimited.append(rec);
      else {
        dgRecords++;
        if (rec.exportVersion === 9 || rec.exportVersion === 10) {
          dgTemplates.set(rec.templateId, (dgTemplates.get(rec.templateId) ?? 0) + 1);
        }
      }
    },
  };
  const counterSink = {
    onCounters(rec: CounterRecord): void {
      counterRecords++;
      if (ndjson === undefined) return;
      // The counters encoder writes `{"time_received_ns":...}\n`; mark the line's kind in front.
      const line = counterEncoder.encodeJson(rec);
      const w = ndjson.writer;
      w.ensure(COUNTER_MARK.length + line.length);
      w.buf.set(COUNTER_MARK, w.pos);
      w.buf.set(line.subarray(1), w.pos + COUNTER_MARK.length);
      w.pos += COUNTER_MARK.length + line.length - 1;
    },
  };
  const decoder = new FlowDecoder({ sink, counterSink });

  // Template ids that data referred to before they were known, per scope, until learned.
  const missing = new Map<string, { exporter: string; protocol: 'netflow_v9' | 'ipfix'; domain: number; ids: Set<number> }>();
  decoder.templates.observe((scope, event, def) => {
    if (event === 'missing') {
      let m = missing.get(scope.key);
      if (m === undefined) {
        m = { exporter: scope.exporterKey, protocol: scope.protocol === 10 ? 'ipfix' : 'netflow_v9', domain: scope.domain, ids: new Set() };
        missing.set(scope.key, m);
      }
      m.ids.add(def.id);
    } else if (event === 'learned' || event === 'changed') {
      missing.get(scope.key)?.ids.delete(def.id);
    }
  });

  const exporters = new ExporterTable();
  const datExporter = new Exporter(opts.exporter, 0);
  const nowMs = Date.now();
  const datSec = Math.floor(nowMs / 1000);
  const datNsec = (nowMs % 1000) * 1e6;

  const files: FileSummary[] = [];
  const byExporter: Record<string, Record<string, VersionSummary>> = {};
  const datagramErrors: Record<string, number> = {};
  let datagrams = 0;
  let exitCode = 0;

  const flush = async (): Promise<void> => {
    if (ndjson !== undefined && ndjson.byteLength > 0) await out.write(ndjson.finish());
    else if (delimited !== undefined && delimited.byteLength > 0) await out.write(delimited.finish());
  };

  files: for (const path of opts.files) {
    let loaded;
    try {
      loaded = await loadCaptureFile(path);
    } catch (e) {
      const msg = readError(e);
      await report(`${path}: cannot read: ${msg}`);
      files.push({ path, format: null, frames: 0, datagrams: 0, skipped: emptySkipped(), datagram_errors: 0, error: msg });
      exitCode = 1;
      continue;
    }
    const isDat = loaded.format === 'dat';
    let list: UdpDatagram[] = loaded.datagrams;
    if (isDat && list.length === 1) {
      const parts = splitConcatenatedExports(list[0]!.payload);
      if (parts.length > 1) list = parts.map((payload, index) => ({ ...list[0]!, payload, index }));
    }
    const fs: FileSummary = {
      path,
      format: loaded.format,
      frames: loaded.frames,
      datagrams: list.length,
      skipped: loaded.skipped,
      datagram_errors: 0,
    };
    files.push(fs);
    for (const d of list) {
      const exporter = isDat ? datExporter : exporters.get(d.srcAddr, d.srcPort);
      const reason = decoder.decode(d.payload, 0, d.payload.length, exporter, isDat ? datSec : d.tsSec, isDat ? datNsec : d.tsNsec);
      datagrams++;
      if (reason !== undefined) {
        fs.datagram_errors++;
        datagramErrors[reason] = (datagramErrors[reason] ?? 0) + 1;
        await report(`${path}:${d.index}: ${reason}`);
      }
      if (summaryMode) {
        const byVersion = (byExporter[exporter.key] ??= {});
        const v = (byVersion[decoder.lastProtocol] ??= { datagrams: 0, records: 0, templates: {} });
        v.datagrams++;
        if (dgRecords > 0) {
          v.records += dgRecords;
          dgRecords = 0;
          for (const [id, n] of dgTemplates) v.templates[id] = (v.templates[id] ?? 0) + n;
          dgTemplates.clear();
        }
      } else if ((ndjson?.byteLength ?? delimited!.byteLength) >= FLUSH_BYTES) {
        await flush();
        if (out.closed) break files;
      }
    }
  }
  await flush();

  if (summaryMode && !out.closed) {
    const summary: DecodeSummary = {
      files,
      datagrams,
      records,
      counter_records: counterRecords,
      exporters: sortKeys(byExporter),
      datagram_errors: sortKeys(datagramErrors),
      counters: decoder.counters.snapshot(),
      templates_missing: missingSummary(decoder, missing),
    };
    for (const e of Object.values(summary.exporters)) {
      for (const v of Object.values(e)) v.templates = sortNumericKeys(v.templates);
    }
    await out.write(JSON.stringify(summary, null, 2) + '\n');
  }
  if (!summaryMode && !json && counterRecords > 0 && !out.closed) {
    await report(`note: ${counterRecords} sFlow counter records not written (flowpb carries flows only; use --format json)`);
  }
  if (errText.length > 0) await err.write(errText);
  if (out.failure !== undefined) {
    await err.write(`flow-collector decode: cannot write to stdout: ${out.failure.message}\n`);
    return 1;
  }
  return exitCode;
}

const COUNTER_MARK = Buffer.from('{"record_type":"interface_counters",', 'latin1');

function missingSummary(
  decoder: FlowDecoder,
  missing: Map<string, { exporter: string; protocol: 'netflow_v9' | 'ipfix'; domain: number; ids: Set<number> }>,
): MissingSummary[] {
  const out: MissingSummary[] = [];
  const seen = new Set<string>();
  for (const scope of decoder.templates.scopes()) {
    seen.add(scope.key);
    const ids = missing.get(scope.key)?.ids;
    if ((ids === undefined || ids.size === 0) && scope.pending.size === 0) continue;
    out.push({
      scope: scope.key,
      exporter: scope.exporterKey,
      protocol: scope.protocol === 10 ? 'ipfix' : 'netflow_v9',
      domain: scope.domain,
      template_ids: ids !== undefined ? [...ids].sort((a, b) => a - b) : [],
      pending_sets: scope.pending.size,
      pending_bytes: scope.pending.byteSize,
    });
  }
  // Scopes evicted by the scope limit keep their missing ids (their pending data was dropped).
  for (const [key, m] of missing) {
    if (seen.has(key) || m.ids.size === 0) continue;
    out.push({ scope: key, exporter: m.exporter, protocol: m.protocol, domain: m.domain, template_ids: [...m.ids].sort((a, b) => a - b), pending_sets: 0, pending_bytes: 0 });
  }
  return out.sort((a, b) => (a.scope < b.scope ? -1 : a.scope > b.scope ? 1 : 0));
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  const r: Record<string, T> = {};
  for (const k of Object.keys(o).sort()) r[k] = o[k]!;
  return r;
}

function sortNumericKeys<T>(o: Record<string, T>): Record<string, T> {
  // Integer-like keys enumerate in ascending numeric order already; rebuild to be explicit.
  const r: Record<string, T> = {};
  for (const k of Object.keys(o).sort((a, b) => Number(a) - Number(b))) r[k] = o[k]!;
  return r;
}

function readError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'no such file';
    if (code === 'EISDIR') return 'is a directory';
    if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
    if (e.name === 'CaptureFormatError') {
      // Its message starts with the file name we already print.
      const m = (e as Error & { reason?: string; offset?: number }).reason;
      const off = (e as Error & { offset?: number }).offset;
      if (m !== undefined) return `at offset ${off ?? 0}: ${m}`;
    }
    return e.message;
  }
  return String(e);
}
