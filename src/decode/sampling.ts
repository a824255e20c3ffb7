/**
 * Sampling rates for every protocol, and enrichment from options data.
 *
 * Sources of a record's rate, first match wins:
 *   1. configured override for the exporter (address or CIDR);
 *   2. what the record itself says: NetFlow v5 header, sFlow sample, or sampling elements inside
 *      a v9/IPFIX data record (34, 50, 305/306, 309/310, 311);
 *   3. the exporter's sampler table from options data, looked up by the record's samplerId (48)
 *      or selectorId (302), then by its ingress interface, then the scope-wide entry;
 *   4. configured default for the exporter;
 *   5. 0: unknown.
 * With `renormalize`, bytes and packets are multiplied by the rate and the raw values kept in
 * raw_bytes / raw_packets.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { FlowRecord } from './record.js';
import type { Exporter } from './exporter.js';
import type { OptionsRow, TemplateScope } from '../templates/mod.js';

export interface SamplingRule {
  /** Exporter address or CIDR ("192.0.2.1", "10.0.0.0/8", "2001:db8::/32"). */
  exporter: string;
  rate: number;
}

export interface SamplingConfig {
  /** Rates used when nothing in the export says the rate. */
  defaults: SamplingRule[];
  /** Rates that replace whatever the export says. */
  overrides: SamplingRule[];
  /** Multiply bytes and packets by the rate (raw values kept). */
  renormalize: boolean;
  /**
   * Attach interface names and descriptions learned from options data to records (default
   * true for the library and the decode command: a record carries everything decoded; serve's
   * configuration defaults to false, see docs/sampling.md). Off, the interface tables are not
   * kept and the four fields are never written.
   */
  interface_names?: boolean;
}

export class SamplingConfigError extends Error {}

export const DEFAULT_SAMPLING: SamplingConfig = Object.freeze({ defaults: [], overrides: [], renormalize: false, interface_names: true }) as SamplingConfig;

/** Validates sampling configuration; errors name the field and the fix. */
export function resolveSampling(input: unknown, prefix = 'sampling'): SamplingConfig {
  if (input === undefined || input === null) return { defaults: [], overrides: [], renormalize: false, interface_names: true };
  if (typeof input !== 'object' || Array.isArray(input)) throw new SamplingConfigError(`${prefix}: must be an object with defaults, overrides, renormalize and interface_names`);
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['defaults', 'overrides', 'renormalize', 'interface_names'].includes(k)) {
      throw new SamplingConfigError(`${prefix}.${k}: unknown setting; valid settings are defaults, overrides, renormalize, interface_names`);
    }
  }
  const rules = (key: string): SamplingRule[] => {
    const v = o[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw new SamplingConfigError(`${prefix}.${key}: must be a list of { exporter, rate }`);
    return v.map((r, i) => {
      const name = `${prefix}.${key}[${i}]`;
      if (typeof r !== 'object' || r === null) throw new SamplingConfigError(`${name}: must be { exporter: "address or CIDR", rate: N }`);
      const { exporter, rate } = r as Record<string, unknown>;
      if (typeof exporter !== 'string' || !validCidr(exporter)) {
        throw new SamplingConfigError(`${name}.exporter: ${JSON.stringify(exporter)} is not an IP address or CIDR (e.g. "192.0.2.1" or "10.0.0.0/8")`);
      }
      if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < 1) {
        throw new SamplingConfigError(`${name}.rate: must be a whole number of at least 1 (1 = unsampled), got ${JSON.stringify(rate)}`);
      }
      return { exporter, rate };
    });
  };
  const renormalize = o['renormalize'] ?? false;
  if (typeof renormalize !== 'boolean') throw new SamplingConfigError(`${prefix}.renormalize: must be true or false`);
  const interfaceNames = o['interface_names'] ?? true;
  if (typeof interfaceNames !== 'boolean') throw new SamplingConfigError(`${prefix}.interface_names: must be true or false (false leaves in_if_name, out_if_name, in_if_desc and out_if_desc out)`);
  return { defaults: rules('defaults'), overrides: rules('overrides'), renormalize, interface_names: interfaceNames };
}

function splitCidr(s: string): [string, number, 'ipv4' | 'ipv6'] | undefined {
  const [a, l] = s.split('/');
  if (a === undefined) return undefined;
  const fam = isIPv4(a) ? 'ipv4' : isIPv6(a) ? 'ipv6' : undefined;
  if (fam === undefined) return undefined;
  const max = fam === 'ipv4' ? 32 : 128;
  const len = l === undefined ? max : Number(l);
  if (!Number.isInteger(len) || len < 0 || len > max) return undefined;
  return [a, len, fam];
}

function validCidr(s: string): boolean {
  return splitCidr(s) !== undefined;
}

