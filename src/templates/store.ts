/**
 * The template store seam: how template state learned by one decoder reaches the others.
 *
 * A decoder tells its store what it learned from the wire (a template, a withdrawal, an options
 * row) and asks it for a template it is missing; the store delivers what others learned to its
 * subscriber. Implementations: `LocalTemplateStore` (worker threads of one process, below) and
 * the NATS KV store (between instances). None of the calls block or throw: a store that cannot
 * deliver counts it and the decoder keeps decoding.
 */
import type { OptionsRow } from './cache.js';
import type { TemplateDef } from './template.js';

/** Which exporter scope a change belongs to. */
export interface ScopeRef {
  /**
   * Name of the listener the exporter sends to: each listener keeps its own template state
   * (with its own limits), like a collector per port.
   */
  readonly listener: string;
  readonly protocol: 9 | 10;
  /** Normalised exporter address ("192.0.2.1", "2001:db8::1"). */
  readonly exporter: string;
  /** Exporter UDP port; 0 unless templates are scoped by port (`scope_includes_port`). */
  readonly port: number;
  /** v9 source id / IPFIX observation domain. */
  readonly domain: number;
}

export type StoreChange =
  /** `reply`: an answer to a request (a copy of what the member holds, not news from the wire). */
  | { readonly kind: 'template'; readonly scope: ScopeRef; readonly def: TemplateDef; readonly learnedAt: number; readonly origin: string; readonly reply?: boolean }
  | { readonly kind: 'withdraw'; readonly scope: ScopeRef; readonly id: number; readonly origin: string }
  | { readonly kind: 'options'; readonly scope: ScopeRef; readonly row: OptionsRow; readonly origin: string };

/** Asked of a store's owner when another member wants a template: the definition if known. */
export type TemplateLookup = (scope: ScopeRef, id: number) => TemplateDef | undefined;

export interface TemplateStore {
  /** Name of this member (worker / instance), carried as `origin` on what it publishes. */
  readonly origin: string;
  /** A template was learned or changed from the wire here. */
  learned(scope: ScopeRef, def: TemplateDef, at: number): void;
  /**
   * The same template seen again on the wire here (optional: only a store that keeps copies
   * fresh, like the KV store, needs it; callers may report every refresh, the store rate-limits).
   */
  refreshed?(scope: ScopeRef, def: TemplateDef, at: number): void;
  /** An options row seen again unchanged (optional, as `refreshed`). */
  optionsRefreshed?(scope: ScopeRef, row: OptionsRow): void;
  /** A template was withdrawn on the wire here. */
  withdrawn(scope: ScopeRef, id: number): void;
  /** An options row (sampler table, interface name, system init time) was decoded here. */
  options(scope: ScopeRef, row: OptionsRow): void;
  /** Data arrived here for a template this member does not know: ask the others (rate-limited). */
  missing(scope: ScopeRef, id: number): void;
  /**
   * Receives what other members learned, and answers their look-ups from `lookup`. One
   * subscriber per store.
   */
  subscribe(onChange: (change: StoreChange) => void, lookup: TemplateLookup): void;
  /** Counts by reason (published, received, requests, errors). */
  stats(): Record<string, number>;
  close(): Promise<void>;
}

/** Stable text key of a scope, e.g. for coalescing and rate limits. */
export function scopeKey(s: ScopeRef): string {
  return `${s.listener}|${s.protocol}|${s.exporter}|${s.port}|${s.domain}`;
}

/** Refreshes heard by a member that asked for them (the main thread's KV bridge). */
export type RefreshChange =
  | { readonly kind: 'template'; readonly scope: ScopeRef; readonly def: TemplateDef; readonly at: number }
  | { readonly kind: 'options'; readonly scope: ScopeRef; readonly row: OptionsRow };

type Wire =
  | { k: 't'; o: string; s: ScopeRef; d: TemplateDef; at: number; r?: 1 }
  | { k: 'f'; o: string; s: ScopeRef; d: TemplateDef; at: number }
  | { k: 'g'; o: string; s: ScopeRef; row: OptionsRow }
  | { k: 'w'; o: string; s: ScopeRef; id: number }
  | { k: 'r'; o: string; s: ScopeRef; row: OptionsRow }
  | { k: 'q'; o: string; s: ScopeRef; id: number };

/** How often one member asks again for the same missing template. */
const REQUEST_INTERVAL_MS = 1000;
/** Bound on the remembered request times (a flood of unknown scopes cannot grow it). */
const MAX_REQUEST_KEYS = 16_384;

/**
 * Shares template state between the worker threads of one process over a BroadcastChannel.
 * Every learned template, withdrawal and options row is broadcast to the other workers as it
 * happens, so they have it before data from that exporter reaches them; a worker that still
 * misses one (it started later, or data raced the broadcast) asks, and whoever knows it
 * answers with a fresh broadcast. The data meanwhile waits in the pending buffer.
 */
