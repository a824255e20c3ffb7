/**
 * A bounded memo of what depends on a template's layout only (protocol, options, scope count,
 * each field's enterprise, id and length: layoutKey), never on a template id or an exporter:
 * many exporters of one model send the same layouts under their own ids.
 *
 * Its users: the decoders' compiled code, kept once per isolate (a worker thread; every
 * template cache compiles its own layouts, and a worker has several: each listener's decoder,
 * the warm-up's throwaway ones; without sharing, the code the warm-up optimised was not the
 * code real data ran: a new closure from `new Function` has no type feedback); a template
 * cache's compiled entries and the KV store's field lists (one shared copy per layout).
 */
import { layoutKey } from './codec.js';
import type { TemplateDef } from './template.js';

export class PerLayout<V> {
  /** By layout, the most recently asked for last. */
  private readonly byLayout = new Map<string, V>();

  /** At most `max` layouts are kept; the least recently asked for goes first. */
  constructor(private readonly max: number) {}

  /** The value built for `def`'s layout, built with `make` the first time (not kept if it throws). */
  get(def: TemplateDef, make: () => V): V {
    const key = layoutKey(def);
    const m = this.byLayout;
    let v = m.get(key);
    if (v === undefined && !m.has(key)) {
      v = make();
      if (m.size >= this.max) m.delete(m.keys().next().value!);
    } else m.delete(key);
    m.set(key, v as V);
    return v as V;
  }
}
