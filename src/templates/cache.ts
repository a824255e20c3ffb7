import type { Exporter } from '../decode/exporter.js';
import type { Counters } from '../decode/stats.js';
import { PerLayout } from './layouts.js';
import type { TemplateLimits } from './limits.js';
import { PendingBudget, PendingQueue } from './pending.js';
import { RawRecord } from './raw.js';
import { minRecordLength, sameDefinition, templateDef, type TemplateDef } from './template.js';
import { COUNTER_ZERO, NO_TIME } from '../counting.js';

export type TemplateEvent = 'learned' | 'refreshed' | 'changed' | 'withdrawn' | 'evicted' | 'missing';
export type LearnResult = 'learned' | 'refreshed' | 'changed' | 'rejected';

export interface TemplateEntry<C> {
  readonly def: TemplateDef;
  readonly compiled: C;
  /**
   * The template record's bytes as it last came from an exporter, when it did (not for one
   * shared by another instance): a repeat with the same bytes is a refresh, found without
   * parsing it (refreshSame).
   */
  readonly raw: RawRecord | undefined;
}

/** Every entry is made here: one shape for the decoder, which reads them per data set. */
function templateEntry<C>(def: TemplateDef, compiled: C, raw: Uint8Array | undefined): TemplateEntry<C> {
  return { def, compiled, raw: raw === undefined ? undefined : new RawRecord(raw) };
}

/** One decoded options record (a row of a sampler table, interface table, ...). */
export interface OptionsRow {
  readonly templateId: number;
  /** Scope field values joined into a key ("scopeSystem=0" / "ingressInterface=3,..."). */
  readonly scopeKey: string;
  /** Every field by registry name. */
  readonly values: Readonly<Record<string, unknown>>;
  /** Receive time (ms) of the datagram that carried it. */
  readonly at: number;
}

/** Observer of template changes (the shared store subscribes here). */
export type TemplateObserver<C> = (scope: TemplateScope<C>, event: TemplateEvent, def: TemplateDef) => void;

/**
 * Template state of one exporter + observation domain (IPFIX) / source id (v9): its data and
 * options templates, its pending buffer, and its options data.
 */
export class TemplateScope<C> {
  readonly templates = new Map<number, TemplateEntry<C>>();
  /** Options rows by template id + scope key, oldest first. */
  readonly options = new Map<string, OptionsRow>();
  /** systemInitTimeMilliseconds learned from options data (IPFIX), or NO_TIME. */
  systemInitMs = NO_TIME;
  /**
   * The scope's sampling and enrichment tables (src/decode/sampling.ts), made on first use: a
   * field (it was an entry of a per-scope Map) since every data set looks them up.
   */
  tables: object | undefined = undefined;
  /** TemplateCache's use count when this scope last moved to the recent end of its LRU order. */
  touched = 0;

  constructor(
    readonly key: string,
    readonly exporterKey: string,
    readonly port: number,
    readonly domain: number,
    readonly protocol: 9 | 10,
    readonly pending: PendingQueue,
  ) {}

  get(id: number): TemplateEntry<C> | undefined {
    return this.templates.get(id);
  }
}

/** A scope's key among its exporter's scopes: the domain, and v9 and IPFIX apart (their template ids are unrelated). */
function domainKey(domain: number, protocol: 9 | 10): number {
  return domain * 2 + (protocol === 10 ? 1 : 0);
}

/**
 * Per-scope template caches with limits. Scopes are found by exporter address (+ port when
 * configured) + domain + protocol; the least-recently-used scope is evicted whole when
 * `maxSources` is reached. Compiled decoders are shared between scopes with identical layouts.
 */
export class TemplateCache<C> {
  private readonly byExporter = new Map<string, Map<number, TemplateScope<C>>>();
  /** All scopes in least- to most-recently-used order. */
  /** Scopes, least recently used first, each with the exporter key it is filed under in byExporter. */
  private readonly lru = new Map<TemplateScope<C>, string>();
  private lastUsed: TemplateScope<C> | undefined;
  /** Scopes removed so far (evicted): an Exporter's remembered scope is valid while this is unchanged. */
  private removed = COUNTER_ZERO;
  /**
   * scope() calls so far, and how many may pass before a scope in use moves to the recent end of
   * the LRU order again: moving it on every datagram (a Map delete and insert) cost ~4 % of the
   * decode loop with exporters interleaved. Capped at a quarter of maxSources, so a scope in use
   * is moved again long before that many newer scopes could push it out.
   */
  /** Scope look-ups so far (a double from the start: src/counting.ts); scopes' `touched` holds a value of it. */
  private uses = COUNTER_ZERO;
  private readonly touchEvery: number;
  /** Compiled decoder and one shared copy of the field list per layout (many exporters, one model). */
  private readonly compiledByLayout = new PerLayout<{ compiled: C; fields: TemplateDef['fields'] }>(4096);
  private readonly budget: PendingBudget;
  private readonly observers: TemplateObserver<C>[] = [];

