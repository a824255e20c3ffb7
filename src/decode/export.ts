/**
 * NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) messages: template, options template and data
 * sets, with templates scoped per exporter + observation domain / source id.
 *
 * Each message is walked in three passes over its sets: (1) template and options template
 * sets, (2) data sets of options templates, (3) data sets of data templates. So a template
 * later in the same datagram still decodes its data, and options data (sampler and interface
 * tables) is applied before the flows it describes. Data whose template is unknown goes to
 * the scope's pending buffer and is decoded when the template arrives.
 */
import { FlowType, type FlowRecord, type FlowSink } from './record.js';
import type { Counter, Counters } from './stats.js';
import { COUNTER_ZERO, NO_TIME } from '../counting.js';
import type { Exporter } from './exporter.js';
import { u16, u32 } from './read.js';
import type { CompiledTemplate, DecodeCtx } from './compile.js';
import { decodeGeneric } from './lists.js';
import { TranscodeCtx, compileTranscoder, setExportSec, startSet, type FrameSink, type SetTranscoder } from './transcode.js';
import { copyPendingHeader, newPendingHeader, type LearnResult, type OptionsRow, type PendingHeader, type TemplateCache, type TemplateDef, type TemplateEntry, type TemplateField, type TemplateScope } from '../templates/mod.js';


/** Hook run on every decoded flow before the sink (sampling, enrichment). */
export type FlowHook = (rec: FlowRecord, scope: TemplateScope<CompiledTemplate>) => void;
/** Hook run on every decoded options record. */
/** `changed`: the row is new, or its values differ from the row it replaces. */
export type OptionsHook = (scope: TemplateScope<CompiledTemplate>, row: OptionsRow, changed: boolean) => void;

const MAX_SETS = 16384;
const ROW_IDS = new Set(['samplerId', 'selectorId', 'ingressInterface', 'egressInterface', 'applicationId', 'ingressVRFID', 'egressVRFID', 'lineCardId', 'portId', 'meteringProcessId', 'exportingProcessId', 'templateId', 'informationElementId', 'privateEnterpriseNumber']);

export class ExportDecoder {
  private readonly ctx: DecodeCtx;
  private readonly setId = new Uint16Array(MAX_SETS);
  private readonly setOff = new Int32Array(MAX_SETS);
  private readonly setEnd = new Int32Array(MAX_SETS);
  /** Pass 0's template look-up of each set, kept for pass 1 (nothing in between changes templates). */
  private readonly setEntry: (TemplateEntry<CompiledTemplate> | undefined)[] = new Array(MAX_SETS).fill(undefined);
  private readonly hdr = newPendingHeader();
  /** The message's header while replay() decodes earlier messages' data in it. */
  private readonly savedHdr = newPendingHeader();
  private protocol: 9 | 10 = 9;
  private exporter: Exporter | undefined;
  private records = 0;
  /** Records of every kind seen in this message, to check the v9 header's count. */
  private seen = 0;
  private pendingSets = 0;
  private error: string | undefined;
  flowHook: FlowHook | undefined;
  optionsHook: OptionsHook | undefined;
  /**
   * Fast path: when set, data sets of layouts with a transcoder (transcode.ts) are written
   * straight to these frames; flowHook and the sink see only the records of other layouts.
   */
  frames: FrameSink | undefined;
  /** Fast path: fills the sampling inputs (the flowHook and sink's sampling) for a data set. */
  prepareFrames: ((x: TranscodeCtx, scope: TemplateScope<CompiledTemplate>, exporter: Exporter) => void) | undefined;
  /** Fast path: records transcoded, and records that took the reference path while `frames` was set. */
  readonly transcoded = { fused: COUNTER_ZERO, reference: COUNTER_ZERO };
  /**
   * Fast path: a layout's transcoder is compiled at its data set number `transcodeAfter` + 1
   * (the earlier ones take the reference path). V8 keeps the source of every function built
   * with new Function in its compilation cache for a while, and a transcoder's is 10-20 KB: a
   * stream of one-off layouts (template floods, the fuzzer) would otherwise fill the heap.
   */
  transcodeAfter = 0;
  private readonly tx = new TranscodeCtx();
  /**
   * tx holds this message's per-datagram inputs (export time, uptime, domain, head, sampler
   * address, sampling tables and rates): set by the first data set transcoded after setCtx, kept
   * for the message's other data sets. softflowd alternates IPv4 and IPv6 data sets, ~4.5
   * records each: preparing them once per data set was ~80 instructions per flow (callgrind).
   */
  private txReady = false;
  /** Hot counter cells. */
  private readonly recordsV9: Counter;
  private readonly recordsIpfix: Counter;

