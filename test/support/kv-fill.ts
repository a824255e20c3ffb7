/**
 * A large template bucket for the nats_kv store's scale test and benchmark: fills a KV bucket
 * with E exporters × T NetFlow v9 templates in the collector's own key and value format, and
 * reads a process's memory from /proc.
 */
import { readFileSync } from 'node:fs';
import type { KV } from '@nats-io/kv';
import { encodeTemplateEnvelope, templateKey } from '../../src/templates/kv/mod.js';
import type { TemplateDef } from '../../src/templates/mod.js';
import { ip4, set, u32, v9Message } from './export-builder.js';

/** Exporter i of n as 10.x.y.z, except the one at index `local` (127.0.0.1: where tests send from). */
export function exporterAddress(i: number, local: number): string {
  return i === local ? '127.0.0.1' : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

/** Template `id` with `fields` fields of 4 bytes: source address (8) first, then bytes (1), packets (2), other counters. */
export function fillDef(id: number, fields: number): TemplateDef {
  const f = [{ id: 8, pen: 0, length: 4 }];
  for (let k = 1; k < fields; k++) f.push({ id: k === 1 ? 1 : k === 2 ? 2 : 100 + k, pen: 0, length: 4 });
  return { protocol: 9, id, options: false, scopeCount: 0, fields: f };
}

/** A NetFlow v9 datagram with one data record of fillDef(id, fields): source `src`, counters 1, 2, 3... */
export function fillData(id: number, fields: number, src: string, seq = 1): Buffer {
  const body: number[] = [...ip4(src)];
  for (let k = 1; k < fields; k++) body.push(...u32(k));
  return v9Message([set(id, body, true)], { seq });
}

export interface FillOptions {
  /** Listener name in the keys. */
  listener: string;
  exporters: number;
  templates: number;
  fields: number;
  /** Index of the exporter that is 127.0.0.1. */
  local: number;
  /** Template ids are first, first+1, ... Default 256. */
  firstId?: number;
  /** Puts in flight at once. Default 512. */
  window?: number;
  origin?: string;
}

/** Puts every template, exporter by exporter (exporter 0's first): resolves with the number of values written. */
export async function fillBucket(kv: KV, o: FillOptions): Promise<number> {
  const first = o.firstId ?? 256;
  const window: Promise<number>[] = [];
  let n = 0;
  for (let i = 0; i < o.exporters; i++) {
    const scope = { listener: o.listener, protocol: 9 as const, exporter: exporterAddress(i, o.local), port: 0, domain: 0 };
    for (let t = 0; t < o.templates; t++) {
      window.push(kv.put(templateKey(scope, false, first + t), encodeTemplateEnvelope(fillDef(first + t, o.fields), Date.now(), o.origin ?? 'fill')));
      n++;
      if (window.length >= (o.window ?? 512)) await Promise.all(window.splice(0));
    }
  }
  await Promise.all(window);
  return n;
}

/** VmRSS and VmHWM (peak RSS) of a process, in bytes. */
export function procMemory(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

export const MiB = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;
