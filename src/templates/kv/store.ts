/**
 * The NATS JetStream KV template store: one per collector process, in the main thread.
 *
 * It implements the TemplateStore seam between instances. What this instance's workers learn
 * from the wire (templates, withdrawals, options rows) is written to the bucket, asynchronously
 * and coalesced per key, only when it differs from the stored copy or the stored copy is older
 * than the refresh interval. Every instance watches the whole bucket (last values first: the
 * preload) and hands what others wrote to its subscriber; a miss the watch has not covered yet
 * is looked up with an async get. Nothing here blocks or throws into the decode path: while
 * NATS is away, writes wait in a bounded outbox (counted when it overflows) and are sent when
 * it is back; the connection is retried forever.
 *
 * Convergence ("the wire is the truth"): every value carries the time its definition was learned
 * from the wire. A stored value older than what this instance learned from the wire for that key
 * is ignored and ours written again (a conflict); otherwise it is applied, so instances converge
 * on the definition learned last. A delete withdraws the template everywhere unless this
 * instance learned it from the wire after the delete marker's time. docs/scaling.md.
 */
import { Kvm, type KV, type KvEntry, type KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection, NodeConnectionOptions } from '@nats-io/transport-node';
import type { QueuedIterator } from '@nats-io/nats-core';
import { connectForever, backoffMs, type ConnectLoop } from '../../output/nats/connect.js';
import { TemplateCodecError } from '../codec.js';
import { PerLayout } from '../layouts.js';
import type { OptionsRow } from '../cache.js';
import type { TemplateLimits } from '../limits.js';
import { sameDefinition, templateDef, type TemplateDef } from '../template.js';
import type { ScopeRef, StoreChange, TemplateLookup, TemplateStore } from '../store.js';
import { decodeEnvelope, encodeOptionsBody, encodeOptionsEnvelope, encodeTemplateEnvelope, type Envelope } from './envelope.js';
import { keyToken, optionsKey, parseKey, scopePrefix, templateKey, type ParsedKey } from './key.js';

export type KvLog = (level: 'info' | 'warn' | 'error', key: string, msg: string, fields?: Record<string, unknown>) => void;

export interface KvStoreOptions {
  /** Connection options (servers, auth, TLS): the same as the NATS outputs'. */
  connection: NodeConnectionOptions;
  bucket: string;
  history: number;
  /** Seconds; 0 = no TTL. */
  ttlS: number;
  replicas: number;
  /** Seconds; 0 = ttlS / 3, or never without a TTL. */
  refreshS: number;
  /** Every listener with its template limits (bounds of this store's cache). */
  listeners: readonly { name: string; limits: TemplateLimits }[];
  /** This instance's name, carried in every value (unique per process start). */
  origin: string;
  log: KvLog;
  /** Writes waiting while NATS is away; more are dropped and counted. Default 65536. */
  outboxMax?: number;
  /** How long a "not in the bucket" answer is believed, in ms. Default 2000. */
  negativeTtlMs?: number;
}

/** Buckets (seconds) of the miss-to-arrival histogram. */
export const MISS_BUCKETS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type KvState = 'connecting' | 'opening' | 'ready' | 'disconnected' | 'closed';

export interface KvStats {
  counts: Record<string, number>;
  state: KvState;
  preloaded: boolean;
  preloadMs: number;
  watchPending: number;
  watchLagMs: number;
  outbox: number;
  cachedTemplates: number;
  cachedScopes: number;
  missCounts: number[];
  missSum: number;
}

interface ScopeState {
  readonly ref: ScopeRef;
  readonly templates: Map<number, KeyState>;
  readonly options: Map<string, KeyState>;
}

interface KeyState {
  readonly key: string;
  readonly scope: ScopeState;
  readonly kind: 't' | 'o';
  /** Template id, or options template id. */
  readonly id: number;
  /** What the workers have now (template). */
  def: TemplateDef | undefined;
  /** What the workers have now (options row) and its values as text (to compare). */
  row: OptionsRow | undefined;
  cmp: string | undefined;
  /** When this instance last learned it from the wire (ms; 0 never). */
  wireAt: number;
  /** When this instance last saw it withdrawn on the wire (ms; 0 never). */
  withdrawnAt: number;
  /** The bucket's copy as far as we know: learnedAt (0 none), and definition / row text. */
  storedAt: number;
  storedDef: TemplateDef | undefined;
  storedCmp: string | undefined;
}

