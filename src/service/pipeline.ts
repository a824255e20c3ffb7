/**
 * One worker's whole flow path: its own SO_REUSEPORT sockets on every listener, one decoder,
 * and its own outputs. Nothing in here is shared with another thread except through the
 * template store (template state) and the counters snapshot.
 */
import { getHeapStatistics } from 'node:v8';
import { claimFrameArena, releaseFrameArena, FlowDecoder, Counters, FlowType, type Exporter, type FlowRecord, type FlowSink, type CompiledTemplate, type FrameSink } from '../decode/mod.js';
import { ByteWriter, type DelimitedBatchWriter } from '../encode/mod.js';
import { openSource, type Batch, type BatchSource } from '../ingest/mod.js';
import { ExporterIntern } from './exporters.js';
import { LocalTemplateStore, type ScopeRef, type TemplateScope, type TemplateStore, type StoreChange } from '../templates/mod.js';
import { FileChunkWriter, NatsPublisher, PortChunkWriter, StreamOutput, type ChunkWriter, type FlowOutput, type StreamFormat } from '../output/mod.js';
import { warmUpSettled, type WarmupResult } from './warmup.js';
import { TickSchedule } from './ticks.js';
import { kvRefreshMs, listenerLimits, type CollectorConfig, type ListenerConfig } from '../config/mod.js';
import type { ErrorSample, ListenerBound, ListenerSnapshot, WorkerHeap, WorkerInit, WorkerSnapshot } from './messages.js';
import { COUNTER_ZERO, counted } from '../counting.js';

/** Flow type number -> protocol label of flow_collector_flows_decoded_total. */
const FLOW_TYPE_NAMES: Record<number, string> = {
  [FlowType.SFLOW_5]: 'sflow',
  [FlowType.NETFLOW_V5]: 'netflow_v5',
  [FlowType.NETFLOW_V9]: 'netflow_v9',
  [FlowType.IPFIX]: 'ipfix',
};

const enum Proto {
  Unknown = 0,
  Netflow = 1,
  Ipfix = 2,
  Sflow = 3,
}

function protocolOf(buf: Uint8Array, off: number, len: number): Proto {
  if (len < 4) return Proto.Unknown;
  const v = (buf[off]! << 8) | buf[off + 1]!;
  if (v === 9 || v === 5 || v === 1 || v === 7) return Proto.Netflow;
  if (v === 10) return Proto.Ipfix;
  if (v === 0 && len >= 8 && buf[off + 2] === 0 && buf[off + 3] === 5) return Proto.Sflow;
  return Proto.Unknown;
}

const WANT: Record<string, Proto> = { netflow: Proto.Netflow, ipfix: Proto.Ipfix, sflow: Proto.Sflow };

/**
 * The outputs' tick period, ms (see ticks.ts): with a quiet exporter its flows wait in an
 * output's partial chunk at most about this long after the addon's idle signal (which comes one
 * read delay after the last datagrams at most), or on the dgram path this long plus the longest
 * read delay plus 20 ms.
 */
const TICK_MS = 100;

interface ListenerState {
  cfg: ListenerConfig;
  decoder: FlowDecoder;
  want: Proto;
  source: BatchSource | undefined;
  wrongProtocol: number;
  pausedDrops: number;
}

/** Fans every decoded flow out to the outputs and counts it by protocol. */
class Fanout implements FlowSink {
  readonly byType = new Float64Array(16);
  constructor(private readonly outputs: FlowOutput[]) {}
  onFlow(rec: FlowRecord): void {
    this.byType[rec.type & 15]!++;
    const outs = this.outputs;
    for (let i = 0; i < outs.length; i++) outs[i]!.onFlow(rec);
  }
}

/**
 * The fast path's sink, when every output takes flowpb frames: the transcoder writes into the
 * batch of one stream output (or a scratch buffer when there is none), the other outputs get
 * each data set's frames through onFrames; counted by protocol like Fanout.
 */
