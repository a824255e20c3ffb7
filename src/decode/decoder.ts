/**
 * FlowDecoder: the one entry point for a datagram of any supported protocol. Recognises the
 * protocol from the payload (NetFlow v1/v5/v7/v9, IPFIX, sFlow v5), keeps template state, and
 * hands one reused FlowRecord per flow to the sink. Never throws on bad input: every problem is
 * counted by reason in `counters`, and `decode` returns the first reason for the caller's log.
 */
import { FlowRecord, type FlowSink } from './record.js';
import { Counters, type Counter } from './stats.js';
import type { Exporter } from './exporter.js';
import { u16, u32 } from './read.js';
import { LegacyDecoder } from './legacy.js';
import { ExportDecoder } from './export.js';
import { compileTemplate, type CompiledTemplate } from './compile.js';
import { SflowDecoder, type CounterSink } from './sflow/mod.js';
import { TemplateCache, resolveLimits, type LearnResult, type OptionsRow, type TemplateDef, type TemplateLimits, type TemplateScope } from '../templates/mod.js';
import { Sampling, resolveSampling, type SamplingConfig } from './sampling.js';
import type { FrameSink } from './transcode.js';
import { counted } from '../counting.js';

export interface FlowDecoderOptions {
  /** Receives every decoded flow (synchronously; the record is reused). */
  sink: FlowSink;
  /** Receives sFlow interface counter records. */
  counterSink?: CounterSink;
  counters?: Counters;
  /** Template limits (snake_case or camelCase keys); validated, defaults for the rest. */
  limits?: Partial<TemplateLimits> | Record<string, unknown>;
  /** An existing template cache to share (e.g. several decoders over one store). */
  templates?: TemplateCache<CompiledTemplate>;
  /** Per-exporter default / override sampling rates and renormalisation (validated). */
  sampling?: Partial<SamplingConfig> | Record<string, unknown>;
  /**
   * Fast path for flowpb outputs: NetFlow v9 / IPFIX data records are transcoded per template
   * straight into these length-delimited flowpb.FlowMessage frames (the same bytes
   * writeFlowMessageDelimited writes for the record `sink` would get), and `sink` receives only
   * the other records (NetFlow v1/v5/v7, sFlow, layouts without a transcoder). A sink that
   * writes them to the same frames keeps the order.
   */
  frames?: FrameSink;
  /**
   * With `frames`: data sets a layout takes on the FlowRecord path before its transcoder is
   * compiled (default 3: one-off layouts never compile one; see ExportDecoder.transcodeAfter).
   */
  transcodeAfter?: number;
}

export type DecodedProtocol = 'netflow_v1' | 'netflow_v5' | 'netflow_v7' | 'netflow_v9' | 'ipfix' | 'sflow_v5' | 'unknown';

export class FlowDecoder {
  readonly counters: Counters;
  /** Hot counter cell ('datagrams'). */
  private readonly datagrams: Counter;
  readonly templates: TemplateCache<CompiledTemplate>;
  private readonly rec = new FlowRecord();
  private readonly legacy: LegacyDecoder;
  private readonly export: ExportDecoder;
  private readonly sflow: SflowDecoder;
  /** Protocol of the last datagram decoded. */
  lastProtocol: DecodedProtocol = 'unknown';
  readonly sampling: Sampling;
  private exporter: Exporter | undefined;
  private optionsObserver: ((scope: TemplateScope<CompiledTemplate>, row: OptionsRow, changed: boolean) => void) | undefined;
  private optionsEveryRow = false;

  constructor(opts: FlowDecoderOptions) {
    this.counters = opts.counters ?? new Counters();
    this.datagrams = this.counters.cell('datagrams');
    this.templates = opts.templates ?? new TemplateCache<CompiledTemplate>(resolveLimits(opts.limits as Record<string, unknown>), this.counters, compileTemplate);
    this.sampling = new Sampling(resolveSampling(opts.sampling));
    // Every protocol's flows pass through here: configured rates, renormalisation, then the sink.
    const user = opts.sink;
    const sampling = this.sampling;
    const sink = {
      onFlow: (rec: FlowRecord) => {
        sampling.apply(rec, this.exporter!);
        user.onFlow(rec);
      },
    };
    this.legacy = new LegacyDecoder(this.rec, sink, this.counters);
    this.export = new ExportDecoder(this.rec, sink, this.counters, this.templates);
    this.export.flowHook = (rec, scope) => sampling.fromScope(rec, scope);
    this.export.optionsHook = (scope, row, changed) => {
      sampling.onOptions(scope, row);
      const o = this.optionsObserver;
      if (o !== undefined && (changed || this.optionsEveryRow)) o(scope, row, changed);
    };
    this.sflow = new SflowDecoder({ counters: this.counters, flows: sink, counterSink: opts.counterSink });
    if (opts.frames !== undefined) {
      this.export.frames = opts.frames;
      this.export.transcodeAfter = opts.transcodeAfter ?? 3;
      this.export.prepareFrames = (x, scope, exporter) => sampling.prepare(x, scope, exporter);
    }
  }

