// Rotating output sinks for the serve benchmark (bench/serve.ts --sink rotate).
//
// Why: on the benchmark VM every byte a collector writes to a fresh tmpfs page costs far more
// than the copy itself. The guest hands freed memory back to the host (virtio-balloon free
// page reporting), so a page the collector's output lands on was usually unbacked and faults
// in from the host inside the write(2). Measured with dd (3 GiB to /dev/shm, 1 MiB writes, on
// core 1): one growing file 3.8-6.2 s of system time; overwriting pages that already exist
// 0.6 s; 12 files of 256 MiB deleting all but the last two 1.5-1.9 s. A run of v9 at 100k
// datagrams/s writes about 3 GB, so with an ever-growing file the sink, not the collector,
// decided the result (docs/benchmarks.md).
//
// A production file output is rotated (logrotate) and its directory is on a disk whose page
// cache is recycled after writeback, so the steady state reuses pages. This module rotates the
// benchmark's output the same way for every collector while the load runs: a finished piece is
// counted and deleted, so freed pages are reused before the guest reports them to the host.
//   serve and the hand-wired collector: the file is renamed and the process gets SIGHUP (serve
//   reopens its file outputs; the hand-wired one too); a piece is counted and deleted at the
//   first tick (every SINK_TICK_MS) after the collector has written to its new file. (Until
//   2026-11-29 a piece waited for the next rotation, a second later: measured at v9 100k that
//   cost serve 0.05-0.08 µs of system time per flow and its lead, see docs/benchmarks.md.)
//   Counting reads every byte; with CountMode 'sizes' a piece is only measured and deleted (the
//   bench then takes the flow count from serve's own totals: bench/serve.ts --count sizes).
//   nfcapd: `-t 3` (its shortest interval) rotates its files itself; each finished
//   nfcapd.YYYYMMDDhhmmss file is read with `nfdump -I` (flows, sequence failures) and deleted
//   at the first tick after it appears.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readlinkSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readStat, ticksPerSecond } from './proc.js';
import { countDelimitedFile } from './serve-replay.js';

export type SinkMode = 'rotate' | 'append';
/** How a delimited output is counted: its frames read (frames), or only its size (sizes). */
export type CountMode = 'frames' | 'sizes';

/** What a sink counted over a whole run. */
export interface SinkCount {
  /** Flow records in the output. */
  records: number;
  /** Bytes the output held. */
  bytes: number;
  /** Problems found while counting (truncated frames, unreadable files). */
  problems: string[];
  /** Remarks (nfcapd sequence failures). */
  notes: string[];
  /** Pieces counted and deleted while the load ran. */
  pieces: number;
  /** Whether `records` was counted (false: only the bytes were, CountMode 'sizes'). */
  framesCounted: boolean;
}

/**
 * Counts a collector's output after its run; rotates it while the load runs when the bench
 * calls tick() (--sink rotate). Without ticks (--sink append) finish() counts the one file.
 */
export interface RotatingSink {
  /**
   * CPU seconds the sink has spent so far (counting in this process, nfdump children): the
   * bench subtracts it from the machine's busy time outside the measured processes.
   */
  readonly cpuSeconds: number;
  /** Called periodically during the run: rotates and counts/deletes finished pieces. */
  tick(): void;
  /** Bytes written so far (counted pieces + what is still on disk): for "has it stopped growing". */
  size(): number;
  /** After the collector exited: counts (and deletes, unless kept) everything left. */
  finish(): SinkCount;
}

/** Seconds between two rotations of a delimited-file sink. */
export const ROTATE_SECONDS = 1;
/**
 * How often the bench ticks a rotating sink (either kind): finished pieces are counted and
 * deleted at the first tick after they finish.
 */
export const SINK_TICK_MS = 250;
/** nfcapd's shortest rotation interval (`-t 2` and less are refused). */
export const NFCAPD_ROTATE_SECONDS = 3;

/** 4 MiB reads, one buffer for every count. */
const COUNT_CHUNK = 4 << 20;

/** CPU seconds of the children this process has waited for (/proc/self/stat cutime + cstime). */
function childrenSeconds(): number {
  const st = readStat(process.pid);
  return st === undefined ? 0 : (st.cutime + st.cstime) / ticksPerSecond();
}

/** Runs fn and adds the CPU it cost (this process, and the children it waited for) to acc. */
function timed(acc: { cpuSeconds: number }, fn: () => void): void {
  const t0 = process.cpuUsage();
  const c0 = childrenSeconds();
  try {
    fn();
  } finally {
    const t1 = process.cpuUsage(t0);
    // Own time at µs resolution; children's (nfdump) at the clock tick's.
    acc.cpuSeconds += (t1.user + t1.system) / 1e6 + (childrenSeconds() - c0);
  }
}

/** Size of a file, 0 when it is not there. */
export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** A length-delimited flowpb file that the collector reopens on SIGHUP. */
export class RotatedDelimitedFile implements RotatingSink {
  /** The piece the collector has left and that is not counted yet. */
  private piece: string | undefined;
  private next = 0;
  /** When the last rotation was (ms). */
  private rotatedAt = 0;
  private readonly count: SinkCount;
  cpuSeconds = 0;