interface ListenerState {
  readonly name: string;
  readonly limits: TemplateLimits;
  /** Scopes in least- to most-recently-used order. */
  readonly scopes: Map<string, ScopeState>;
}

type Op = { del: false; value: Uint8Array } | { del: true };

const REQUEST_INTERVAL_MS = 1000;
const MAX_TRACKED = 16_384;
const GET_CONCURRENCY = 8;
const GET_QUEUE_MAX = 4096;
const PUT_WINDOW = 32;
/** After the preload, a look-up waits this long for the watch to bring the template first. */
const GET_DELAY_MS = 100;
/**
 * How often the bucket's last revision is compared with the watch's. The client notices a watch
 * consumer lost with a server only after two missed heartbeats, and a recreated one beats every
 * 30 s: a minute without changes from other instances after a node loss (measured on a 3-node
 * 2.9.10 cluster). Two checks without progress while the bucket is ahead restart the watch.
 */
const WATCH_CHECK_MS = 5000;

function rowCmp(row: OptionsRow): string {
  return new TextDecoder().decode(encodeOptionsBody({ ...row, at: 0 }));
}

/** A bounded map: cleared when it grows past `max` (remembered times, not state). */
function boundedSet<K, V>(m: Map<K, V>, k: K, v: V, max = MAX_TRACKED): void {
  if (!m.has(k) && m.size >= max) m.clear();
  m.set(k, v);
}

export class NatsKvTemplateStore implements TemplateStore {
  readonly origin: string;
  private readonly o: KvStoreOptions;
  private readonly refreshMs: number;
  private readonly outboxMax: number;
  private readonly negativeTtlMs: number;
  private readonly listeners = new Map<string, ListenerState>();
  private readonly index = new Map<string, KeyState>();
  /** One shared field list per layout: many exporters (one model) send the same templates. */
  private readonly layouts = new PerLayout<TemplateDef['fields']>(4096);
  private readonly outbox = new Map<string, Op>();
  private readonly inflight = new Map<string, Op>();
  private readonly getQueue = new Map<string, ScopeRef>();
  private getsInFlight = 0;
  private readonly asked = new Map<string, number>();
  private readonly negative = new Map<string, number>();
  private readonly missAt = new Map<string, number>();
  private readonly missCounts = new Array<number>(MISS_BUCKETS_S.length + 1).fill(0);
  private missSum = 0;
  private readonly counts: Record<string, number> = {
    puts: 0,
    deletes: 0,
    gets_hit: 0,
    gets_miss: 0,
    gets_error: 0,
    gets_negative_cached: 0,
    gets_dropped: 0,
    preloaded: 0,
    applied: 0,
    conflicts: 0,
    codec_errors: 0,
    backend_errors: 0,
    outbox_dropped: 0,
    cache_full: 0,
    ignored_keys: 0,
    reconnects: 0,
    watch_restarts: 0,
  };
  private onChange: ((c: StoreChange) => void) | undefined;
  private state: KvState = 'connecting';
  private loop: ConnectLoop | undefined;
  private nc: NatsConnection | undefined;
  private kv: KV | undefined;
  private watcher: QueuedIterator<KvWatchEntry> | undefined;
  private lastRevision = 0;
  private preloaded = false;
  private preloadStart = 0;
  private preloadMs = 0;
  private watchPending = 0;
  private watchLagMs = 0;
  private pumpTimer: NodeJS.Timeout | undefined;
  private getTimer: NodeJS.Timeout | undefined;
  private putFailures = 0;
  private rewatch = false;
  private watchCheck: NodeJS.Timeout | undefined;
  /** Checks in a row that found the bucket ahead of the watch with no delivery since, and the watch's revision then. */
  private behind = 0;
  private behindRev = -1;
  /** The watch's revision at its last restart by checkWatch (-1: none), and restarts in a row at that revision. */
  private restartRev = -1;
  private restartStreak = 0;
  private closed = false;
  private started: Promise<void> | undefined;

  constructor(opts: KvStoreOptions) {
    this.o = opts;
    this.origin = opts.origin;
    this.refreshMs = (opts.refreshS > 0 ? opts.refreshS : opts.ttlS > 0 ? Math.max(1, Math.floor(opts.ttlS / 3)) : 0) * 1000;
    this.outboxMax = opts.outboxMax ?? 65_536;
    this.negativeTtlMs = opts.negativeTtlMs ?? 2000;
    for (const l of opts.listeners) this.listeners.set(keyToken(l.name), { name: l.name, limits: l.limits, scopes: new Map() });
  }

