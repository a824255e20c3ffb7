/**
 * tshark as an independent decoder for cross-checks. Payloads are wrapped into a temporary pcap
 * (Ethernet/IPv4/UDP, to port 2055 for NetFlow/IPFIX, 6343 for sFlow), decoded by
 * `tshark -n -r FILE -d udp.port==PORT,cflow -T json --no-duplicate-keys`, and the JSON tree is
 * reshaped per datagram.
 *
 * Field names (tshark 4.0): NetFlow/IPFIX fields are `cflow.*` (cflow.srcaddr, cflow.dstaddr,
 * cflow.srcaddrv6, cflow.srcport, cflow.dstport, cflow.protocol, cflow.octets, cflow.packets,
 * cflow.samplerate, cflow.template_id, cflow.flowset_id...). sFlow datagram fields are
 * `sflow_245.*` (sflow_245.agent, sflow_245.sequence_number...), sample fields
 * `sflow.flow_sample.*` / `sflow.counters_sample.*`, and a sampled header's own protocols
 * (eth, ip, tcp...) are nested under `sflow_245.header_tree`.
 *
 * `--no-duplicate-keys` matters: without it tshark emits repeated keys in one JSON object
 * (ip.addr twice), and JSON.parse keeps only the last. With it repeated fields become arrays;
 * every value here is therefore a list of strings.
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { wrapPayloadsAsPcap } from '../../src/capture/mod.js';
import { hasCommand, makeTempDir, runChecked, runCommand } from './tools.js';

/** Field name -> every value tshark printed for it in one subtree (document order). */
export type FieldMap = Map<string, string[]>;

let versionCache: string | null | undefined;

export function hasTshark(): boolean {
  return hasCommand('tshark');
}

/** For node:test's `skip` option: false when tshark can run, or the reason it cannot. */
export function tsharkSkipReason(): string | false {
  return hasTshark() ? false : 'tshark is not installed (Debian package "tshark")';
}

/** "4.0.17", or null when tshark is absent. */
export async function tsharkVersion(): Promise<string | null> {
  if (versionCache !== undefined) return versionCache;
  if (!hasTshark()) return (versionCache = null);
  const r = await runCommand('tshark', ['--version']);
  const m = /TShark \(Wireshark\) (\d+\.\d+\.\d+)/.exec(r.stdout.toString('utf8'));
  return (versionCache = m ? m[1]! : null);
}

/** First value of a field, or undefined. */
export function field(map: FieldMap, name: string): string | undefined {
  return map.get(name)?.[0];
}

/** First value of a field as a number (decimal, or 0x hex as tshark prints flags); NaN when absent. */
export function numField(map: FieldMap, name: string): number {
  const v = field(map, name);
  if (v === undefined) return NaN;
  return /^0x[0-9a-f]+$/i.test(v) ? parseInt(v, 16) : Number(v);
}

type JsonTree = { [key: string]: JsonValue };
type JsonValue = string | JsonTree | JsonValue[];

function isTree(v: JsonValue): v is JsonTree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function push(map: FieldMap, key: string, value: string): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Every leaf under `tree`, nested trees included, keyed by field name. */
export function flattenFields(tree: JsonTree, into: FieldMap = new Map()): FieldMap {
  for (const [k, v] of Object.entries(tree)) addValue(into, k, v);
  return into;
}

function addValue(map: FieldMap, key: string, v: JsonValue): void {
  if (typeof v === 'string') {
    // A merged "x_tree" list holds "" for each occurrence of x that had no subtree.
    if (!key.endsWith('_tree')) push(map, key, v);
  }
  else if (Array.isArray(v)) for (const x of v) addValue(map, key, x);
  else flattenFields(v, map);
}

/** Only the direct leaves of `tree` plus their `_tree` expansions (not labelled subtrees). */
function ownFields(tree: JsonTree): FieldMap {
  const map: FieldMap = new Map();
  for (const [k, v] of Object.entries(tree)) {
    if (typeof v === 'string' || Array.isArray(v)) addValue(map, k, v);
    else if (k.endsWith('_tree')) flattenFields(v, map);
  }
  return map;
}

function subtrees(tree: JsonTree): Array<[string, JsonTree]> {
  const out: Array<[string, JsonTree]> = [];
  for (const [k, v] of Object.entries(tree)) {
    if (isTree(v) && !k.endsWith('_tree')) out.push([k, v]);
    else if (Array.isArray(v)) for (const x of v) if (isTree(x)) out.push([k, x]);
  }
  return out;
}

export interface TsharkPacket {
  /** tshark's frame.number (1-based, in payload order). */
  frame: number;
  /** The `_source.layers` object: protocol name -> tree (an array when a protocol repeats). */
  layers: JsonTree;
}

export interface TsharkRunOptions {
  /** UDP destination port in the temporary pcap. */
  port?: number;
  /** Extra tshark arguments (e.g. ['-o', 'cflow.netflow_ports:9995']). */
  extraArgs?: string[];
  timeoutMs?: number;
  /** Keep the temporary pcap at this path instead of a deleted temp file (for debugging). */
  pcapPath?: string;
}