  constructor(
    readonly limits: TemplateLimits,
    private readonly counters: Counters,
    private readonly compile: (def: TemplateDef) => C,
  ) {
    this.budget = new PendingBudget(limits.pendingMaxBytesTotal);
    this.touchEvery = Math.min(1024, Math.floor(limits.maxSources / 4));
  }

  get scopeCount(): number {
    return this.lru.size;
  }

  get pendingBytes(): number {
    return this.budget.used;
  }

  observe(fn: TemplateObserver<C>): void {
    this.observers.push(fn);
  }

  /** An exporter's part of its scopes' keys (with the port when scopes include it; no string is built here). */
  exporterKey(exporter: Exporter): string {
    return this.limits.scopeIncludesPort ? exporter.keyPort : exporter.key;
  }

  /** The scope for a datagram, created on first use. */
  scope(exporter: Exporter, domain: number, protocol: 9 | 10): TemplateScope<C> {
    const dk = domainKey(domain, protocol);
    let s: TemplateScope<C>;
    if (exporter.scopeOwner === this && exporter.scopeGen === this.removed && exporter.scopeDk === dk) {
      s = exporter.scope as TemplateScope<C>;
    } else {
      s = this.lookUp(exporter, dk, domain, protocol);
      exporter.scopeOwner = this;
      exporter.scopeGen = this.removed;
      exporter.scopeDk = dk;
      exporter.scope = s;
    }
    // A scope just created is already at the recent end.
    if (s !== this.lastUsed && this.uses - s.touched >= this.touchEvery) {
      this.lru.delete(s);
      this.lru.set(s, this.exporterKey(exporter));
      s.touched = this.uses;
    }
    this.lastUsed = s;
    this.uses++;
    return s;
  }

  /** scope()'s look-up by key, creating the scope on first use. */
  private lookUp(exporter: Exporter, dk: number, domain: number, protocol: 9 | 10): TemplateScope<C> {
    const ek = this.exporterKey(exporter);
    let byDomain = this.byExporter.get(ek);
    if (byDomain === undefined) {
      byDomain = new Map();
      this.byExporter.set(ek, byDomain);
    }
    let s = byDomain.get(dk);
    if (s === undefined) {
      s = this.createScope(ek, exporter, domain, protocol);
      byDomain.set(dk, s);
    }
    return s;
  }

  /** Finds an existing scope without creating or touching it. */
  find(exporterKey: string, domain: number, protocol: 9 | 10): TemplateScope<C> | undefined {
    return this.byExporter.get(exporterKey)?.get(domainKey(domain, protocol));
  }

  *scopes(): IterableIterator<TemplateScope<C>> {
    yield* this.lru.keys();
  }

  private createScope(ek: string, exporter: Exporter, domain: number, protocol: 9 | 10): TemplateScope<C> {
    while (this.lru.size >= this.limits.maxSources) this.evictOldest();
    const key = `${ek}/${protocol === 10 ? 'ipfix' : 'v9'}/${domain}`;
    const q = new PendingQueue(this.limits.pendingMaxBytesPerScope, this.limits.pendingMaxAgeMs, this.budget, this.counters);
    const s = new TemplateScope<C>(key, exporter.key, this.limits.scopeIncludesPort ? exporter.port : 0, domain, protocol, q);
    s.touched = this.uses;
    this.lru.set(s, ek);
    this.counters.inc('scope.created');
    return s;
  }

  private evictOldest(): void {
    const oldest = this.lru.entries().next().value as [TemplateScope<C>, string] | undefined;
    if (oldest === undefined) return;
    const [s, ek] = oldest;
    this.lru.delete(s);
    this.removed++;
    const byDomain = this.byExporter.get(ek);
    byDomain?.delete(domainKey(s.domain, s.protocol));
    if (byDomain !== undefined && byDomain.size === 0) this.byExporter.delete(ek);
    if (this.lastUsed === s) this.lastUsed = undefined;
    s.pending.clear('pending.dropped.scope_evicted');
    this.counters.inc('scope.evicted');
    for (const e of s.templates.values()) {
      this.counters.inc('template.evicted');
      this.emit(s, 'evicted', e.def);
    }
  }