  /**
   * Connects, opens the bucket and starts the watch (once the subscriber can take what it
   * delivers: the preload is handed over at once). Until then learned templates only queue.
   */
  start(): void {
    if (this.started === undefined && !this.closed) {
      this.started = this.run();
      this.watchCheck = setInterval(() => void this.checkWatch(), WATCH_CHECK_MS);
      this.watchCheck.unref();
    }
  }

  // ---- the seam: what this instance learned from the wire ----

  learned(scope: ScopeRef, def: TemplateDef, at: number): void {
    this.fromWire(scope, def, at);
  }

  /** The same definition seen again on the wire (workers report it at most every refresh/2). */
  refreshed(scope: ScopeRef, def: TemplateDef, at: number): void {
    this.fromWire(scope, def, at);
  }

  withdrawn(scope: ScopeRef, id: number): void {
    const st = this.templateState(scope, id, true);
    if (st === undefined) return;
    st.def = undefined;
    st.wireAt = 0;
    st.withdrawnAt = Date.now();
    this.enqueue(st.key, { del: true });
  }

  options(scope: ScopeRef, row: OptionsRow): void {
    const st = this.optionsState(scope, row.templateId, row.scopeKey, true);
    if (st === undefined) return;
    const cmp = rowCmp(row);
    const at = Date.now();
    st.row = row;
    st.cmp = cmp;
    st.wireAt = at;
    if (st.storedCmp === cmp && !this.stale(st.storedAt, at)) return;
    this.putOptions(st, row, at);
  }

  missing(scope: ScopeRef, id: number): void {
    const st = this.templateState(scope, id, false);
    if (st?.def !== undefined) {
      this.deliver({ kind: 'template', scope: st.scope.ref, def: st.def, learnedAt: st.storedAt, origin: this.origin });
      return;
    }
    const key = this.keyOf(scope, id);
    if (key === undefined) return;
    const now = Date.now();
    if (!this.missAt.has(key)) boundedSet(this.missAt, key, now);
    const neg = this.negative.get(key);
    if (neg !== undefined && neg > now) {
      this.counts['gets_negative_cached']!++;
      return;
    }
    const last = this.asked.get(key);
    if (last !== undefined && now - last < REQUEST_INTERVAL_MS) return;
    boundedSet(this.asked, key, now);
    if (this.getQueue.size >= GET_QUEUE_MAX) {
      this.counts['gets_dropped']!++;
      return;
    }
    this.getQueue.set(key, scope);
    if (!this.preloaded) this.pumpGets();
    else if (this.getTimer === undefined) {
      // The watch is live: what was written before the miss is usually on its way (in order,
      // options rows before their templates); ask only for what it has not brought meanwhile.
      this.getTimer = setTimeout(() => {
        this.getTimer = undefined;
        this.pumpGets();
      }, GET_DELAY_MS);
      this.getTimer.unref();
    }
  }

  subscribe(onChange: (change: StoreChange) => void, _lookup: TemplateLookup): void {
    this.onChange = onChange;
  }

  /** The definition this store holds for a template (workers' requests are answered from it). */
  lookup(scope: ScopeRef, id: number): TemplateDef | undefined {
    return this.templateState(scope, id, false)?.def;
  }

  stats(): Record<string, number> {
    return { ...this.counts };
  }

  kvStats(): KvStats {
    let scopes = 0;
    for (const l of this.listeners.values()) scopes += l.scopes.size;
    return {
      counts: { ...this.counts },
      state: this.state,
      preloaded: this.preloaded,
      preloadMs: this.preloadMs,
      watchPending: this.watchPending,
      watchLagMs: this.watchLagMs,
      outbox: this.outbox.size + this.inflight.size,
      cachedTemplates: this.index.size,
      cachedScopes: scopes,
      missCounts: [...this.missCounts],
      missSum: this.missSum,
    };
  }

  get connectionState(): KvState {
    return this.state;
  }

  get isPreloaded(): boolean {
    return this.preloaded;
  }