/** Wraps payloads into a pcap and returns tshark's JSON per packet. */
export async function tsharkDecodePayloads(
  payloads: ReadonlyArray<Uint8Array>,
  decodeAs: 'cflow' | 'sflow',
  o: TsharkRunOptions = {},
): Promise<TsharkPacket[]> {
  const port = o.port ?? (decodeAs === 'sflow' ? 6343 : 2055);
  const pcap = wrapPayloadsAsPcap(payloads, { srcAddr: '192.0.2.10', dstAddr: '192.0.2.1', srcPort: 40000, dstPort: port });
  const tmp = o.pcapPath === undefined ? makeTempDir('tshark-') : undefined;
  const path = o.pcapPath ?? join(tmp!.dir, 'payloads.pcap');
  try {
    writeFileSync(path, pcap);
    return await tsharkJsonFile(path, ['-d', `udp.port==${port},${decodeAs}`, ...(o.extraArgs ?? [])], o.timeoutMs);
  } finally {
    tmp?.cleanup();
  }
}

/** Runs tshark over a capture file with `-T json --no-duplicate-keys` and returns the packets. */
export async function tsharkJsonFile(path: string, args: readonly string[] = [], timeoutMs?: number): Promise<TsharkPacket[]> {
  const r = await runChecked('tshark', ['-n', '-r', path, ...args, '-T', 'json', '--no-duplicate-keys'], {
    timeoutMs: timeoutMs ?? 120_000,
  });
  const text = r.stdout.toString('utf8').trim();
  if (text === '') return [];
  const parsed = JSON.parse(text) as Array<{ _source: { layers: JsonTree } }>;
  return parsed.map((p) => {
    const layers = p._source.layers;
    const frameTree = layers['frame'];
    const num = frameTree && isTree(frameTree) ? Number(field(ownFields(frameTree), 'frame.number')) : NaN;
    return { frame: num, layers };
  });
}

function layerTrees(layers: JsonTree, name: string): JsonTree[] {
  const v = layers[name];
  if (v === undefined) return [];
  if (Array.isArray(v)) return v.filter(isTree);
  return isTree(v) ? [v] : [];
}

// ---------------------------------------------------------------------------------------------
// NetFlow v1/v5/v7/v9 and IPFIX

export interface CflowTemplateField {
  /**
   * Element id: cflow.template_field_type (v9), cflow.template_ipfix_field_type (IPFIX),
   * cflow.scope_field_type (v9 scope), or a vendor's cflow.template_*_field_type* for
   * enterprise fields (pen in cflow.template_ipfix_field_pen).
   */
  type: number;
  length: number;
  /** IPFIX enterprise number when the field has one. */
  pen?: number;
  scope: boolean;
  /** tshark's label, e.g. "Field (1/14): IP_SRC_ADDR". */
  label: string;
}

export interface CflowTemplate {
  templateId: number;
  options: boolean;
  fields: CflowTemplateField[];
  /** Every field of the template subtree. */
  raw: FieldMap;
}

export interface CflowFlowSet {
  flowsetId: number;
  /** tshark's label, e.g. "FlowSet 3 [id=1024] (6 flows)". */
  label: string;
  /** The flowset's own fields (cflow.flowset_id, cflow.flowset_length, cflow.template_frame...). */
  fields: FieldMap;
  templates: CflowTemplate[];
  /** Data records of this set ("Flow N" subtrees). */
  records: FieldMap[];
}

export interface CflowDatagram {
  frame: number;
  /** Header fields: cflow.version, cflow.count, cflow.sysuptime, cflow.unix_secs, cflow.sequence... */
  header: FieldMap;
  flowsets: CflowFlowSet[];
  templates: CflowTemplate[];
  /** All data records in order: v1/v5/v7 "pdu i/n" entries, v9/IPFIX "Flow N" entries. */
  records: FieldMap[];
  /** tshark flagged the datagram as malformed (_ws.malformed) or gave it no cflow layer. */
  malformed: boolean;
}

function parseTemplate(label: string, tree: JsonTree): CflowTemplate {
  const own = ownFields(tree);
  const fields: CflowTemplateField[] = [];
  for (const [flabel, ftree] of subtrees(tree)) {
    if (!flabel.startsWith('Field')) continue;
    const f = flattenFields(ftree);
    const scope = f.has('cflow.scope_field_type') || flabel.includes('[Scope]');
    // The element id sits under a vendor-specific name for enterprise fields
    // (cflow.template_ipfix_field_type_enterprise, cflow.template_barracuda_field_type...).
    let type = NaN;
    for (const [k, vals] of f) {
      if (k === 'cflow.scope_field_type' || /^cflow\.template_\w*field_type\w*$/.test(k)) {
        type = Number(vals[0]);
        break;
      }
    }
    const pen = f.has('cflow.template_ipfix_field_pen') ? numField(f, 'cflow.template_ipfix_field_pen') : undefined;
    const entry: CflowTemplateField = { type, length: numField(f, 'cflow.template_field_length'), scope, label: flabel };
    if (pen !== undefined) entry.pen = pen;
    fields.push(entry);
  }
  return {
    templateId: numField(own, 'cflow.template_id'),
    options: label.startsWith('Options Template'),
    fields,
    raw: flattenFields(tree),
  };
}

