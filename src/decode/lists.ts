/**
 * RFC 6313 structured data (basicList, subTemplateList, subTemplateMultiList) and the generic
 * record decoder used for options data and sub-template records. Slow path: builds plain
 * JavaScript values. Depth and size are bounded; malformed lists become hex plus a counter.
 */
import { DataType, type ElementInfo } from './record.js';
import { u16, u32 } from './read.js';
import { hex, plainValue } from './values.js';
import { ipfixElement } from './registry/mod.js';
import type { CompiledTemplate, DecodeCtx } from './compile.js';
import { VARIABLE_LENGTH } from '../templates/mod.js';

const MAX_DEPTH = 4;
const MAX_ITEMS = 4096;

export interface ListValue {
  semantic: string;
  [k: string]: unknown;
}

const SEMANTICS = ['noneOf', 'exactlyOneOf', 'oneOrMoreOf', 'allOf', 'ordered'];

function semanticName(v: number): string {
  return v === 0xff ? 'undefined' : (SEMANTICS[v] ?? String(v));
}

/** Decodes a structured-data field at buf[p..p+len). */
export function decodeList(info: ElementInfo, buf: Uint8Array, p: number, len: number, ctx: DecodeCtx, depth: number): unknown {
  if (depth >= MAX_DEPTH || len < 1) {
    ctx.counters.inc(depth >= MAX_DEPTH ? 'ipfix.list.too_deep' : 'ipfix.list.malformed');
    return hex(buf, p, len);
  }
  const end = p + len;
  const semantic = semanticName(buf[p]!);
  if (info.type === DataType.basicList) return basicList(buf, p + 1, end, semantic, ctx, depth);
  if (info.type === DataType.subTemplateList) {
    if (len < 3) return malformed(buf, p, len, ctx);
    const tid = u16(buf, p + 1);
    const records = subTemplateRecords(tid, buf, p + 3, end, ctx, depth);
    if (records === undefined) return { semantic, templateId: tid, missing: true, raw: hex(buf, p + 3, end - p - 3) };
    return { semantic, templateId: tid, records };
  }
  // subTemplateMultiList: semantic, then { templateId u16, length u16 (incl. this header), records }*
  const groups: unknown[] = [];
  let q = p + 1;
  while (q + 4 <= end) {
    const tid = u16(buf, q);
    const glen = u16(buf, q + 2);
    if (glen < 4 || q + glen > end) return malformed(buf, p, len, ctx);
    const records = subTemplateRecords(tid, buf, q + 4, q + glen, ctx, depth);
    groups.push(records === undefined ? { templateId: tid, missing: true, raw: hex(buf, q + 4, glen - 4) } : { templateId: tid, records });
    q += glen;
    if (groups.length > MAX_ITEMS) break;
  }
  return { semantic, groups };
}

function malformed(buf: Uint8Array, p: number, len: number, ctx: DecodeCtx): string {
  ctx.counters.inc('ipfix.list.malformed');
  return hex(buf, p, len);
}

function basicList(buf: Uint8Array, p: number, end: number, semantic: string, ctx: DecodeCtx, depth: number): unknown {
  if (p + 4 > end) return malformed(buf, p - 1, end - p + 1, ctx);
  const rawId = u16(buf, p);
  const elen = u16(buf, p + 2);
  let q = p + 4;
  let pen = 0;
  if (rawId & 0x8000) {
    if (q + 4 > end) return malformed(buf, p - 1, end - p + 1, ctx);
    pen = u32(buf, q);
    q += 4;
  }
  const info = ipfixElement(pen, rawId & 0x7fff);
  const values: unknown[] = [];
  while (q < end && values.length < MAX_ITEMS) {
    let l = elen;
    if (elen === VARIABLE_LENGTH) {
      l = buf[q++]!;
      if (l === 255) {
        if (q + 2 > end) return malformed(buf, p - 1, end - p + 1, ctx);
        l = u16(buf, q);
        q += 2;
      }
    }
    if (q + l > end || (l === 0 && elen !== VARIABLE_LENGTH)) return malformed(buf, p - 1, end - p + 1, ctx);
    values.push(fieldValue(info, buf, q, l, ctx, depth + 1));
    q += l;
  }
  return { semantic, element: info.name, values };
}

function fieldValue(info: ElementInfo, buf: Uint8Array, p: number, l: number, ctx: DecodeCtx, depth: number): unknown {
  const t = info.type;
  if (t === DataType.basicList || t === DataType.subTemplateList || t === DataType.subTemplateMultiList) {
    return decodeList(info, buf, p, l, ctx, depth);
  }
  return plainValue(info, buf, p, l);
}

function subTemplateRecords(tid: number, buf: Uint8Array, p: number, end: number, ctx: DecodeCtx, depth: number): unknown[] | undefined {
  const entry = ctx.scope?.get(tid);
  if (entry === undefined) {
    ctx.counters.inc('ipfix.list.template_missing');
    return undefined;
  }
  const ct = entry.compiled;
  const out: unknown[] = [];
  let q = p;
  while (q < end && end - q >= Math.max(ct.minLen, 1) && out.length < MAX_ITEMS) {
    const o: Record<string, unknown> = {};
    const next = decodeGeneric(ct, buf, q, end, o, ctx, depth + 1);
    if (next < 0) {
      ctx.counters.inc('ipfix.list.malformed');
      break;
    }
    out.push(o);
    q = next;
  }
  return out;
}

/**
 * Decodes one record of any template into `out` (field name -> plain value); repeated names
 * get `#2`, `#3` suffixes. Returns the next offset or -1 when the record does not fit.
 */
export function decodeGeneric(ct: CompiledTemplate, buf: Uint8Array, p: number, end: number, out: Record<string, unknown>, ctx: DecodeCtx, depth: number): number {
  const fields = ct.def.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    let l = f.length;
    if (l === VARIABLE_LENGTH) {
      if (p >= end) return -1;
      l = buf[p++]!;
      if (l === 255) {
        if (p + 2 > end) return -1;
        l = u16(buf, p);
        p += 2;
      }
    }
    if (p + l > end) return -1;
    const info = ct.infos[i]!;
    let name = info.name;
    if (name in out) {
      let k = 2;
      while (`${name}#${k}` in out) k++;
      name = `${name}#${k}`;
    }
    out[name] = fieldValue(info, buf, p, l, ctx, depth);
    p += l;
  }
  return p;
}