  /**
   * With `frames`: v9 / IPFIX records transcoded (fused), and records that took the reference
   * path (layouts the transcoder does not cover).
   */
  get transcoded(): { readonly fused: number; readonly reference: number } {
    const t = this.export.transcoded;
    return { fused: counted(t.fused), reference: counted(t.reference) };
  }

  /**
   * Decodes one datagram. Returns undefined when everything in it decoded, else the first
   * error reason (also counted). Never throws.
   */
  decode(buf: Uint8Array, off: number, len: number, exporter: Exporter, recvSec: number, recvNsec: number): string | undefined {
    this.datagrams.v++;
    this.exporter = exporter;
    try {
      if (len < 4) {
        this.lastProtocol = 'unknown';
        this.counters.inc('datagram.too_short');
        return 'datagram.too_short';
      }
      const version = u16(buf, off);
      switch (version) {
        case 9:
        case 10:
          this.lastProtocol = version === 9 ? 'netflow_v9' : 'ipfix';
          return this.export.decode(version, buf, off, len, exporter, recvSec, recvNsec);
        case 5:
        case 1:
        case 7:
          this.lastProtocol = version === 5 ? 'netflow_v5' : version === 1 ? 'netflow_v1' : 'netflow_v7';
          return this.legacy.decode(version, buf, off, len, exporter, recvSec, recvNsec);
        case 0:
          if (len >= 8 && u32(buf, off) === 5) {
            this.lastProtocol = 'sflow_v5';
            return this.sflow.decode(buf, off, len, exporter, recvSec, recvNsec);
          }
          this.lastProtocol = 'unknown';
          this.counters.inc('datagram.unknown_version');
          return 'datagram.unknown_version';
        default:
          this.lastProtocol = 'unknown';
          this.counters.inc('datagram.unknown_version');
          return 'datagram.unknown_version';
      }
    } catch (e) {
      // A decoder bug must not take the collector down; count it and move on.
      this.counters.inc('decode.exception');
      if (process.env['FLOW_COLLECTOR_DEBUG']) console.error(e);
      return 'decode.exception';
    }
  }


  /**
   * Called with every options record decoded from the wire that is new or differs from the one
   * it replaces (after it is applied): exporters repeat unchanged sampler and interface tables.
   * With `everyRow`, unchanged rows too (`changed` false): a shared store keeping copies fresh.
   */
  observeOptions(fn: (scope: TemplateScope<CompiledTemplate>, row: OptionsRow, changed: boolean) => void, everyRow = false): void {
    this.optionsObserver = fn;
    this.optionsEveryRow = everyRow;
  }

  /**
   * A template learned elsewhere (another worker or instance): learned into the exporter's
   * scope, and data that waited for it in the pending buffer is decoded now, to the sink.
   */
  applyTemplate(exporter: Exporter, domain: number, def: TemplateDef, nowMs: number): LearnResult {
    const scope = this.templates.scope(exporter, domain, def.protocol);
    this.exporter = exporter;
    return this.export.learnShared(scope, def, exporter, nowMs);
  }

  /** A template withdrawn elsewhere. False when this decoder did not know it. */
  applyWithdrawal(exporter: Exporter, domain: number, protocol: 9 | 10, id: number): boolean {
    const scope = this.templates.find(this.templates.exporterKey(exporter), domain, protocol);
    if (scope === undefined || scope.get(id) === undefined) return false;
    return this.templates.withdraw(scope, id);
  }

  /** Options data (sampler, interface, VRF tables; system init time) decoded elsewhere. */
  applyOptions(exporter: Exporter, domain: number, protocol: 9 | 10, row: OptionsRow): void {
    const scope = this.templates.scope(exporter, domain, protocol);
    this.templates.keepOptions(scope, row);
    const init = row.values['systemInitTimeMilliseconds'];
    if (typeof init === 'number') scope.systemInitMs = init;
    this.sampling.onOptions(scope, row);
  }

  /** Expires pending data older than the age limit; call periodically. */
  sweep(nowMs: number): void {
    this.templates.sweep(nowMs);
  }
}