  /** Waits (at most `ms`) for queued writes to be sent, then closes the connection. */
  async close(ms = 1000): Promise<void> {
    if (this.closed) return;
    const end = Date.now() + ms;
    while (this.state === 'ready' && this.outbox.size + this.inflight.size > 0 && Date.now() < end) {
      this.pump();
      await new Promise((r) => setTimeout(r, 20));
    }
    this.closed = true;
    this.state = 'closed';
    if (this.pumpTimer !== undefined) clearTimeout(this.pumpTimer);
    if (this.getTimer !== undefined) clearTimeout(this.getTimer);
    if (this.watchCheck !== undefined) clearInterval(this.watchCheck);
    this.loop?.stop();
    this.watcher?.stop();
    const nc = this.nc;
    if (nc !== undefined) await nc.close().catch(() => {});
    await this.started?.catch(() => {});
  }

  // ---- wire side ----

  private intern(def: TemplateDef): TemplateDef {
    const f = this.layouts.get(def, () => def.fields);
    return f === def.fields ? def : templateDef(def.protocol, def.id, def.options, def.scopeCount, f);
  }

  private fromWire(scope: ScopeRef, wireDef: TemplateDef, at: number): void {
    const def = this.intern(wireDef);
    const st = this.templateState(scope, def.id, true);
    if (st === undefined) return;
    st.wireAt = Math.max(st.wireAt, at);
    st.withdrawnAt = 0;
    st.def = def;
    this.arrived(st.key);
    if (st.storedDef !== undefined && sameDefinition(st.storedDef, def) && !this.stale(st.storedAt, at)) return;
    this.putTemplate(st, def, st.wireAt);
  }

  /** Whether a stored copy learned at `storedAt` needs a refresh write at `now`. */
  private stale(storedAt: number, now: number): boolean {
    return this.refreshMs > 0 && now - storedAt >= this.refreshMs;
  }

  private putTemplate(st: KeyState, def: TemplateDef, learnedAt: number): void {
    let value: Uint8Array;
    try {
      value = encodeTemplateEnvelope(def, learnedAt, this.origin);
    } catch {
      this.counts['codec_errors']!++;
      return;
    }
    this.enqueue(st.key, { del: false, value });
  }

  private putOptions(st: KeyState, row: OptionsRow, learnedAt: number): void {
    let value: Uint8Array;
    try {
      value = encodeOptionsEnvelope(row, learnedAt, this.origin);
    } catch {
      this.counts['codec_errors']!++;
      return;
    }
    this.enqueue(st.key, { del: false, value });
  }

  private enqueue(key: string, op: Op): void {
    if (!this.outbox.has(key)) {
      if (this.outbox.size >= this.outboxMax) {
        this.counts['outbox_dropped']!++;
        return;
      }
    } else {
      this.outbox.delete(key); // latest wins, and goes to the back
    }
    this.outbox.set(key, op);
    this.pump();
  }

  // ---- the local cache (bounded like the workers' template caches) ----

  private listenerOf(name: string): ListenerState | undefined {
    return this.listeners.get(keyToken(name));
  }

  private keyOf(scope: ScopeRef, id: number): string | undefined {
    const l = this.listenerOf(scope.listener);
    return l === undefined ? undefined : templateKey(scope, l.limits.scopeIncludesPort, id);
  }

  private scopeState(scope: ScopeRef, create: boolean): ScopeState | undefined {
    const l = this.listenerOf(scope.listener);
    if (l === undefined) return undefined;
    const sk = scopePrefix(scope, l.limits.scopeIncludesPort);
    let s = l.scopes.get(sk);
    if (s !== undefined) {
      l.scopes.delete(sk);
      l.scopes.set(sk, s);
      return s;
    }
    if (!create) return undefined;
    while (l.scopes.size >= l.limits.maxSources) {
      const [oldKey, old] = l.scopes.entries().next().value as [string, ScopeState];
      l.scopes.delete(oldKey);
      for (const k of old.templates.values()) this.index.delete(k.key);
      for (const k of old.options.values()) this.index.delete(k.key);
    }
    const ref: ScopeRef = { listener: l.name, protocol: scope.protocol, exporter: scope.exporter, port: l.limits.scopeIncludesPort ? scope.port : 0, domain: scope.domain };
    s = { ref, templates: new Map(), options: new Map() };
    l.scopes.set(sk, s);
    return s;
  }