class FrameFanout implements FrameSink {
  readonly writer: ByteWriter;
  constructor(
    private readonly byType: Float64Array,
    private readonly direct: DelimitedBatchWriter | undefined,
    private readonly others: FlowOutput[],
  ) {
    this.writer = direct !== undefined ? direct.writer : new ByteWriter(64 * 1024);
  }
  framesAdded(type: number, n: number, from: number, sampler: Uint8Array): void {
    this.byType[type & 15]! += n;
    const w = this.writer;
    const os = this.others;
    for (let i = 0; i < os.length; i++) os[i]!.onFrames!(w.buf, from, w.pos, n, type, sampler);
    if (this.direct !== undefined) this.direct.added(n);
    else w.reset(); // back in the frame arena too, if a frame made it grow out
  }
}

/**
 * The fast path's frame sink, when every output takes flowpb frames (and the environment does
 * not turn it off with FLOW_COLLECTOR_TRANSCODE=0, for comparisons).
 */
function frameSink(outputs: readonly FlowOutput[], byType: Float64Array): FrameFanout | undefined {
  if (process.env['FLOW_COLLECTOR_TRANSCODE'] === '0' || outputs.length === 0) return undefined;
  for (const o of outputs) if (o.takesFrames?.() !== true || o.onFrames === undefined) return undefined;
  const k = outputs.findIndex((o) => o.frames?.() !== undefined);
  const direct = k >= 0 ? outputs[k]!.frames!() : undefined;
  return new FrameFanout(byType, direct, outputs.filter((_, i) => i !== k));
}

/** Where the warm-up's outputs write: nowhere, at once. */
const DISCARD: ChunkWriter = {
  write: (_chunks, done) => done(null),
  ready: () => true,
  reopen: () => {},
  close: async () => {},
};

export interface PipelineHooks {
  log(level: 'warn' | 'error' | 'info', key: string, msg: string, fields?: Record<string, unknown>): void;
}

export class Pipeline {
  readonly counters = new Counters();
  readonly outputs: FlowOutput[] = [];
  readonly store: TemplateStore;
  private readonly fanout: Fanout;
  /** The fast path's sink (undefined: an output takes records); its writer gets the frame arena at open(). */
  private readonly frames: FrameFanout | undefined;
  private readonly listeners: ListenerState[];
  private readonly exporters = new ExporterIntern();
  private readonly errors = new Map<string, ErrorSample>();
  private blockedOutputs = 0;
  private applying = false;
  /** The warm-up is running: the store observers of its decoders do nothing (observe). */
  private warming = false;
  /**
   * What this worker learned from the wire, published to the store at the end of each batch:
   * options rows first, then templates, withdrawals and requests in the order they happened.
   * A datagram carries its templates before its options data, but a worker whose data waited
   * for those templates replays it the moment a template arrives: the sampler table must be
   * there by then, or the replayed flows get no sampling rate.
   */
  private readonly outOptions: (() => void)[] = [];
  private readonly outTemplates: (() => void)[] = [];
  private stopped = false;
  /** The outputs' ticks, from open() on. */
  private ticks: TickSchedule | undefined;
  private readonly kvShared: boolean;
  /** Flows decoded from pending data thanks to a template another member delivered. */
  private restoredFlows = 0;
  private readonly byName: Map<string, ListenerState>;

