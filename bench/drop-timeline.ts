/**
 * When a run's kernel drops happened, and what the host was doing then: the port's drops
 * (/proc/net/udp) and the steal time of the collector's cores (/proc/stat: time the hypervisor
 * ran something else while this vCPU wanted to run) sampled every `everyMs` from the sender's
 * start. Drops in consecutive samples are one burst. A burst with high steal is the host
 * stopping the collector's vCPU, which no buffer size or code path can be blamed for; one
 * without is the collector falling behind.
 */
import { machineCpu, udpPort, type MachineCpu } from './proc.js';

export interface DropSample {
  /** Seconds since the timeline started. */
  at: number;
  /** Cumulative drops of the port. */
  drops: number;
  /** Cumulative steal seconds of the watched cores, summed. */
  steal: number;
}

export interface DropBurst {
  /** Seconds since the timeline started: the sample before the first drop, and the last sample with drops. */
  from: number;
  to: number;
  drops: number;
  /** Steal over [from, to] as a share of the watched cores' time. */
  stealShare: number;
}

/** Consecutive samples with new drops, merged into bursts. */
export function dropBursts(samples: readonly DropSample[], cores: number): DropBurst[] {
  const out: DropBurst[] = [];
  let open: { start: DropSample; end: DropSample; drops: number } | undefined;
  const close = () => {
    if (!open) return;
    const span = open.end.at - open.start.at;
    out.push({ from: open.start.at, to: open.end.at, drops: open.drops, stealShare: span > 0 ? (open.end.steal - open.start.steal) / (span * cores) : 0 });
    open = undefined;
  };
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    const d = b.drops - a.drops;
    if (d > 0) {
      if (open) {
        open.end = b;
        open.drops += d;
      } else open = { start: a, end: b, drops: d };
    } else close();
  }
  close();
  return out;
}

/** "drops at +1.25-1.75 s: 14,832 (steal on the collector's cores 41 %); ..." */
export function formatBursts(bursts: readonly DropBurst[]): string {
  const n = (x: number) => x.toLocaleString('en-US');
  return (
    'drops at ' +
    bursts.map((b) => `+${b.from.toFixed(2)}-${b.to.toFixed(2)} s: ${n(b.drops)} (steal on the collector's cores ${Math.round(100 * b.stealShare)} %)`).join('; ')
  );
}

export interface DropTimeline {
  /** Takes a last sample, stops sampling and returns the bursts. */
  stop(): DropBurst[];
}

/** Samples `port`'s drops and the steal of `cores` (indices into /proc/stat's cpuN lines) every `everyMs`. */
export function startDropTimeline(port: number, cores: readonly number[], everyMs = 250): DropTimeline {
  const t0 = performance.now();
  const steal = (m: MachineCpu) => cores.reduce((s, c) => s + (m.perCpu[c]?.steal ?? 0), 0);
  const samples: DropSample[] = [];
  const sample = () => samples.push({ at: (performance.now() - t0) / 1000, drops: udpPort(port).drops, steal: steal(machineCpu()) });
  sample();
  // Unref'd: a run that throws before stop() does not keep the bench alive.
  const timer = setInterval(sample, everyMs).unref();
  return {
    stop(): DropBurst[] {
      clearInterval(timer);
      sample();
      return dropBursts(samples, cores.length);
    },
  };
}