  constructor(
    private readonly rec: FlowRecord,
    private readonly sink: FlowSink,
    private readonly counters: Counters,
    readonly cache: TemplateCache<CompiledTemplate>,
  ) {
    this.ctx = { exportSec: 0, sysUptime: NO_TIME, uptimeBase: NO_TIME, scope: undefined, counters };
    this.recordsV9 = counters.cell('records.netflow_v9');
    this.recordsIpfix = counters.cell('records.ipfix');
  }

  private fail(reason: string): void {
    this.counters.inc(reason);
    if (this.error === undefined) this.error = reason;
  }

  /** Decodes a v9 or IPFIX message; returns the first error reason, or undefined. */
  decode(protocol: 9 | 10, buf: Uint8Array, off: number, len: number, exporter: Exporter, recvSec: number, recvNsec: number): string | undefined {
    this.error = undefined;
    this.records = 0;
    this.seen = 0;
    this.pendingSets = 0;
    this.protocol = protocol;
    this.exporter = exporter;
    const name = protocol === 9 ? 'netflow_v9' : 'ipfix';
    const hlen = protocol === 9 ? 20 : 16;
    if (len < hlen) {
      this.fail(`${name}.truncated_header`);
      return this.error;
    }
    let end = off + len;
    let domain: number;
    const h = this.hdr;
    if (protocol === 9) {
      h.sysUptime = u32(buf, off + 4);
      h.exportSec = u32(buf, off + 8);
      h.sequence = u32(buf, off + 12);
      domain = u32(buf, off + 16);
    } else {
      const mlen = u16(buf, off + 2);
      if (mlen < hlen) {
        this.fail('ipfix.bad_length');
        return this.error;
      }
      if (mlen > len) {
        this.fail('ipfix.truncated');
        return this.error;
      }
      if (mlen < len) this.counters.inc('ipfix.trailing_bytes');
      end = off + mlen;
      h.sysUptime = 0;
      h.exportSec = u32(buf, off + 4);
      h.sequence = u32(buf, off + 8);
      domain = u32(buf, off + 12);
    }
    h.recvSec = recvSec;
    h.recvNsec = recvNsec;
    const scope = this.cache.scope(exporter, domain, protocol);
    const nowMs = recvSec * 1000 + Math.floor(recvNsec / 1e6);

    // Collect the sets.
    let n = 0;
    let p = off + hlen;
    while (p + 4 <= end) {
      const id = u16(buf, p);
      const slen = u16(buf, p + 2);
      if (slen < 4) {
        if (allZero(buf, p, end)) {
          this.counters.inc(`${name}.zero_padding`);
        } else {
          this.fail(`${name}.set.bad_length`);
        }
        break;
      }
      if (p + slen > end) {
        this.fail(`${name}.set.truncated`);
        break;
      }
      if (n >= MAX_SETS) {
        this.fail(`${name}.too_many_sets`);
        break;
      }
      this.setId[n] = id;
      this.setOff[n] = p + 4;
      this.setEnd[n] = p + slen;
      n++;
      p += slen;
    }
    if (p < end && p + 4 > end && this.error === undefined && !allZero(buf, p, end)) {
      this.counters.inc(`${name}.trailing_bytes`);
    }

    // Pass 1: templates.
    const tplSet = protocol === 9 ? 0 : 2;
    const optSet = protocol === 9 ? 1 : 3;
    for (let i = 0; i < n; i++) {
      const id = this.setId[i]!;
      if (id === tplSet) this.templateSet(scope, buf, this.setOff[i]!, this.setEnd[i]!, false, nowMs);
      else if (id === optSet) this.templateSet(scope, buf, this.setOff[i]!, this.setEnd[i]!, true, nowMs);
      else if (id < 256) this.fail(`${name}.set.reserved_id`);
    }
    // Pass 2 and 3: options data, then flow data.
    this.setCtx(scope, h);
    for (let pass = 0; pass < 2; pass++) {
      // Options data just read may carry systemInitTimeMilliseconds for this message's flows.
      if (pass === 1) this.setCtx(scope, h);
      for (let i = 0; i < n; i++) {
        const id = this.setId[i]!;
        if (id < 256) continue;
        if (pass === 0) {
          const entry = scope.get(id);
          this.setEntry[i] = entry;
          if (entry !== undefined && entry.def.options) this.optionsSet(scope, entry.compiled, id, buf, this.setOff[i]!, this.setEnd[i]!, nowMs);
          continue;
        }
        const entry = this.setEntry[i];
        this.setEntry[i] = undefined;
        if (entry === undefined) {
          this.cache.missing(scope, id);
          if (this.error === undefined) this.error = 'template.missing';
          scope.pending.add(id, buf, this.setOff[i]!, this.setEnd[i]! - this.setOff[i]!, h, nowMs);
          this.pendingSets++;
        } else if (!entry.def.options) {
          this.dataSet(scope, entry.compiled, id, buf, this.setOff[i]!, this.setEnd[i]!);
        }
      }
    }
    if (this.records > 0) (protocol === 9 ? this.recordsV9 : this.recordsIpfix).v += this.records;
    // RFC 3954 says count is the number of records (template, options and data); some exporters
    // put the number of flowsets there instead. Anything else means the message lost content or
    // the exporter miscounts.
    if (protocol === 9 && this.pendingSets === 0 && this.error === undefined) {
      const count = u16(buf, off + 2);
      // softflowd counts flow records only; the corpus treats that (netflow9_test_invalid01, a
      // softflowd datagram) as invalid, so it is reported, while its flows are still decoded.
      if (count !== this.seen && count !== n) this.fail('netflow_v9.count_mismatch');
    }
    return this.error;
  }