  constructor(
    private readonly init: WorkerInit,
    private readonly hooks: PipelineHooks,
  ) {
    const cfg = init.config;
    for (const [k, o] of cfg.outputs.entries()) {
      if (o.type === 'nats') {
        if (cfg.nats === undefined) throw new Error(`outputs[${k}]: a nats output needs the nats section`);
        const name = cfg.outputs.filter((x) => x.type === 'nats').length > 1 ? `nats:${k}` : 'nats';
        const out = new NatsPublisher({
          output: o,
          nats: cfg.nats,
          listeners: cfg.listeners,
          maxBytes: cfg.queue.max_bytes,
          policy: cfg.queue.drop_policy,
          worker: init.index,
          name,
          log: (level, key, msg, fields) => hooks.log(level, `${name}:${key}`, `${name}: ${msg}`, fields),
        });
        out.onBackpressure((blocked) => this.backpressure(blocked));
        this.outputs.push(out);
        continue;
      }
      let writer: ChunkWriter;
      if (o.type === 'file') {
        writer = new FileChunkWriter(o.path, (err) => hooks.log('warn', `reopen:${o.path}`, `cannot reopen ${o.path}; still writing to the old file`, { error: err.message }));
      } else {
        if (init.stdoutPort === null) throw new Error('stdout output without a port to the main thread');
        writer = new PortChunkWriter(init.stdoutPort);
      }
      const name = o.type === 'file' ? `file:${o.path}` : 'stdout';
      const out = new StreamOutput({
        name,
        format: o.format,
        writer,
        maxBytes: cfg.queue.max_bytes,
        policy: cfg.queue.drop_policy,
        onError: (err) => hooks.log('warn', `write:${name}`, `output ${name}: write failed; flows dropped (write_error)`, { error: err.message }),
      });
      out.onBackpressure((blocked) => this.backpressure(blocked));
      this.outputs.push(out);
    }
    this.fanout = new Fanout(this.outputs);
    // Every output writes flowpb frames: v9 / IPFIX records are transcoded straight into them.
    const frames = frameSink(this.outputs, this.fanout.byType);
    this.frames = frames;
    // One decoder per listener: each keeps its own template state within its own limits.
    this.listeners = cfg.listeners.map((l) => ({
      cfg: l,
      decoder: this.newDecoder(l, this.fanout, this.counters, frames),
      want: l.protocol === 'auto' ? Proto.Unknown : WANT[l.protocol]!,
      source: undefined,
      wrongProtocol: COUNTER_ZERO,
      pausedDrops: COUNTER_ZERO,
    }));
    // With the KV store, the main thread passes refreshes on so live templates stay in the bucket.
    this.kvShared = cfg.template_store.backend === 'nats_kv';
    this.store = new LocalTemplateStore(init.storeChannel, `worker-${init.index}`, this.kvShared ? kvRefreshMs(cfg.template_store) : 0);
    this.byName = new Map(this.listeners.map((l) => [l.cfg.name, l]));
    this.connectStore();
  }

  /**
   * Runs synthetic datagrams of every protocol through two throwaway decoders and throwaway outputs
   * of this worker's formats (warmup.ts), then short passes until V8's background compiler has
   * installed what it optimised (at most 2 s more; none when `rounds` is given, for tests). Call
   * before open(): nothing of it reaches the real template state, counters, store or outputs.
   */
  async warmUp(rounds?: number): Promise<WarmupResult & { byType: Record<string, number> }> {
    const t0 = performance.now();
    const cfg = this.init.config;
    const formats = new Set<StreamFormat>();
    for (const o of cfg.outputs) formats.add(o.format === 'json' ? 'json' : 'flowpb');
    const outs = [...formats].map(
      // A small first buffer: it grows during the warm-up, as the real outputs' do on their first batches.
      (format) => new StreamOutput({ name: 'warm-up', format, writer: DISCARD, maxBytes: 4 << 20, policy: 'drop_newest', initialBytes: 1024 }),
    );
    const fan = new Fanout(outs);
    // The fast path too, when the real outputs take it: the same transcoder code gets warm (a
    // worker's decoders share their compiled layouts, decode/layouts.ts). Two decoders, a round
    // each in turn (warmUp).
    const frames = frameSink(outs, fan.byType);
    // The warm-up writes in the frame arena, so that the transcoders' arena form gets warm too;
    // the real sink takes it at open().
    if (frames !== undefined) claimFrameArena(frames.writer);
    const flush = () => {
      for (const o of outs) o.flush();
    };
    const targets = [0, 1].map(() => {
      const dec = this.newDecoder(cfg.listeners[0]!, fan, new Counters(), frames);
      this.observe(dec, 'warm-up');
      return { decode: (buf: Uint8Array, off: number, len: number, exporter: Exporter, sec: number, nsec: number) => dec.decode(buf, off, len, exporter, sec, nsec), flush };
    });
    this.warming = true;
    let r: WarmupResult;
    try {
      r = await warmUpSettled(targets, rounds === undefined ? 2000 : 0, rounds);
    } finally {
      this.warming = false;
      if (frames !== undefined) releaseFrameArena(frames.writer);
    }
    for (const o of outs) o.tick();
    const byType: Record<string, number> = {};
    fan.byType.forEach((n, t) => {
      if (n > 0) byType[FLOW_TYPE_NAMES[t] ?? `type_${t}`] = n;
    });
    return { ...r, ms: performance.now() - t0, byType };
  }