  private newKey(key: string, scope: ScopeState, kind: 't' | 'o', id: number): KeyState {
    const st: KeyState = { key, scope, kind, id, def: undefined, row: undefined, cmp: undefined, wireAt: 0, withdrawnAt: 0, storedAt: 0, storedDef: undefined, storedCmp: undefined };
    this.index.set(key, st);
    return st;
  }

  private templateState(scope: ScopeRef, id: number, create: boolean): KeyState | undefined {
    const s = this.scopeState(scope, create);
    if (s === undefined) return undefined;
    let st = s.templates.get(id);
    if (st !== undefined || !create) return st;
    const l = this.listenerOf(scope.listener)!;
    if (s.templates.size >= l.limits.maxTemplates) {
      this.counts['cache_full']!++;
      return undefined;
    }
    st = this.newKey(templateKey(s.ref, l.limits.scopeIncludesPort, id), s, 't', id);
    s.templates.set(id, st);
    return st;
  }

  private optionsState(scope: ScopeRef, templateId: number, rowScopeKey: string, create: boolean): KeyState | undefined {
    const s = this.scopeState(scope, create);
    if (s === undefined) return undefined;
    const rk = `${templateId}|${rowScopeKey}`;
    let st = s.options.get(rk);
    if (st !== undefined || !create) return st;
    const l = this.listenerOf(scope.listener)!;
    if (s.options.size >= l.limits.maxOptionsRecords) {
      const [oldKey, old] = s.options.entries().next().value as [string, KeyState];
      s.options.delete(oldKey);
      this.index.delete(old.key);
    }
    st = this.newKey(optionsKey(s.ref, l.limits.scopeIncludesPort, templateId, rowScopeKey), s, 'o', templateId);
    s.options.set(rk, st);
    return st;
  }

  private deliver(c: StoreChange): void {
    try {
      this.onChange?.(c);
    } catch (err) {
      this.o.log('warn', 'kv.deliver', 'template store: could not hand a change to the workers', { error: String(err) });
    }
  }

  /** A template this instance was missing is here: observe the wait. */
  private arrived(key: string): void {
    const t0 = this.missAt.get(key);
    if (t0 === undefined) return;
    this.missAt.delete(key);
    this.negative.delete(key);
    const s = (Date.now() - t0) / 1000;
    let i = 0;
    while (i < MISS_BUCKETS_S.length && s > MISS_BUCKETS_S[i]!) i++;
    this.missCounts[i]!++;
    this.missSum += s;
  }

  // ---- the bucket side ----

  private withPort = (token: string): boolean | undefined => this.listeners.get(token)?.limits.scopeIncludesPort;

  /** A value from the watch or a get. */
  private fromBucket(e: KvEntry, via: 'preload' | 'watch' | 'get'): void {
    const p = parseKey(e.key, this.withPort);
    if (p === undefined) {
      this.counts['ignored_keys']!++;
      return;
    }
    const l = this.listeners.get(p.listenerToken)!;
    const ref: ScopeRef = { listener: l.name, protocol: p.protocol, exporter: p.exporter, port: p.port, domain: p.domain };
    if (e.operation !== 'PUT') {
      this.deleted(e, p, ref, via);
      return;
    }
    let env: Envelope;
    try {
      env = decodeEnvelope(e.value);
      if ((env.kind === 'template') !== (p.kind === 't')) throw new TemplateCodecError('value kind does not match the key');
      if (env.kind === 'template' && (String(env.def.id) !== p.id || env.def.protocol !== p.protocol)) throw new TemplateCodecError('template id or protocol does not match the key');
    } catch {
      this.counts['codec_errors']!++;
      return;
    }
    if (env.kind === 'template') this.templateFromBucket(ref, { ...env, def: this.intern(env.def) }, e.key, via);
    else this.optionsFromBucket(ref, env, via);
  }