  private setCtx(scope: TemplateScope<CompiledTemplate>, h: PendingHeader): void {
    // Everything tx is prepared from changes here (a new message, a replayed set's header,
    // options data read in between): it is prepared again at the next data set.
    this.txReady = false;
    const c = this.ctx;
    c.scope = scope;
    c.exportSec = h.exportSec;
    c.sysUptime = this.protocol === 9 ? h.sysUptime : NO_TIME;
    c.uptimeBase = this.protocol === 9 ? NO_TIME : scope.systemInitMs;
  }

  private templateSet(scope: TemplateScope<CompiledTemplate>, buf: Uint8Array, p: number, end: number, options: boolean, nowMs: number): void {
    const v9 = this.protocol === 9;
    const name = v9 ? 'netflow_v9' : 'ipfix';
    while (p + 4 <= end) {
      const tid = u16(buf, p);
      // A repeat of the known template's bytes is a refresh, with nothing to parse or allocate.
      const same = this.cache.refreshSame(scope, tid, options, buf, this.tx.view(buf), p, end);
      if (same >= 0) {
        this.seen++;
        p = same;
        continue;
      }
      let count: number;
      let scopeCount = 0;
      let fieldBytes = -1; // v9 options: byte lengths instead of counts
      if (v9 && options) {
        if (p + 6 > end) return; // padding
        const scopeLen = u16(buf, p + 2);
        const optLen = u16(buf, p + 4);
        if (tid === 0 && scopeLen === 0 && optLen === 0) return; // padding
        if (scopeLen % 4 !== 0 || optLen % 4 !== 0) {
          this.fail('netflow_v9.options_template.bad_length');
          return;
        }
        scopeCount = scopeLen / 4;
        count = scopeCount + optLen / 4;
        fieldBytes = scopeLen + optLen;
      } else {
        count = u16(buf, p + 2);
        if (options && count !== 0) {
          if (p + 6 > end) {
            this.fail('ipfix.options_template.truncated');
            return;
          }
          scopeCount = u16(buf, p + 4);
        }
      }
      const bodyStart = p + (options && (v9 || count !== 0) ? 6 : 4);
      if (tid === 0 && count === 0) return; // padding
      if (count === 0) {
        if (v9) {
          this.fail('netflow_v9.template.empty');
          return;
        }
        // IPFIX withdrawal (RFC 7011 8.1): one template, or all of a kind (id 2 / id 3).
        if ((tid === 2 && !options) || (tid === 3 && options)) this.cache.withdrawAll(scope, options);
        else if (tid >= 256) this.cache.withdraw(scope, tid);
        else this.fail('ipfix.withdrawal.bad_id');
        p += 4;
        continue;
      }
      if (tid < 256) {
        this.fail(`${name}.template.bad_id`);
        return;
      }
      if (options && !v9 && (scopeCount === 0 || scopeCount > count)) {
        this.fail('ipfix.options_template.bad_scope_count');
        return;
      }
      // The record's end first: every field spec within the set.
      let q = bodyStart;
      for (let i = 0; i < count && q <= end; i++) q += q + 4 <= end && !v9 && u16(buf, q) & 0x8000 ? 8 : 4;
      if (q > end || (fieldBytes >= 0 && q !== bodyStart + fieldBytes)) {
        this.fail(`${name}.template.truncated`);
        return;
      }
      const fields: TemplateField[] = [];
      for (let i = 0, r = bodyStart; i < count; i++, r += 4) {
        let id = u16(buf, r);
        const length = u16(buf, r + 2);
        let pen = 0;
        if (!v9 && id & 0x8000) {
          r += 4;
          pen = u32(buf, r);
          id &= 0x7fff;
        }
        fields.push({ id, pen, length });
      }
      const def: TemplateDef = { protocol: this.protocol, id: tid, options, scopeCount, fields };
      this.seen++;
      const res = this.cache.learn(scope, def, buf.subarray(p, q));
      if (res === 'learned' || res === 'changed') this.replay(scope, tid, nowMs);
      p = q;
    }
  }