  /** A decoder as every listener gets one (the warm-up's too: the same code paths). */
  private newDecoder(l: ListenerConfig, sink: FlowSink, counters: Counters, frames: FrameSink | undefined): FlowDecoder {
    const cfg = this.init.config;
    return new FlowDecoder({ sink, counters, limits: listenerLimits(cfg, l), sampling: cfg.sampling, ...(frames !== undefined ? { frames } : {}) });
  }

  /** Binds every listener's sockets; throws the first bind error (after closing the rest). */
  async open(): Promise<ListenerBound[]> {
    // One writer in a worker has the frame arena: this pipeline's, unless another has it (tests).
    if (this.frames !== undefined) claimFrameArena(this.frames.writer);
    // Before the first socket: its batches end with a tick check. Until every source is known
    // to signal idle (then useIdleSignals), the timer is pushed back after each tick, its slack
    // covering the longest read delay, so under steady traffic a batch comes before it fires.
    let delayMs = 0;
    for (const l of this.listeners) delayMs = Math.max(delayMs, l.cfg.max_read_delay_us / 1000);
    const ticks = (this.ticks = new TickSchedule(() => this.tick(), TICK_MS, delayMs + 20));
    const bound: ListenerBound[] = [];
    let idleSignals = true;
    try {
      for (let k = 0; k < this.listeners.length; k++) {
        const l = this.listeners[k]!;
        const c = l.cfg;
        const src = await openSource({
          host: c.address,
          port: this.init.ports[k]!,
          sockets: c.sockets_per_worker,
          reusePort: true,
          rcvbuf: c.receive_buffer_bytes,
          batchSize: c.batch_size,
          pacingUs: c.max_read_delay_us,
          adaptivePacing: true,
          forceDgram: this.init.forceDgram,
          onBatch: (b) => this.onBatch(l, b),
          onIdle: () => ticks.idle(),
          onError: (err) => this.hooks.log('warn', `recv:${c.name}`, `listener ${c.name}: receive error`, { error: err.message }),
          logger: () => {},
        });
        l.source = src;
        if (!src.signalsIdle) idleSignals = false;
        bound.push({ name: c.name, address: src.address, port: src.port, sockets: src.socketCount, path: src.path, reason: src.reason, rcvbuf: src.stats().rcvbuf });
      }
    } catch (err) {
      ticks.close();
      await this.closeSources();
      throw err;
    }
    if (idleSignals) ticks.useIdleSignals();
    return bound;
  }

  spread(listener: number, mode: 'random' | 'roundrobin' | 'cpu', groupSize: number): void {
    this.listeners[listener]?.source?.spreadGroup(mode, groupSize);
  }

  private onBatch(l: ListenerState, b: Batch): void {
    if (this.stopped) return;
    const src = l.source;
    if (src !== undefined && src.paused) {
      // Only the dgram path gets here: Node keeps reading while the outputs are full.
      l.pausedDrops += b.count;
      return;
    }
    const dec = l.decoder;
    const data = b.data;
    this.sourceIs(l);
    const slot = b.slotSize;
    const want = l.want;
    for (let i = 0; i < b.count; i++) {
      const off = i * slot;
      const len = b.lengths[i]!;
      if (want !== Proto.Unknown && protocolOf(data, off, len) !== want) {
        l.wrongProtocol++;
        continue;
      }
      const exporter = this.exporters.of(b, i);
      const err = dec.decode(data, off, len, exporter, b.tsSec[i]!, b.tsNsec[i]!);
      if (err !== undefined) this.sampleError(err, exporter, l.cfg.name);
    }
    const outs = this.outputs;
    this.publish();
    for (let i = 0; i < outs.length; i++) outs[i]!.flush();
    this.ticks!.afterBatch();
  }

  /** Tells the outputs whose flows follow (per batch, never per flow). */
  private sourceIs(l: ListenerState): void {
    const k = this.listeners.indexOf(l);
    const outs = this.outputs;
    for (let i = 0; i < outs.length; i++) outs[i]!.source?.(k);
  }

  private sampleError(reason: string, exporter: Exporter, listener: string): void {
    const s = this.errors.get(reason);
    if (s !== undefined) s.count++;
    else if (this.errors.size < 256) this.errors.set(reason, { reason, exporter: exporter.key, listener, count: 1 });
  }