  /**
   * Learns (or refreshes) a template in a scope. Returns what happened; rejected templates are
   * counted by reason and leave any previous definition in place.
   */
  learn(scope: TemplateScope<C>, def: TemplateDef, raw?: Uint8Array): LearnResult {
    const old = scope.templates.get(def.id);
    if (old !== undefined && sameDefinition(old.def, def)) {
      if (raw !== undefined && old.raw?.equals(raw) !== true) scope.templates.set(def.id, templateEntry(old.def, old.compiled, raw));
      this.refreshed(scope, def);
      return 'refreshed';
    }
    if (def.fields.length > this.limits.maxTemplateFields) {
      this.counters.inc('template.rejected.too_many_fields');
      return 'rejected';
    }
    if (minRecordLength(def) > this.limits.maxRecordLength) {
      this.counters.inc('template.rejected.record_too_long');
      return 'rejected';
    }
    if (old === undefined && scope.templates.size >= this.limits.maxTemplates) {
      this.counters.inc('template.rejected.scope_full');
      return 'rejected';
    }
    let compiled: C;
    try {
      const c = this.compiledFor(def);
      compiled = c.compiled;
      // Kept in one shape, with the layout's shared field list, whatever made `def` (templateDef).
      def = templateDef(def.protocol, def.id, def.options, def.scopeCount, c.fields);
    } catch {
      this.counters.inc('template.rejected.compile_failed');
      return 'rejected';
    }
    scope.templates.set(def.id, templateEntry(def, compiled, raw));
    const ev = old === undefined ? 'learned' : 'changed';
    this.counters.inc(`template.${ev}`);
    this.emit(scope, ev, def);
    return ev;
  }

  /**
   * A template record at buf[start, limit) that begins with the same bytes as the known template
   * `id` (a data template, or an options template when `options`) did when it last came: counted
   * and reported as a refresh like learn() would, without parsing it (exporters repeat their
   * templates every few datagrams). `view` is a DataView over all of buf. Returns where the record
   * ends, or -1 when it is not such a repeat.
   */
  refreshSame(scope: TemplateScope<C>, id: number, options: boolean, buf: Uint8Array, view: DataView, start: number, limit: number): number {
    const e = scope.templates.get(id);
    if (e === undefined || e.raw === undefined || e.def.options !== options) return -1;
    const end = e.raw.endAt(buf, view, start, limit);
    if (end >= 0) this.refreshed(scope, e.def);
    return end;
  }

  private refreshed(scope: TemplateScope<C>, def: TemplateDef): void {
    this.counters.inc('template.refreshed');
    this.emit(scope, 'refreshed', def);
  }

  /** Withdraws one template; false if it was not known. */
  withdraw(scope: TemplateScope<C>, id: number): boolean {
    const old = scope.templates.get(id);
    if (old === undefined) {
      this.counters.inc('template.withdrawn_unknown');
      return false;
    }
    scope.templates.delete(id);
    this.counters.inc('template.withdrawn');
    this.emit(scope, 'withdrawn', old.def);
    return true;
  }

  /** Withdraws all data templates (options=false) or all options templates (options=true). */
  withdrawAll(scope: TemplateScope<C>, options: boolean): number {
    let n = 0;
    for (const [id, e] of scope.templates) {
      if (e.def.options === options) {
        scope.templates.delete(id);
        this.counters.inc('template.withdrawn');
        this.emit(scope, 'withdrawn', e.def);
        n++;
      }
    }
    return n;
  }

  /** Counts a data set whose template is not known. */
  missing(scope: TemplateScope<C>, id: number): void {
    this.counters.inc('template.missing');
    if (this.observers.length > 0) {
      this.emit(scope, 'missing', { protocol: scope.protocol, id, options: false, scopeCount: 0, fields: [] });
    }
  }

  /** Expires old pending data in every scope; call periodically (e.g. once per batch). */
  sweep(nowMs: number): void {
    for (const s of this.lru.keys()) if (s.pending.size > 0) s.pending.expire(nowMs);
  }

  /** Keeps an options row, bounded per scope (oldest rows go first). */
  keepOptions(scope: TemplateScope<C>, row: OptionsRow): boolean {
    const k = `${row.templateId}|${row.scopeKey}`;
    const old = scope.options.get(k);
    let changed = true;
    if (old !== undefined) {
      changed = !sameValues(old.values, row.values);
      scope.options.delete(k);
    } else if (scope.options.size >= this.limits.maxOptionsRecords) {
      const oldest = scope.options.keys().next().value as string;
      scope.options.delete(oldest);
      this.counters.inc('options.evicted');
    }
    scope.options.set(k, row);
    return changed;
  }

  private compiledFor(def: TemplateDef): { compiled: C; fields: TemplateDef['fields'] } {
    return this.compiledByLayout.get(def, () => ({ compiled: this.compile(def), fields: def.fields }));
  }

  private emit(scope: TemplateScope<C>, ev: TemplateEvent, def: TemplateDef): void {
    for (const o of this.observers) o(scope, ev, def);
  }
}

/** Whether two options rows carry the same values (primitives, or bytes compared bytewise). */
function sameValues(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    const x = a[k];
    const y = b[k];
    if (x === y) continue;
    if (x instanceof Uint8Array && y instanceof Uint8Array) {
      if (x.length !== y.length) return false;
      for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
      continue;
    }
    return false;
  }
  return true;
}