  /**
   * A template that arrived by another route (another worker, another instance): learns it in
   * `scope` and decodes the data that waited for it. Returns what the cache did.
   */
  learnShared(scope: TemplateScope<CompiledTemplate>, def: TemplateDef, exporter: Exporter, nowMs: number): LearnResult {
    const res = this.cache.learn(scope, def);
    if ((res === 'learned' || res === 'changed') && scope.pending.size > 0) {
      this.error = undefined;
      this.protocol = def.protocol;
      this.exporter = exporter;
      this.hdr.sysUptime = 0;
      this.replay(scope, def.id, nowMs);
    }
    return res;
  }

  /** Decodes data that waited in the pending buffer for template `tid`. */
  private replay(scope: TemplateScope<CompiledTemplate>, tid: number, nowMs: number): void {
    const waiting = scope.pending.take(tid);
    if (waiting.length === 0) return;
    const entry = scope.get(tid)!;
    copyPendingHeader(this.savedHdr, this.hdr);
    // Replayed records belong to earlier messages: keep them out of this message's count check.
    const seen = this.seen;
    for (const w of waiting) {
      copyPendingHeader(this.hdr, w.hdr);
      this.setCtx(scope, this.hdr);
      if (entry.def.options) this.optionsSet(scope, entry.compiled, tid, w.data, 0, w.data.length, nowMs);
      else this.dataSet(scope, entry.compiled, tid, w.data, 0, w.data.length);
    }
    copyPendingHeader(this.hdr, this.savedHdr);
    this.setCtx(scope, this.hdr);
    this.seen = seen;
  }


  /**
   * A data set of template `id`. `ct` is shared by every template of its layout (the template
   * cache compiles a layout once), so the id comes from the set, never from ct.def.
   */
  private dataSet(scope: TemplateScope<CompiledTemplate>, ct: CompiledTemplate, id: number, buf: Uint8Array, p: number, end: number): void {
    const min = ct.minLen;
    if (min === 0) {
      this.fail('template.zero_length_record');
      return;
    }
    const frames = this.frames;
    if (frames !== undefined) {
      let tc = ct.transcoder;
      if (tc === undefined && ct.uses++ >= this.transcodeAfter) {
        try {
          tc = compileTranscoder(ct);
        } catch {
          tc = null;
        }
        ct.transcoder = tc;
      }
      if (tc !== null && tc !== undefined) {
        this.transcodeSet(scope, id, tc, frames, buf, p, end);
        return;
      }
    }
    const before = this.records;
    this.referenceSet(scope, ct, id, buf, p, end);
    if (frames !== undefined) this.transcoded.reference += this.records - before;
  }

  private transcodeSet(scope: TemplateScope<CompiledTemplate>, templateId: number, tc: SetTranscoder, frames: FrameSink, buf: Uint8Array, p: number, end: number): void {
    const x = this.tx;
    const exporter = this.exporter!;
    const type = this.protocol === 9 ? FlowType.NETFLOW_V9 : FlowType.IPFIX;
    if (!this.txReady) this.prepareTx(scope, type, exporter);
    x.templateId = templateId;
    const w = frames.writer;
    const from = w.pos;
    const q = tc(buf, p, end, w, x);
    const n = x.n;
    if (n > 0) {
      frames.framesAdded(type, n, from, exporter.addr);
      this.records += n;
      this.seen += n;
      this.transcoded.fused += n;
    }
    if (x.bad !== 0 && !allZero(buf, q, end)) this.fail('record.truncated');
    if (q < end && !allZero(buf, q, end)) this.counters.inc('set.nonzero_padding');
  }