  private templateFromBucket(ref: ScopeRef, env: Extract<Envelope, { kind: 'template' }>, key: string, via: 'preload' | 'watch' | 'get'): void {
    const st = this.templateState(ref, env.def.id, true);
    if (st === undefined) return;
    if (st.key !== key) {
      this.counts['ignored_keys']!++;
      return;
    }
    const mine = env.origin === this.origin;
    if (mine || st.wireAt > env.learnedAt || st.withdrawnAt > env.learnedAt) {
      st.storedAt = env.learnedAt;
      st.storedDef = env.def;
      if (mine) return;
      if (st.withdrawnAt > env.learnedAt) {
        // Withdrawn on our wire after they learned it: delete again.
        this.counts['conflicts']!++;
        this.enqueue(st.key, { del: true });
      } else if (st.def !== undefined && !sameDefinition(st.def, env.def)) {
        // We learned another definition from the wire more recently: ours stays, and is written back.
        this.counts['conflicts']!++;
        this.putTemplate(st, st.def, st.wireAt);
      }
      return;
    }
    const changed = st.def === undefined || !sameDefinition(st.def, env.def);
    st.def = env.def;
    st.storedAt = env.learnedAt;
    st.storedDef = env.def;
    if (via === 'preload') this.counts['preloaded']!++;
    this.arrived(st.key);
    if (changed || via === 'get') {
      this.counts['applied']!++;
      this.deliver({ kind: 'template', scope: st.scope.ref, def: env.def, learnedAt: env.learnedAt, origin: env.origin });
    }
  }

  private optionsFromBucket(ref: ScopeRef, env: Extract<Envelope, { kind: 'options' }>, via: 'preload' | 'watch' | 'get'): void {
    const st = this.optionsState(ref, env.row.templateId, env.row.scopeKey, true);
    if (st === undefined) return;
    const cmp = rowCmp(env.row);
    const mine = env.origin === this.origin;
    if (mine || st.wireAt > env.learnedAt) {
      st.storedAt = env.learnedAt;
      st.storedCmp = cmp;
      if (!mine && st.row !== undefined && st.cmp !== cmp) {
        this.counts['conflicts']!++;
        this.putOptions(st, st.row, st.wireAt);
      }
      return;
    }
    const changed = st.cmp !== cmp;
    st.row = env.row;
    st.cmp = cmp;
    st.storedAt = env.learnedAt;
    st.storedCmp = cmp;
    if (via === 'preload') this.counts['preloaded']!++;
    if (changed) {
      this.counts['applied']!++;
      this.deliver({ kind: 'options', scope: st.scope.ref, row: env.row, origin: env.origin });
    }
  }

  /** A DEL or PURGE marker. */
  private deleted(e: KvEntry, p: ParsedKey, ref: ScopeRef, via: 'preload' | 'watch' | 'get'): void {
    if (via === 'get') return; // answered in get(): a miss
    const st = this.index.get(e.key);
    const markerAt = e.created.getTime();
    if (st === undefined) {
      // Not cached here; the workers may still hold it (evicted here only). Nothing to do at start.
      if (p.kind === 't' && via === 'watch') this.deliver({ kind: 'withdraw', scope: ref, id: Number(p.id), origin: 'kv' });
      return;
    }
    st.storedAt = 0;
    st.storedDef = undefined;
    st.storedCmp = undefined;
    if (st.kind === 'o') {
      st.scope.options.forEach((v, k) => {
        if (v === st) st.scope.options.delete(k);
      });
      this.index.delete(st.key);
      return;
    }
    if (st.def !== undefined && st.wireAt > markerAt) {
      // Learned from the wire again after the delete: the wire wins, write it back.
      this.counts['conflicts']!++;
      this.putTemplate(st, st.def, st.wireAt);
      return;
    }
    if (st.def !== undefined) {
      st.def = undefined;
      st.wireAt = 0;
      this.counts['applied']!++;
      this.deliver({ kind: 'withdraw', scope: st.scope.ref, id: st.id, origin: 'kv' });
    }
  }

  // ---- connection, bucket, watch, writes, gets ----

  /** Sessions one after the other: a connection the client gives up on is replaced (forever). */
  private async run(): Promise<void> {
    for (let round = 0; !this.closed; round++) {
      await this.session();
      if (this.closed) return;
      this.kv = undefined;
      this.state = 'connecting';
      this.o.log('warn', 'kv.closed', 'template store: the NATS connection closed; connecting again', {});
      await this.sleep(backoffMs(round));
    }
  }

