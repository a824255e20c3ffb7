// /proc readers for the serve benchmark: process CPU time, machine CPU
// time, UDP socket queues and drops.

import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';

let clkTck = 0;

/** Pins every thread of `pid` to `cores` ("0", "0,1", or a core number). */
export function pin(pid: number, cores: string | number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(cores), String(pid)], { stdio: 'ignore' });
}

/** The cores `pid` may run on, as /proc/PID/status lists them ("0", "0-1"; "?" if unreadable). */
export function coresOf(pid: number): string {
  try {
    const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? m[1]! : '?';
  } catch {
    return '?';
  }
}

/** Clock ticks per second of /proc/PID/stat times (getconf CLK_TCK; 100 on Linux). */
export function ticksPerSecond(): number {
  if (clkTck === 0) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

export interface StatFields {
  pid: number;
  ppid: number;
  /** Process group. */
  pgrp: number;
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
}

export function readStat(pid: number): StatFields | undefined {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
  const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return {
    pid,
    ppid: Number(rest[1]),
    pgrp: Number(rest[2]),
    utime: Number(rest[11]),
    stime: Number(rest[12]),
    cutime: Number(rest[13]),
    cstime: Number(rest[14]),
  };
}

/** Pids of every live descendant process of `pid` (not threads). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(st.pid);
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    for (const c of children.get(todo.pop()!) ?? []) {
      out.push(c);
      todo.push(c);
    }
  }
  return out;
}

export interface ProcCpu {
  /** user + system CPU seconds of the process (all its threads), its live descendants and its reaped children. */
  seconds: number;
  user: number;
  system: number;
  /** Processes summed (the process itself and its live descendants). */
  processes: number;
  /** Sum of the first field of /proc/PID/task/TID/schedstat (ns on CPU) over the live threads of those processes. */
  schedstatSeconds: number;
  threads: number;
  /** schedstat seconds per thread ("pid/tid"), for the split by thread. */
  byThread: Map<string, number>;
}