  private backpressure(blocked: boolean): void {
    this.blockedOutputs += blocked ? 1 : -1;
    const pause = this.blockedOutputs > 0;
    for (const l of this.listeners) {
      if (pause) l.source?.pause();
      else l.source?.resume();
    }
    // A paused source sends no idle signal: the timer ticks meanwhile.
    if (pause) this.ticks?.hold();
  }

  /** The outputs' ticks (run by this.ticks); whether an output still holds flows. */
  private tick(): boolean {
    this.publish();
    let held = false;
    for (const o of this.outputs) if (o.tick()) held = true;
    return held;
  }

  /** Every second: expire old pending data. */
  sweep(now: number): void {
    for (const l of this.listeners) l.decoder.sweep(now);
  }

  reopen(): void {
    for (const o of this.outputs) o.reopen();
  }

  /** v9 / IPFIX records on the fast path (transcoded) and on the FlowRecord path, while it is on. */
  transcoded(): { fused: number; reference: number } {
    let fused = 0;
    let reference = 0;
    for (const l of this.listeners) {
      fused += l.decoder.transcoded.fused;
      reference += l.decoder.transcoded.reference;
    }
    return { fused, reference };
  }

  snapshot(): WorkerSnapshot {
    const flows: Record<string, number> = {};
    const bt = this.fanout.byType;
    for (let t = 0; t < bt.length; t++) {
      if (bt[t]! > 0) flows[FLOW_TYPE_NAMES[t] ?? `type_${t}`] = bt[t]!;
    }
    const listeners: ListenerSnapshot[] = this.listeners.map((l) => {
      const st = l.source?.stats();
      return {
        name: l.cfg.name,
        datagrams: st?.datagrams ?? 0,
        bytes: st?.bytes ?? 0,
        truncated: st?.truncated ?? 0,
        wrongProtocol: counted(l.wrongProtocol),
        pausedDrops: counted(l.pausedDrops),
        kernelDrops: st?.sockets.map((s) => s.kernelDrops) ?? [],
        rcvbuf: st?.rcvbuf ?? 0,
        paused: l.source?.paused ?? false,
      };
    });
    const errors = [...this.errors.values()];
    this.errors.clear();
    let scopes = 0;
    let pendingBytes = 0;
    for (const l of this.listeners) {
      scopes += l.decoder.templates.scopeCount;
      pendingBytes += l.decoder.templates.pendingBytes;
    }
    return {
      index: this.init.index,
      at: Date.now(),
      counters: this.counters.snapshot(),
      flows,
      listeners,
      outputs: this.outputs.map((o) => ({ ...o.stats(), name: o.name, ready: o.ready() })),
      scopes,
      pendingBytes,
      heap: heapNow(),
      store: { ...this.store.stats(), restored_flows: this.restoredFlows },
      errors,
    };
  }

  /**
   * Reads and decodes what the kernel already queued on the sockets (for at most half the time
   * left), stops reading, drops (and counts) data still waiting for templates, then delivers
   * what was decoded until the deadline.
   */
  async stop(deadline: number): Promise<{ delivered: number; dropped: number }> {
    // Closing a socket discards its queue uncounted: datagrams that arrived before the stop are
    // read first, so each one sent is decoded or counted as a kernel drop.
    const readBy = Date.now() + Math.max(0, deadline - Date.now()) / 2;
    await Promise.all(this.listeners.map((l) => l.source?.readQueued(readBy)));
    await this.closeSources();
    this.stopped = true;
    for (const l of this.listeners) for (const s of l.decoder.templates.scopes()) s.pending.clear('pending.dropped.shutdown');
    let delivered = 0;
    let dropped = 0;
    const results = await Promise.all(this.outputs.map((o) => o.drain(deadline)));
    for (const r of results) {
      delivered += r.delivered;
      dropped += r.dropped;
    }
    return { delivered, dropped };
  }

  async close(): Promise<void> {
    this.ticks?.close();
    await this.closeSources();
    await Promise.all(this.outputs.map((o) => o.close()));
    if (this.frames !== undefined) releaseFrameArena(this.frames.writer);
    await this.store.close();
  }