/** Decodes NetFlow/IPFIX payloads (in order: templates before data) with tshark. */
export async function decodeCflowWithTshark(
  payloads: ReadonlyArray<Uint8Array>,
  o: TsharkRunOptions = {},
): Promise<CflowDatagram[]> {
  const packets = await tsharkDecodePayloads(payloads, 'cflow', o);
  return packets.map((p) => cflowFromPacket(p));
}

/** Reshapes one tshark packet's cflow layer(s). */
export function cflowFromPacket(p: TsharkPacket): CflowDatagram {
  const d: CflowDatagram = {
    frame: p.frame,
    header: new Map(),
    flowsets: [],
    templates: [],
    records: [],
    malformed: p.layers['_ws.malformed'] !== undefined,
  };
  const trees = layerTrees(p.layers, 'cflow');
  if (trees.length === 0) d.malformed = true;
  for (const cflow of trees) {
    for (const [k, vals] of ownFields(cflow)) for (const v of vals) push(d.header, k, v);
    for (const [label, tree] of subtrees(cflow)) {
      if (label.startsWith('pdu ')) {
        d.records.push(flattenFields(tree));
      } else if (/^(FlowSet|Set) \d+/.test(label)) {
        const fs: CflowFlowSet = { flowsetId: NaN, label, fields: ownFields(tree), templates: [], records: [] };
        fs.flowsetId = numField(fs.fields, 'cflow.flowset_id');
        for (const [sub, st] of subtrees(tree)) {
          if (sub.startsWith('Template') || sub.startsWith('Options Template')) {
            const t = parseTemplate(sub, st);
            fs.templates.push(t);
            d.templates.push(t);
          } else if (sub.startsWith('Flow ')) {
            const rec = flattenFields(st);
            fs.records.push(rec);
            d.records.push(rec);
          }
        }
        d.flowsets.push(fs);
      } else if (label === '_ws.malformed' || label.startsWith('_ws.expert')) {
        d.malformed = true;
      }
    }
  }
  return d;
}

// ---------------------------------------------------------------------------------------------
// sFlow v5

export interface SflowRecord {
  /** tshark's label: "Raw packet header", "Extended switch data", "Generic interface counters"... */
  label: string;
  /** Every field of the record, including the sampled header's dissection (ip.src, tcp.dstport...). */
  fields: FieldMap;
}

export interface SflowSample {
  /** tshark's label, e.g. "Flow sample, seq 1" or "Counters sample, seq 3". */
  label: string;
  kind: 'flow' | 'counters' | 'other';
  /** The sample's own fields: sflow.flow_sample.sampling_rate, ...sample_pool, ...input_interface... */
  fields: FieldMap;
  records: SflowRecord[];
}

export interface SflowDatagram {
  frame: number;
  /** sflow_245.version, sflow_245.agent, sflow_245.sequence_number, sflow_245.numsamples... */
  header: FieldMap;
  samples: SflowSample[];
  malformed: boolean;
}

/** Decodes sFlow v5 payloads with tshark. */
export async function decodeSflowWithTshark(
  payloads: ReadonlyArray<Uint8Array>,
  o: TsharkRunOptions = {},
): Promise<SflowDatagram[]> {
  const packets = await tsharkDecodePayloads(payloads, 'sflow', o);
  return packets.map((p) => sflowFromPacket(p));
}

export function sflowFromPacket(p: TsharkPacket): SflowDatagram {
  const d: SflowDatagram = { frame: p.frame, header: new Map(), samples: [], malformed: p.layers['_ws.malformed'] !== undefined };
  const trees = layerTrees(p.layers, 'sflow');
  if (trees.length === 0) d.malformed = true;
  for (const sflow of trees) {
    for (const [k, vals] of ownFields(sflow)) for (const v of vals) push(d.header, k, v);
    for (const [label, tree] of subtrees(sflow)) {
      if (label === '_ws.malformed' || label.startsWith('_ws.expert')) {
        d.malformed = true;
        continue;
      }
      const lower = label.toLowerCase();
      const kind: SflowSample['kind'] = lower.includes('flow sample') ? 'flow' : lower.includes('counters sample') ? 'counters' : 'other';
      const sample: SflowSample = { label, kind, fields: ownFields(tree), records: [] };
      for (const [rlabel, rtree] of subtrees(tree)) sample.records.push({ label: rlabel, fields: flattenFields(rtree) });
      d.samples.push(sample);
    }
  }
  return d;
}
