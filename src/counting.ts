/**
 * Starting value for counters that pass 2^31 in a long run: bytes (seconds at 100k v9 datagrams/s:
 * an output's byte count passed it after 5 s, the receive path's after 16), flows (about 11
 * minutes at 3 M flows/s) and datagrams (hours); also for other number fields whose values reach
 * past 2^31 (the transcoders' low half of export time * 1e9).
 *
 * V8 stores a property first given a small integer (a "Smi", below 2^31 here) as one. The first
 * value past that range changes how the property is stored, for every object of that shape: a
 * deoptimisation of each compiled function that uses those objects (the decoder's and outputs'
 * hot paths), recompiled on the same busy core while datagrams wait. -0 is not a Smi, so a
 * counter started at COUNTER_ZERO is stored as a double from the first and never changes. It adds
 * like 0 (-0 + n === n); only a counter nothing was added to still holds -0: report values
 * through `counted`, which gives +0 then.
 */
export const COUNTER_ZERO = -0;

/**
 * "No such time" for the millisecond fields that otherwise hold a 32-bit unsigned value or an
 * epoch time (v9 sysUptime, IPFIX systemInitTimeMilliseconds): not a Smi, so the field is a double
 * from the first. With -1 there, a router up more than 24.8 days (sysUptime past 2^31 ms) or an
 * exporter that sends its boot time (softflowd's IPFIX) changed the field's representation on its
 * first datagram, and every compiled function that uses the decoder's context deoptimised at
 * start-up ("wrong map"). Tested with `>= 0`.
 */
export const NO_TIME = -Infinity;

/** A counter's value for reports: +0 for a COUNTER_ZERO nothing was added to. */
export function counted(v: number): number {
  return v + 0;
}

/** A copy of a record of counters, for reports (see `counted`). */
export function countedAll<K extends string>(r: Readonly<Record<K, number>>): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const k of Object.keys(r) as K[]) out[k] = r[k] + 0;
  return out;
}