  private async closeSources(): Promise<void> {
    await Promise.all(this.listeners.map((l) => l.source?.close()));
  }

  // ---- template sharing ----

  private scopeRef(listener: string, s: TemplateScope<CompiledTemplate>): ScopeRef {
    return { listener, protocol: s.protocol, exporter: s.exporterKey, port: s.port, domain: s.domain };
  }

  private connectStore(): void {
    const store = this.store;
    for (const l of this.listeners) this.observe(l.decoder, l.cfg.name);
    store.subscribe(
      (c) => this.applyChange(c),
      (s, id) => {
        const cache = this.byName.get(s.listener)?.decoder.templates;
        if (cache === undefined) return undefined;
        const ek = cache.limits.scopeIncludesPort ? `${s.exporter}|${s.port}` : s.exporter;
        return cache.find(ek, s.domain, s.protocol)?.get(id)?.def;
      },
    );
  }

  /**
   * Passes what a decoder learns (templates, options rows) to the store, for the listener `name`.
   * The warm-up's decoders get these observers too, made here in the same way, so that the
   * decoders' calls to them are warm when real data comes (without them the first real options row
   * deoptimised optionsSet, and setting the observer fields after the warm-up deoptimised
   * TemplateCache.learn); during the warm-up they return at once. (The first real template still
   * deoptimises templateSet once: the observer's code past that return had never run.)
   */
  private observe(dec: FlowDecoder, name: string): void {
    const store = this.store;
    dec.templates.observe((scope, event, def) => {
      if (event === 'evicted' || this.applying || this.warming) return;
      if (event === 'refreshed') {
        if (this.kvShared) store.refreshed?.(this.scopeRef(name, scope), def, Date.now());
        return;
      }
      const ref = this.scopeRef(name, scope);
      if (event === 'learned' || event === 'changed') {
        const at = Date.now();
        this.outTemplates.push(() => store.learned(ref, def, at));
      } else if (event === 'withdrawn') this.outTemplates.push(() => store.withdrawn(ref, def.id));
      else if (event === 'missing') store.missing(ref, def.id); // rate-limited by the store; order does not matter
    });
    dec.observeOptions((scope, row, changed) => {
      if (this.applying || this.warming) return;
      const ref = this.scopeRef(name, scope);
      if (changed) this.outOptions.push(() => store.options(ref, row));
      else store.optionsRefreshed?.(ref, row);
    }, this.kvShared);
  }

  /** Publishes what was learned since the last call: options rows first (see outOptions). */
  private publish(): void {
    if (this.outOptions.length === 0 && this.outTemplates.length === 0) return;
    for (const f of this.outOptions) f();
    for (const f of this.outTemplates) f();
    this.outOptions.length = 0;
    this.outTemplates.length = 0;
  }

  private flowCount(): number {
    let n = 0;
    const bt = this.fanout.byType;
    for (let t = 0; t < bt.length; t++) n += bt[t]!;
    return n;
  }

  private applyChange(c: StoreChange): void {
    const l = this.byName.get(c.scope.listener);
    if (this.stopped || l === undefined) return;
    const dec = l.decoder;
    const exporter = this.exporters.table.get(c.scope.exporter, c.scope.port);
    this.applying = true;
    try {
      if (c.kind === 'template') {
        this.sourceIs(l);
        const before = this.flowCount();
        dec.applyTemplate(exporter, c.scope.domain, c.def, Date.now());
        this.restoredFlows += this.flowCount() - before;
        for (const o of this.outputs) o.flush();
        this.ticks?.after();
      } else if (c.kind === 'withdraw') {
        dec.applyWithdrawal(exporter, c.scope.domain, c.scope.protocol, c.id);
      } else {
        dec.applyOptions(exporter, c.scope.domain, c.scope.protocol, c.row);
      }
    } catch (err) {
      this.counters.inc('store.apply_failed');
      this.hooks.log('warn', 'store.apply', 'could not apply a shared template change', { error: String(err) });
    } finally {
      this.applying = false;
    }
  }
}

/** This thread's V8 heap (each worker is its own isolate); read once per snapshot. */
function heapNow(): WorkerHeap {
  const h = getHeapStatistics();
  return { used: h.used_heap_size, total: h.total_heap_size, external: h.external_memory };
}