/** Most specific matching rule wins. */
class RuleSet {
  private readonly rules: { list: BlockList; len: number; rate: number }[];
  constructor(rules: SamplingRule[]) {
    this.rules = rules
      .map((r) => {
        const [a, len, fam] = splitCidr(r.exporter)!;
        const list = new BlockList();
        list.addSubnet(a, len, fam);
        return { list, len: fam === 'ipv4' ? len + 96 : len, rate: r.rate };
      })
      .sort((x, y) => y.len - x.len);
  }
  match(address: string): number {
    const fam = isIPv4(address) ? 'ipv4' : 'ipv6';
    for (const r of this.rules) if (r.list.check(address, fam)) return r.rate;
    return 0;
  }
}

interface ExporterRates {
  def: number;
  override: number;
}

const MAX_TABLE_ENTRIES = 65536;

interface ScopeTables {
  /** Rate by samplerId, KEY_SELECTOR + selectorId, KEY_IF + ifIndex, or KEY_SCOPE. */
  readonly samplers: Map<number, number>;
  readonly interfaces: Map<number, IfInfo>;
  readonly vrfs: Map<number, string>;
}
/** Sampler table keys: samplerId as is, selectorId and interfaces offset, scope-wide -1. */
const KEY_SELECTOR = 2 ** 36;
const KEY_IF = 2 ** 37;
const KEY_SCOPE = -1;

export interface IfInfo {
  name: string;
  desc: string;
}

/**
 * What the fused transcoder (transcode.ts) needs to do per record what fromScope and apply do:
 * the scope's tables (null when empty) and the exporter's configured rates, set per data set.
 */
export interface SamplingInputs {
  samplers: Map<number, number> | null;
  ifaces: Map<number, IfInfo> | null;
  vrfs: Map<number, string> | null;
  defRate: number;
  overRate: number;
  renorm: boolean;
  /** The tables, and their generation, the inputs were last prepared from. */
  tablesFor: object;
  tablesGen: number;
  /** Look-ups cached from other tables, or before the tables changed, are stale: called by prepare. */
  tablesChanged(): void;
}

/** The sampler table's rate for a record: by samplerId, selectorId, ingress interface, scope; 0 if none. */
export function rateFromTables(m: Map<number, number>, samplerId: number, selectorId: number, inIf: number): number {
  let r: number | undefined;
  if (samplerId >= 0) r = m.get(samplerId);
  if (r === undefined && selectorId >= 0) r = m.get(KEY_SELECTOR + selectorId);
  if (r === undefined) r = m.get(KEY_IF + inIf) ?? m.get(KEY_SCOPE);
  return r ?? 0;
}

/** The numeric value of an options field, or -1. */
function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return -1;
}

/** The rate an options or data record's sampling fields describe, or 0. */
export function rateFromValues(v: Readonly<Record<string, unknown>>): number {
  const space = num(v['samplingPacketSpace']);
  const interval = num(v['samplingPacketInterval']);
  if (interval > 0 && space >= 0) return Math.round((interval + space) / interval);
  const size = num(v['samplingSize']);
  const pop = num(v['samplingPopulation']);
  if (size > 0 && pop > 0) return Math.round(pop / size);
  const p = v['samplingProbability'];
  if (typeof p === 'number' && p > 0 && p <= 1) return Math.round(1 / p);
  const random = num(v['samplerRandomInterval']);
  if (random > 0) return random;
  const si = num(v['samplingInterval']);
  if (si > 0) return si;
  return 0;
}

export class Sampling {
  private readonly defaults: RuleSet;
  private readonly overrides: RuleSet;
  private readonly renormalize: boolean;
  private readonly interfaceNames: boolean;
  private readonly byExporter = new WeakMap<Exporter, ExporterRates>();
  /** Counts options rows that changed a table entry: prepare's inputs made before are stale. */
  private gen = 0;

  constructor(cfg: SamplingConfig = DEFAULT_SAMPLING) {
    this.defaults = new RuleSet(cfg.defaults);
    this.overrides = new RuleSet(cfg.overrides);
    this.renormalize = cfg.renormalize;
    this.interfaceNames = cfg.interface_names !== false;
  }

  /** Learns sampler tables, interface names and VRF names from an options record. */
  onOptions(scope: TemplateScope<unknown>, row: OptionsRow): void {
    const v = row.values;
    const t = tablesOf(scope);
    let changed = false;
    const rate = rateFromValues(v);
    if (rate > 0) {
      // Keyed by what identifies the sampler: its id, its selector id, the interface the row
      // is about (scope or identifier field), else the whole scope.
      let key = KEY_SCOPE;
      const sid = num(v['samplerId']);
      const sel = num(v['selectorId']);
      const ifx = num(v['ingressInterface'] ?? v['scopeInterface']);
      if (sid >= 0) key = sid;
      else if (sel >= 0) key = KEY_SELECTOR + sel;
      else if (ifx >= 0) key = KEY_IF + ifx;
      changed = put(t.samplers, key, rate, sameValue) || changed;
    }
    const name = v['interfaceName'];
    const desc = v['interfaceDescription'];
    if (this.interfaceNames && (typeof name === 'string' || typeof desc === 'string')) {
      const ifx = num(v['ingressInterface'] ?? v['egressInterface'] ?? v['scopeInterface']);
      if (ifx >= 0) changed = put(t.interfaces, ifx, { name: typeof name === 'string' ? name : '', desc: typeof desc === 'string' ? desc : '' }, sameIf) || changed;
    }
    const vrf = v['VRFname'];
    const vrfId = num(v['ingressVRFID'] ?? v['egressVRFID']);
    if (typeof vrf === 'string' && vrfId >= 0) changed = put(t.vrfs, vrfId, vrf, sameValue) || changed;
    // Exporters repeat their options every few seconds: an unchanged row keeps the entries (and
    // the look-ups and encoded fields made from them) as they are.
    if (changed) this.gen++;
  }