/** CPU time of `pid` and its process tree so far; undefined when the process is gone. */
export function processCpu(pid: number): ProcCpu | undefined {
  const own = readStat(pid);
  if (!own) return undefined;
  const hz = ticksPerSecond();
  let user = own.utime + own.cutime;
  let system = own.stime + own.cstime;
  const pids = [pid];
  for (const d of descendants(pid)) {
    const st = readStat(d);
    if (!st) continue;
    pids.push(d);
    user += st.utime;
    system += st.stime;
  }
  let ns = 0;
  let threads = 0;
  const byThread = new Map<string, number>();
  for (const p of pids) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tids) {
      try {
        const tns = Number(readFileSync(`/proc/${p}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
        ns += tns;
        byThread.set(`${p}/${t}`, tns / 1e9);
        threads++;
      } catch {
        // thread gone
      }
    }
  }
  return { seconds: (user + system) / hz, user: user / hz, system: system / hz, processes: pids.length, schedstatSeconds: ns / 1e9, threads, byThread };
}

export interface MachineCpu {
  /** Seconds per state, summed over all CPUs. */
  total: number;
  idle: number;
  softirq: number;
  irq: number;
  steal: number;
  /** Per CPU: busy (not idle/iowait; steal included) and total seconds, and steal alone. */
  perCpu: { busy: number; total: number; steal: number }[];
}

/** Machine CPU times from /proc/stat. */
export function machineCpu(): MachineCpu {
  const hz = ticksPerSecond();
  const lines = readFileSync('/proc/stat', 'utf8').split('\n');
  const parse = (l: string) => l.trim().split(/\s+/).slice(1).map(Number);
  const all = parse(lines[0]!);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
  const sum = (v: number[]) => v.slice(0, 8).reduce((s, x) => s + x, 0);
  const perCpu = lines
    .filter((l) => /^cpu\d+ /.test(l))
    .map((l) => {
      const v = parse(l);
      const total = sum(v);
      return { busy: (total - v[3]! - v[4]!) / hz, total: total / hz, steal: v[7]! / hz };
    });
  return {
    total: sum(all) / hz,
    idle: (all[3]! + all[4]!) / hz,
    irq: all[5]! / hz,
    softirq: all[6]! / hz,
    steal: all[7]! / hz,
    perCpu,
  };
}

export interface MachineDelta {
  seconds: number;
  /** Busy CPU-seconds (all CPUs) over the interval, softirq/irq/steal included. */
  busy: number;
  softirq: number;
  irq: number;
  steal: number;
  /** Busy share per CPU (0..1). */
  perCpuBusy: number[];
}

export function machineDelta(a: MachineCpu, b: MachineCpu): MachineDelta {
  const cpus = Math.max(1, b.perCpu.length);
  const total = b.total - a.total;
  return {
    seconds: total / cpus,
    busy: total - (b.idle - a.idle),
    softirq: b.softirq - a.softirq,
    irq: b.irq - a.irq,
    steal: b.steal - a.steal,
    perCpuBusy: b.perCpu.map((c, i) => {
      const t = c.total - (a.perCpu[i]?.total ?? 0);
      return t > 0 ? (c.busy - (a.perCpu[i]?.busy ?? 0)) / t : 0;
    }),
  };
}

export function loadAverage(): number[] {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
}

export interface UdpPortState {
  /** Sockets bound to the port (several with SO_REUSEPORT). */
  sockets: number;
  /** Bytes queued for reading, summed. */
  rxQueue: number;
  /** Datagrams the kernel dropped on these sockets (the drops column), summed. */
  drops: number;
  /** The same, per socket, in /proc's order (with several workers: how evenly the port's load fell). */
  dropsBySocket: number[];
}

/** The port's sockets in /proc/net/udp and /proc/net/udp6. */
export function udpPort(port: number): UdpPortState {
  const st: UdpPortState = { sockets: 0, rxQueue: 0, drops: 0, dropsBySocket: [] };
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 13) continue;
      if (f[1]!.split(':')[1] !== hex) continue;
      if (f[2] !== '00000000:0000' && !/^0+:0000$/.test(f[2]!)) continue; // connected sockets are not listeners
      st.sockets++;
      st.rxQueue += parseInt(f[4]!.split(':')[1]!, 16);
      const d = Number(f[f.length - 1]);
      st.drops += d;
      st.dropsBySocket.push(d);
    }
  }
  return st;
}

/** Kernel UDP counters (/proc/net/snmp "Udp:" line): InDatagrams, RcvbufErrors, NoPorts, ... */
export function udpSnmp(): Record<string, number> {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  if (lines.length < 2) return {};
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1).map(Number);
  const out: Record<string, number> = {};
  names.forEach((n, i) => (out[n] = values[i]!));
  return out;
}

/** Receive buffer sizes (skmem rb) of the UDP sockets on `port`, from `ss`; [] when ss is missing. */
export function socketRcvbufs(port: number): number[] {
  try {
    const out = execFileSync('ss', ['-uanmH', `sport = :${port}`], { encoding: 'utf8' });
    return [...out.matchAll(/\brb(\d+)/g)].map((m) => Number(m[1]));
  } catch {
    return [];
  }
}

/** CPU ticks (utime + stime) and command name of every process now. */
export function allProcesses(): Map<number, { comm: string; ticks: number; start: number }> {
  const out = new Map<number, { comm: string; ticks: number; start: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let s: string;
    try {
      s = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const comm = s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // Kernel workers rename themselves after their current work queue: a process is its pid and start time.
    out.set(Number(name), { comm: comm.replace(/^(kworker\/[^-]*)-.*$/, '$1'), ticks: Number(rest[11]) + Number(rest[12]), start: Number(rest[19]) });
  }
  return out;
}

/**
 * CPU seconds used between two snapshots by processes other than `exclude`, by command name,
 * largest first (processes that started and ended in between are not seen).
 */
export function otherProcesses(
  a: Map<number, { comm: string; ticks: number; start: number }>,
  b: Map<number, { comm: string; ticks: number; start: number }>,
  exclude: Set<number>,
): { comm: string; seconds: number }[] {
  const hz = ticksPerSecond();
  const by = new Map<string, number>();
  for (const [pid, p] of b) {
    if (exclude.has(pid)) continue;
    const before = a.get(pid);
    const d = before && before.start === p.start ? p.ticks - before.ticks : p.ticks;
    if (d > 0) by.set(p.comm, (by.get(p.comm) ?? 0) + d / hz);
  }
  return [...by].map(([comm, seconds]) => ({ comm, seconds })).sort((x, y) => y.seconds - x.seconds);
}

/**
 * CPU between two readings split by thread, in µs per flow over `flows` flows: the process's
 * main thread, the busiest other thread (a one-worker serve's decoding worker), and all the
 * rest (other workers, V8's platform threads: concurrent GC and compilers; libuv's pool).
 */
export function threadUsPerFlow(pid: number, a: ProcCpu, b: ProcCpu, flows: number): { main: number; busiest: number; rest: number } {
  const mainKey = `${pid}/${pid}`;
  let main = 0;
  let busiest = 0;
  let total = 0;
  for (const [k, v] of b.byThread) {
    const d = v - (a.byThread.get(k) ?? 0);
    total += d;
    if (k === mainKey) main = d;
    else if (d > busiest) busiest = d;
  }
  const us = (x: number) => (x * 1e6) / Math.max(1, flows);
  return { main: us(main), busiest: us(busiest), rest: us(total - main - busiest) };
}

/** A UDP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}