  constructor(
    private readonly path: string,
    private readonly pid: number,
    /** Keep the pieces (--keep-output): memory grows as with one file. */
    private readonly keep = false,
    /** Milliseconds between rotations (ticks in between only take finished pieces). */
    private readonly rotateMs = ROTATE_SECONDS * 1000,
    /** Read every piece and count its frames, or only take its size (the caller counts flows). */
    private readonly mode: CountMode = 'frames',
  ) {
    this.count = { records: 0, bytes: 0, problems: [], notes: [], pieces: 0, framesCounted: mode === 'frames' };
  }

  tick(): void {
    timed(this, () => this.rotate());
  }

  private rotate(): void {
    // Nothing to do until the collector has written to its (new) file.
    if (fileSize(this.path) === 0) return;
    // The piece is complete once the collector has written to the file that replaced it and
    // no descriptor of the process refers to it any more: each of serve's workers writes through
    // its own descriptor and switches when it gets to the SIGHUP's reopen message, a busy one
    // tens of milliseconds after another (taking the piece at the first write to the new file
    // lost what a second worker wrote to it after that: at v9 200k with two workers, 13-18 MB per
    // run). Counted and deleted at the first tick after. A piece left for a whole rotation had
    // its memory freed a second or more late, and on the benchmark VM memory freed that long ago
    // has often been handed back to the host (see the top), so the collector's next writes
    // faulted it in again. (A file is rotated only once written to, so there is never more than
    // one piece.)
    if (this.piece !== undefined) {
      if (heldOpen(this.pid, this.piece)) return;
      this.take(this.piece);
      this.piece = undefined;
    }
    if (Date.now() - this.rotatedAt < this.rotateMs) return;
    this.rotatedAt = Date.now();
    const part = `${this.path}.${this.next++}`;
    renameSync(this.path, part);
    this.piece = part;
    try {
      process.kill(this.pid, 'SIGHUP');
    } catch {
      // exited: finish() counts what is there
    }
  }

  size(): number {
    return this.count.bytes + fileSize(this.path) + (this.piece === undefined ? 0 : fileSize(this.piece));
  }

  finish(): SinkCount {
    if (this.piece !== undefined) this.take(this.piece);
    this.piece = undefined;
    if (existsSync(this.path)) this.take(this.path);
    return this.count;
  }

  private take(part: string): void {
    if (this.mode === 'sizes') {
      this.count.bytes += fileSize(part);
      if (part !== this.path) this.count.pieces++;
      if (!this.keep) rmSync(part, { force: true });
      return;
    }
    const c = countDelimitedFile(part, COUNT_CHUNK);
    this.count.records += c.records;
    this.count.bytes += c.bytes;
    if (c.trailingBytes) this.count.problems.push(`${part}: ${c.trailingBytes} bytes of a truncated record at the end`);
    if (part !== this.path) this.count.pieces++;
    if (!this.keep) rmSync(part, { force: true });
  }
}

/** Whether a descriptor of process `pid` refers to the file at `path` (/proc/<pid>/fd). */
export function heldOpen(pid: number, path: string): boolean {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false; // exited
  }
  const abs = resolve(path);
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === abs) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

/** nfcapd's output directory with `-t NFCAPD_ROTATE_SECONDS`. */
export class RotatedNfcapdDir implements RotatingSink {
  private readonly count: SinkCount = { records: 0, bytes: 0, problems: [], notes: [], pieces: 0, framesCounted: true };
  private sequenceFailures = 0;
  cpuSeconds = 0;
  /** Files already counted (kept ones stay in the directory). */
  private readonly taken = new Set<string>();

  constructor(
    private readonly dir: string,
    private readonly keep = false,
  ) {}

  tick(): void {
    timed(this, () => {
      for (const f of this.finished()) if (!this.taken.has(f)) this.take(f);
    });
  }

  size(): number {
    let s = this.count.bytes;
    for (const f of readdirSync(this.dir)) if (f.startsWith('nfcapd.') && !this.taken.has(f)) s += fileSize(join(this.dir, f));
    return s;
  }

  finish(): SinkCount {
    // nfcapd closes its current file on exit: every file is finished now.
    for (const f of this.finished()) if (!this.taken.has(f)) this.take(f);
    const left = readdirSync(this.dir).filter((f) => f.startsWith('nfcapd.current'));
    if (left.length > 0) this.count.problems.push(`nfcapd left ${left.join(', ')} unfinished`);
    if (this.count.pieces === 0) this.count.problems.push('no nfcapd file written');
    if (this.sequenceFailures > 0) this.count.notes.push(`nfcapd: ${this.sequenceFailures} sequence failures`);
    return this.count;
  }

  private finished(): string[] {
    return readdirSync(this.dir)
      .filter((f) => /^nfcapd\.\d{12,14}$/.test(f))
      .sort();
  }

  private take(name: string): void {
    const path = join(this.dir, name);
    this.taken.add(name);
    this.count.bytes += fileSize(path);
    const out = execFileSync('nfdump', ['-r', path, '-I'], { encoding: 'utf8' });
    const m = /^Flows:\s+(\d+)/m.exec(out);
    if (m) this.count.records += Number(m[1]);
    else this.count.problems.push(`nfdump -I ${name}: no Flows line`);
    const sf = /^Sequence failures:\s+(\d+)/m.exec(out);
    if (sf) this.sequenceFailures += Number(sf[1]);
    this.count.pieces++;
    if (!this.keep) rmSync(path, { force: true });
  }
}