  /** Per-record look-ups in the scope's tables (v9 / IPFIX). */
  fromScope(rec: FlowRecord, scope: TemplateScope<unknown>): void {
    const t = tablesOf(scope);
    if (rec.samplingRate === 0 && t.samplers.size > 0) {
      const r = rateFromTables(t.samplers, rec.samplerId, rec.selectorId, rec.inIf);
      if (r !== 0) rec.samplingRate = r;
    }
    if (t.interfaces.size > 0) {
      const i = t.interfaces.get(rec.inIf);
      if (i !== undefined) {
        rec.inIfName = i.name;
        rec.inIfDesc = i.desc;
      }
      const o = t.interfaces.get(rec.outIf);
      if (o !== undefined) {
        rec.outIfName = o.name;
        rec.outIfDesc = o.desc;
      }
    }
    if (rec.ingressVrfId >= 0) {
      const n = t.vrfs.get(rec.ingressVrfId);
      if (n !== undefined) rec.vrfName = n;
    }
  }

  /**
   * The inputs of fromScope and apply for a run of records from one scope and exporter; tells
   * the inputs when the tables are not the ones (or no longer what) they were last prepared from.
   */
  prepare(x: SamplingInputs, scope: TemplateScope<unknown>, exporter: Exporter): void {
    const t = tablesOf(scope);
    if (x.tablesFor !== t || x.tablesGen !== this.gen) {
      x.tablesFor = t;
      x.tablesGen = this.gen;
      x.tablesChanged();
    }
    x.samplers = t.samplers.size > 0 ? t.samplers : null;
    x.ifaces = t.interfaces.size > 0 ? t.interfaces : null;
    x.vrfs = t.vrfs.size > 0 ? t.vrfs : null;
    const r = this.rates(exporter);
    x.defRate = r.def;
    x.overRate = r.override;
    x.renorm = this.renormalize;
  }

  /** Configured override / default and renormalisation (every protocol). */
  apply(rec: FlowRecord, exporter: Exporter): void {
    const r = this.rates(exporter);
    if (r.override > 0) rec.samplingRate = r.override;
    else if (rec.samplingRate === 0 && r.def > 0) rec.samplingRate = r.def;
    if (this.renormalize && rec.samplingRate > 1) {
      rec.rawBytes = rec.bytes;
      rec.rawPackets = rec.packets;
      rec.bytes *= rec.samplingRate;
      rec.packets *= rec.samplingRate;
      rec.bytesIn *= rec.samplingRate;
      rec.bytesOut *= rec.samplingRate;
      rec.packetsIn *= rec.samplingRate;
      rec.packetsOut *= rec.samplingRate;
    }
  }

  /**
   * The configured rates of an exporter, matched once: remembered on the exporter for this
   * Sampling (with exporters interleaved a last-exporter check rarely matches, and a WeakMap
   * look-up costs more than the field), and in a WeakMap for when another Sampling (another
   * listener's) used the exporter since.
   */
  private rates(exporter: Exporter): ExporterRates {
    if (exporter.ratesOwner === this) return exporter.rates as ExporterRates;
    let r = this.byExporter.get(exporter);
    if (r === undefined) {
      r = { def: this.defaults.match(exporter.key), override: this.overrides.match(exporter.key) };
      this.byExporter.set(exporter, r);
    }
    exporter.ratesOwner = this;
    exporter.rates = r;
    return r;
  }
}

/** The sampling and enrichment tables of a scope, created on first use, one object per scope. */
function tablesOf(scope: TemplateScope<unknown>): ScopeTables {
  let t = scope.tables as ScopeTables | undefined;
  if (t === undefined) {
    t = { samplers: new Map(), interfaces: new Map(), vrfs: new Map() };
    scope.tables = t;
  }
  return t;
}

/**
 * Sets key to value in a table of at most MAX_TABLE_ENTRIES (a new key evicts the oldest entry);
 * false, and the table untouched, when the key already holds an equal value.
 */
function put<K, V>(m: Map<K, V>, key: K, value: V, same: (a: V, b: V) => boolean): boolean {
  const old = m.get(key);
  if (old !== undefined) {
    if (same(old, value)) return false;
  } else if (m.size >= MAX_TABLE_ENTRIES) {
    m.delete(m.keys().next().value as K);
  }
  m.set(key, value);
  return true;
}

function sameValue<V>(a: V, b: V): boolean {
  return a === b;
}

function sameIf(a: IfInfo, b: IfInfo): boolean {
  return a.name === b.name && a.desc === b.desc;
}