export class LocalTemplateStore implements TemplateStore {
  private readonly channel: BroadcastChannel;
  private onChange: ((c: StoreChange) => void) | undefined;
  private lookup: TemplateLookup | undefined;
  private readonly asked = new Map<string, number>();
  private readonly counts: Record<string, number> = {
    published: 0,
    received: 0,
    requests_sent: 0,
    requests_answered: 0,
    errors: 0,
  };
  private closed = false;
  private onRefresh: ((c: RefreshChange) => void) | undefined;
  /** Last refresh reported per template / options row (bounded). */
  private readonly refreshedAt = new Map<string, number>();
  private readonly refreshEveryMs: number;

  /**
   * @param channelName shared by every member of one collector (unique per collector
   *        instance in a process, e.g. when tests run two)
   * @param origin this member's name
   * @param refreshMs the shared store's refresh interval: refreshes are passed on at most every
   *        half of it per template or row (0: never; the default)
   */
  constructor(channelName: string, readonly origin: string, refreshMs = 0) {
    this.refreshEveryMs = refreshMs / 2;
    this.channel = new BroadcastChannel(channelName);
    // A worker must be able to exit with the channel open; the owner closes it on shutdown.
    (this.channel as unknown as { unref?: () => void }).unref?.();
    this.channel.onmessage = (ev: Event) => this.receive((ev as MessageEvent).data as Wire);
  }

  learned(scope: ScopeRef, def: TemplateDef, at: number): void {
    this.post({ k: 't', o: this.origin, s: scope, d: def, at });
  }

  refreshed(scope: ScopeRef, def: TemplateDef, at: number): void {
    if (this.refreshEveryMs > 0 && this.due(`${scopeKey(scope)}|${def.id}`, at)) this.post({ k: 'f', o: this.origin, s: scope, d: def, at });
  }

  optionsRefreshed(scope: ScopeRef, row: OptionsRow): void {
    if (this.refreshEveryMs > 0 && this.due(`${scopeKey(scope)}|o${row.templateId}|${row.scopeKey}`, row.at)) this.post({ k: 'g', o: this.origin, s: scope, row });
  }

  /** Hears other members' refreshes (only the member that passes them on needs them). */
  hearRefreshes(fn: (c: RefreshChange) => void): void {
    this.onRefresh = fn;
  }

  private due(key: string, now: number): boolean {
    const last = this.refreshedAt.get(key);
    if (last !== undefined && now - last < this.refreshEveryMs) return false;
    if (last === undefined && this.refreshedAt.size >= MAX_REQUEST_KEYS) this.refreshedAt.clear();
    this.refreshedAt.set(key, now);
    return true;
  }

  withdrawn(scope: ScopeRef, id: number): void {
    this.post({ k: 'w', o: this.origin, s: scope, id });
  }

  options(scope: ScopeRef, row: OptionsRow): void {
    this.post({ k: 'r', o: this.origin, s: scope, row });
  }

  missing(scope: ScopeRef, id: number): void {
    const key = `${scopeKey(scope)}|${id}`;
    const now = Date.now();
    const last = this.asked.get(key);
    if (last !== undefined && now - last < REQUEST_INTERVAL_MS) return;
    if (last === undefined && this.asked.size >= MAX_REQUEST_KEYS) this.asked.clear();
    this.asked.set(key, now);
    this.counts['requests_sent']!++;
    this.post({ k: 'q', o: this.origin, s: scope, id });
  }

  subscribe(onChange: (change: StoreChange) => void, lookup: TemplateLookup): void {
    this.onChange = onChange;
    this.lookup = lookup;
  }

  stats(): Record<string, number> {
    return { ...this.counts };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.channel.close();
  }

  private post(m: Wire): void {
    if (this.closed) return;
    try {
      this.channel.postMessage(m);
      if (m.k === 't' || m.k === 'w' || m.k === 'r') this.counts['published']!++;
    } catch {
      // A value structured clone cannot carry (should not happen: plain data only).
      this.counts['errors']!++;
    }
  }

  private receive(m: Wire): void {
    if (this.closed || m.o === this.origin) return;
    const fn = this.onChange;
    if (fn === undefined) return;
    switch (m.k) {
      case 't':
        this.counts['received']!++;
        this.asked.delete(`${scopeKey(m.s)}|${m.d.id}`);
        fn(m.r === 1 ? { kind: 'template', scope: m.s, def: m.d, learnedAt: m.at, origin: m.o, reply: true } : { kind: 'template', scope: m.s, def: m.d, learnedAt: m.at, origin: m.o });
        break;
      case 'f':
        this.onRefresh?.({ kind: 'template', scope: m.s, def: m.d, at: m.at });
        break;
      case 'g':
        this.onRefresh?.({ kind: 'options', scope: m.s, row: m.row });
        break;
      case 'w':
        this.counts['received']!++;
        fn({ kind: 'withdraw', scope: m.s, id: m.id, origin: m.o });
        break;
      case 'r':
        this.counts['received']!++;
        fn({ kind: 'options', scope: m.s, row: m.row, origin: m.o });
        break;
      case 'q': {
        const def = this.lookup?.(m.s, m.id);
        if (def !== undefined) {
          this.counts['requests_answered']!++;
          this.post({ k: 't', o: this.origin, s: m.s, d: def, at: Date.now(), r: 1 });
        }
        break;
      }
    }
  }
}