  private async session(): Promise<void> {
    this.loop = connectForever(this.o.connection, (err, n) => {
      if (n === 0 || n % 10 === 0) this.o.log('warn', 'kv.connect', 'template store: cannot connect to NATS; retrying (decoding goes on with local templates)', { error: err.message, attempt: n + 1 });
    });
    const nc = await this.loop.connection;
    if (nc === undefined || this.closed) return;
    this.nc = nc;
    void this.watchStatus(nc);
    for (let n = 0; !this.closed && !nc.isClosed(); n++) {
      this.state = 'opening';
      try {
        await this.openBucket(nc);
        break;
      } catch (err) {
        this.counts['backend_errors']!++;
        if (n === 0 || n % 10 === 0) this.o.log('warn', 'kv.open', `template store: cannot open or create bucket ${this.o.bucket}; retrying`, { error: (err as Error).message });
        await this.sleep(backoffMs(n));
      }
    }
    if (this.closed || nc.isClosed()) return;
    this.state = 'ready';
    this.pump();
    this.pumpGets();
    for (let n = 0; !this.closed && !nc.isClosed(); n++) {
      try {
        await this.watch();
        n = 0;
      } catch (err) {
        if (this.closed || nc.isClosed()) return;
        if (this.rewatch) {
          this.rewatch = false;
          continue;
        }
        this.counts['backend_errors']!++;
        if (n === 0 || n % 10 === 0) this.o.log('warn', 'kv.watch', 'template store: watch failed; retrying', { error: (err as Error).message });
      }
      if (!this.closed) await this.sleep(backoffMs(n));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms).unref());
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (this.closed) return;
      if (s.type === 'disconnect') {
        if (this.kv !== undefined) this.state = 'disconnected';
        this.o.log('warn', 'kv.disconnect', 'template store: disconnected from NATS; decoding goes on, writes wait (bounded)', {});
      } else if (s.type === 'reconnect') {
        this.counts['reconnects']!++;
        if (this.kv !== undefined) this.state = 'ready';
        // Start the watch again from the last revision seen rather than wait for its heartbeats
        // to notice a consumer lost with the server.
        this.restartWatch();
        this.o.log('info', 'kv.reconnect', 'template store: reconnected to NATS', {});
        this.putFailures = 0;
        this.pump();
        this.pumpGets();
      }
    }
  }

  private async openBucket(nc: NatsConnection): Promise<void> {
    const o = this.o;
    const kvm = new Kvm(nc);
    const kv = await kvm.create(o.bucket, { history: o.history, ttl: o.ttlS * 1000, replicas: o.replicas, storage: 'file' });
    // On nats-server 2.9 creating an existing bucket binds to it and ignores the options: compare.
    const st = await kv.status();
    const diff: Record<string, { wanted: unknown; bucket: unknown }> = {};
    if (st.history !== o.history) diff['kv_history'] = { wanted: o.history, bucket: st.history };
    if (Math.round(st.ttl / 1000) !== o.ttlS) diff['kv_ttl_s'] = { wanted: o.ttlS, bucket: Math.round(st.ttl / 1000) };
    if (st.replicas !== o.replicas) diff['kv_replicas'] = { wanted: o.replicas, bucket: st.replicas };
    if (st.storage !== 'file') diff['storage'] = { wanted: 'file', bucket: st.storage };
    if (Object.keys(diff).length > 0) {
      o.log('warn', 'kv.settings', `template store: bucket ${o.bucket} exists with other settings; using it as it is`, { differences: diff });
    }
    o.log('info', 'kv.open', `template store: bucket ${o.bucket} ready`, { values: st.values, history: st.history, ttl_s: Math.round(st.ttl / 1000), replicas: st.replicas });
    if (st.values === 0 && !this.preloaded) {
      this.preloaded = true;
      this.preloadMs = 0;
    }
    this.kv = kv;
  }

  private async watch(): Promise<void> {
    const kv = this.kv!;
    const first = this.lastRevision === 0;
    if (first) this.preloadStart = Date.now();
    const w = await kv.watch(first ? { key: '>' } : { key: '>', resumeFromRevision: this.lastRevision + 1 });
    this.watcher = w;
    for await (const e of w) {
      if (this.closed) break;
      this.lastRevision = Math.max(this.lastRevision, e.revision);
      this.watchPending = e.delta ?? 0;
      const via = !this.preloaded && first ? 'preload' : 'watch';
      if (via === 'watch') this.watchLagMs = Math.max(0, Date.now() - e.created.getTime());
      this.fromBucket(e, via);
      if (!this.preloaded && (e.isUpdate || e.delta === 0)) {
        this.preloaded = true;
        this.preloadMs = Date.now() - this.preloadStart;
        this.o.log('info', 'kv.preload', 'template store: bucket loaded', { preloaded: this.counts['preloaded'], ms: this.preloadMs });
      }
    }
    if (!this.closed) throw new Error('watch ended');
  }

  /**
   * Restarts a watch that has stopped delivering: the bucket holds revisions past the last one the
   * watch brought, at two checks in a row, with no delivery between them.
   */
  private async checkWatch(): Promise<void> {
    const kv = this.kv;
    if (kv === undefined || this.state !== 'ready' || this.watcher === undefined || !this.preloaded) return;
    let last: number;
    try {
      const st = (await kv.status()).streamInfo.state;
      // An empty bucket (every value expired) keeps its last sequence number: nothing to deliver.
      last = st.messages > 0 ? st.last_seq : 0;
    } catch {
      return; // no stream leader just now: the puts and the watch report that themselves
    }
    const rev = this.lastRevision;
    if (last <= rev) {
      this.behind = 0;
      return;
    }
    this.behind = this.behindRev === rev ? this.behind + 1 : 1;
    this.behindRev = rev;
    // Two checks in a row; after a restart that brought nothing (a value deleted by hand, which no
    // watch can deliver), twice as many as the time before, up to 60 (5 minutes).
    const again = this.restartRev === rev;
    if (this.behind < (again ? Math.min(60, 4 << this.restartStreak) : 2)) return;
    this.restartStreak = again ? this.restartStreak + 1 : 0;
    this.restartRev = rev;
    this.behind = 0;
    this.counts['watch_restarts']!++;
    this.o.log('warn', 'kv.watch', 'template store: the watch stopped delivering; starting it again', { revision: rev, bucket_revision: last });
    this.restartWatch();
  }

  /** Ends the current watch; the session loop starts the next one from the last revision seen. */
  private restartWatch(): void {
    if (this.watcher === undefined || this.closed) return;
    this.rewatch = true;
    this.watcher.stop();
  }

  private pump(): void {
    const kv = this.kv;
    if (kv === undefined || this.state !== 'ready' || this.closed || this.pumpTimer !== undefined) return;
    for (const [key, op] of this.outbox) {
      if (this.inflight.size >= PUT_WINDOW) break;
      if (this.inflight.has(key)) continue;
      this.outbox.delete(key);
      this.inflight.set(key, op);
      const p = op.del ? kv.delete(key).then(() => 0) : kv.put(key, op.value);
      p.then(
        () => {
          this.inflight.delete(key);
          this.putFailures = 0;
          if (op.del) this.counts['deletes']!++;
          else this.counts['puts']!++;
          this.pump();
        },
        (err: Error) => {
          this.inflight.delete(key);
          this.counts['backend_errors']!++;
          // Not superseded meanwhile: try again later (at the back; bound counted).
          if (!this.outbox.has(key) && !this.closed) {
            if (this.outbox.size >= this.outboxMax) this.counts['outbox_dropped']!++;
            else this.outbox.set(key, op);
          }
          const n = this.putFailures++;
          if (n === 0 || n % 50 === 0) this.o.log('warn', 'kv.put', 'template store: write failed; will retry', { error: err.message, queued: this.outbox.size });
          if (this.pumpTimer === undefined && !this.closed) {
            this.pumpTimer = setTimeout(() => {
              this.pumpTimer = undefined;
              this.pump();
            }, backoffMs(Math.min(n, 5)));
            this.pumpTimer.unref();
          }
        },
      );
    }
  }

  private pumpGets(): void {
    const kv = this.kv;
    if (kv === undefined || this.closed) return;
    while (this.getsInFlight < GET_CONCURRENCY && this.getQueue.size > 0) {
      const key = this.getQueue.keys().next().value as string;
      this.getQueue.delete(key);
      if (this.index.get(key)?.def !== undefined) continue; // the watch brought it
      if (this.state !== 'ready') {
        this.counts['gets_error']!++;
        continue;
      }
      this.getsInFlight++;
      kv.get(key).then(
        (e) => {
          this.getsInFlight--;
          if (e === null || e.operation !== 'PUT') {
            this.counts['gets_miss']!++;
            boundedSet(this.negative, key, Date.now() + this.negativeTtlMs);
          } else {
            this.counts['gets_hit']!++;
            this.fromBucket(e, 'get');
          }
          this.pumpGets();
        },
        () => {
          this.getsInFlight--;
          this.counts['gets_error']!++;
          this.pumpGets();
        },
      );
    }
  }
}