  /** The per-datagram inputs of tx (see txReady). */
  private prepareTx(scope: TemplateScope<CompiledTemplate>, type: number, exporter: Exporter): void {
    const x = this.tx;
    const c = this.ctx;
    const h = this.hdr;
    setExportSec(x, c.exportSec);
    x.sysUptime = c.sysUptime;
    x.uptimeBase = c.uptimeBase;
    x.domain = scope.domain;
    startSet(x, type, h.recvSec, h.recvNsec, h.sequence, exporter.addr);
    if (this.prepareFrames !== undefined) this.prepareFrames(x, scope, exporter);
    this.txReady = true;
  }

  private referenceSet(scope: TemplateScope<CompiledTemplate>, ct: CompiledTemplate, id: number, buf: Uint8Array, p: number, end: number): void {
    const min = ct.minLen;
    const rec = this.rec;
    const fn = ct.decode;
    const ctx = this.ctx;
    const h = this.hdr;
    const type = this.protocol === 9 ? FlowType.NETFLOW_V9 : FlowType.IPFIX;
    const addr = this.exporter!.addr;
    const alen = addr.length;
    const hook = this.flowHook;
    while (end - p >= min) {
      rec.reset();
      rec.type = type;
      rec.exportVersion = this.protocol;
      rec.timeReceivedSec = h.recvSec;
      rec.timeReceivedNsec = h.recvNsec;
      rec.sequenceNum = h.sequence;
      rec.templateId = id;
      rec.observationDomainId = scope.domain;
      const sa = rec.samplerAddress;
      for (let k = 0; k < alen; k++) sa[k] = addr[k]!;
      rec.samplerAddressLen = alen;
      const next = fn(buf, p, end, rec, ctx);
      if (next < 0) {
        // Fewer bytes than a record needs: trailing padding is legal, anything larger is not.
        if (!allZero(buf, p, end)) this.fail('record.truncated');
        break;
      }
      p = next;
      if (hook !== undefined) hook(rec, scope);
      this.sink.onFlow(rec);
      this.records++;
      this.seen++;
    }
    // What is left is shorter than any record, so it is padding by RFC 7011 section 3.3.1;
    // padding SHOULD be zero, and some exporters leave garbage there: counted, not an error.
    if (p < end && !allZero(buf, p, end)) this.counters.inc('set.nonzero_padding');
  }

  private optionsSet(scope: TemplateScope<CompiledTemplate>, ct: CompiledTemplate, id: number, buf: Uint8Array, p: number, end: number, nowMs: number): void {
    if (ct.minLen === 0) {
      // Every field zero-length: a record takes no bytes and the set could never be consumed.
      this.fail('template.zero_length_record');
      return;
    }
    const min = ct.minLen;
    const scopeCount = ct.def.scopeCount;
    while (end - p >= min) {
      const values: Record<string, unknown> = {};
      const next = decodeGeneric(ct, buf, p, end, values, this.ctx, 0);
      if (next < 0) {
        if (!allZero(buf, p, end)) this.fail('options.truncated');
        break;
      }
      p = next;
      // A row is identified by its scope fields plus the identifier fields tables are keyed by
      // (many exporters scope interface and application tables by System only).
      let key = '';
      for (let i = 0; i < ct.infos.length; i++) {
        const nm = ct.infos[i]!.name;
        if (i >= scopeCount && !ROW_IDS.has(nm)) continue;
        key += `${key === '' ? '' : ','}${nm}=${String(values[nm])}`;
      }
      const row: OptionsRow = { templateId: id, scopeKey: key, values, at: nowMs };
      const changed = this.cache.keepOptions(scope, row);
      const init = values['systemInitTimeMilliseconds'];
      if (typeof init === 'number') scope.systemInitMs = init;
      this.counters.inc('options.records');
      this.seen++;
      if (this.optionsHook !== undefined) this.optionsHook(scope, row, changed);
    }
  }
}

function allZero(buf: Uint8Array, p: number, end: number): boolean {
  for (let i = p; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}

