// Batch sources: the native addon (recvmmsg) and Node's dgram, behind one
// interface, so consumers see identical batches whichever path is live.

import dgram from 'node:dgram';
import { getSystemErrorName } from 'node:util';
import { allocBatch, parseAddress, type Batch } from './batch.js';
import {
  choosePath,
  requireAddon,
  type IngestPath,
  type NativeUdpSocket,
  type PathChoice,
} from './native.js';
import { COUNTER_ZERO, counted } from '../counting.js';

export type SpreadMode = 'none' | 'random' | 'roundrobin' | 'cpu';

export interface SourceOptions {
  /** Literal address to bind: '0.0.0.0' (default), '127.0.0.1', '::' (dual-stack), '::1', ... */
  host?: string;
  /** UDP port; 0 picks an ephemeral port (see BatchSource.port). */
  port: number;
  /** SO_REUSEPORT sockets on the port (addon path; default 1). */
  sockets?: number;
  /** Set SO_REUSEPORT even with one socket (lets other processes join the port). */
  reusePort?: boolean;
  /** Requested receive buffer in bytes (SO_RCVBUFFORCE, else SO_RCVBUF). */
  rcvbuf?: number;
  /** Datagrams per batch (1..4096, default 64). */
  batchSize?: number;
  /** Bytes per slot (1..65536, default 9216); longer datagrams are truncated and flagged. */
  slotSize?: number;
  /** How datagrams are spread over the sockets (addon path, sockets > 1). Default 'none' (4-tuple hash). */
  spread?: SpreadMode;
  /** Drain each socket at most every pacingUs microseconds (addon path; 0 = on every readiness). */
  pacingUs?: number;
  /**
   * With pacingUs: after a wake-up that emptied the socket, wait as long as keeps the receive
   * buffer at most an eighth full at the next read at the rate it filled since the previous one
   * (the kernel's SO_MEMINFO count) and no longer than three quarters of one wake-up's reads (64
   * batches) take to arrive at that rate, capped at pacingUs and none below 1 ms; after one that left
   * datagrams queued, read again at once. A low rate gets the whole pacingUs (the next read finds
   * more datagrams, one JS call handles more of them, the core wakes less often); a high rate or
   * a small buffer little or no wait. A datagram still waits at most pacingUs before it is read.
   */
  adaptivePacing?: boolean;
  /** For IPv6 hosts: refuse IPv4 (IPV6_V6ONLY). Default false (dual-stack on '::'). */
  v6only?: boolean;
  /** Use the dgram path even if the addon is available. */
  forceDgram?: boolean;
  /** Called once per batch, synchronously; the batch's memory is reused afterwards. */
  onBatch: (batch: Batch) => void;
  /**
   * Addon path (BatchSource.signalsIdle): called once after the batches of a socket when it is
   * empty with no timed read pending, i.e. no batch of that socket follows until a datagram
   * arrives (with adaptive pacing: the timed read after the last datagrams found nothing). Lets
   * the consumer hand over what it holds without a timer of its own while batches come.
   */
  onIdle?: () => void;
  /** Receive errors (e.g. a failed recvmmsg). Default: logged. */
  onError?: (err: Error) => void;
  /** Where the path choice and errors are logged. Default: stderr. */
  logger?: (msg: string) => void;
}

export interface SocketStats {
  datagrams: number;
  batches: number;
  bytes: number;
  truncated: number;
  /** Kernel drops (SO_RXQ_OVFL / SO_MEMINFO); null on the dgram path, where Node does not expose them. */
  kernelDrops: number | null;
  /** Last drop count carried by an SO_RXQ_OVFL control message (null on the dgram path). */
  rxqOvfl: number | null;
  /** Receive buffer size the kernel granted (as getsockopt(SO_RCVBUF) reports it). */
  rcvbuf: number;
  /**
   * The wait chosen after the last wake-up, µs (pacingUs; with adaptive pacing shorter when the
   * buffer fills fast, 0 when read again at once); the longest of the sockets in a total; null on
   * the dgram path and before the first wake-up.
   */
  readDelayUs: number | null;
}

export interface SourceStats extends SocketStats {
  sockets: SocketStats[];
}

export interface BatchSource {
  readonly path: IngestPath;
  readonly reason: string;
  /** Bound address and port. */
  readonly address: string;
  readonly port: number;
  /** Number of sockets actually open. */
  readonly socketCount: number;
  /**
   * Whether onIdle is called: every socket's last batch before a pause in its traffic is followed
   * by it (or by a receive error). True on the addon path, false on the dgram path.
   */
  readonly signalsIdle: boolean;
  stats(): SourceStats;
  /**
   * Stops reading (back-pressure): datagrams wait in the kernel buffer, and what overflows it is
   * dropped and counted by the kernel. On the dgram path Node keeps reading; `paused` then
   * tells the consumer to discard (and count) what arrives.
   */
  pause(): void;
  resume(): void;
  readonly paused: boolean;
  /**
   * Spreads the port's SO_REUSEPORT group (all sockets of all sources bound to it, e.g. one per
   * worker) over `groupSize` sockets with `mode`. Call once all of them are bound. No-op on the
   * dgram path.
   */
  spreadGroup(mode: SpreadMode, groupSize: number): void;
  /** Let the process exit while the source is open. */
  unref(): void;
  ref(): void;
  /**
   * Reads what the kernel has already queued on the sockets, then resolves: one event-loop turn
   * at a time (each turn reads every readable socket) until a turn reads nothing, or until
   * `deadline` (ms since the epoch). For shutdown: close() discards whatever is still queued,
   * uncounted, so calling this first decodes the datagrams that arrived before the stop. A
   * paused source (addon path) reads nothing.
   */
  readQueued(deadline: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Waits turn after turn until `progress` stands still over two turns in a row, or the deadline.
 * Two, because one can pass without a read even with data queued: after the event loop was
 * blocked (a long write, a compile), the timers phase runs before the poll phase that would
 * have read the sockets.
 */
async function readUntilQuiet(progress: () => number, turn: () => Promise<void>, deadline: number): Promise<void> {
  let quiet = 0;
  while (quiet < 2 && Date.now() < deadline) {
    const before = progress();
    await turn();
    quiet = progress() === before ? quiet + 1 : 0;
  }
}

/**
 * At least one whole event-loop turn, poll phase (where sockets are read) included: an immediate
 * set from the poll phase runs in that same turn, one set from an immediate in the next turn.
 */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));

const DEFAULTS = { host: '0.0.0.0', batchSize: 64, slotSize: 9216 };

const logged = new Set<string>();

function defaultLogger(msg: string): void {
  process.stderr.write(`flow-collector: ${msg}\n`);
}

/** Log a path choice once per process (per distinct choice). */
function logChoice(choice: PathChoice, log: (m: string) => void): void {
  const msg = `ingest path: ${choice.path} (${choice.reason})`;
  if (logged.has(msg)) return;
  logged.add(msg);
  log(msg);
}

/** Open a batch source on the addon path when possible, else on dgram. */
export async function openSource(opts: SourceOptions): Promise<BatchSource> {
  const log = opts.logger ?? defaultLogger;
  const choice = choosePath(opts.forceDgram === true);
  logChoice(choice, log);
  if (choice.path === 'addon') return new AddonSource(opts, choice.reason, log);
  return DgramSource.open(opts, choice.reason, log);
}

function sumStats(counters: SocketStats[]): SourceStats {
  const sockets = counters.map((s) => ({ ...s, datagrams: counted(s.datagrams), batches: counted(s.batches), bytes: counted(s.bytes), truncated: counted(s.truncated) }));
  const t: SourceStats = {
    datagrams: 0,
    batches: 0,
    bytes: 0,
    truncated: 0,
    kernelDrops: 0,
    rxqOvfl: 0,
    rcvbuf: 0,
    readDelayUs: null,
    sockets,
  };
  for (const s of sockets) {
    t.datagrams += s.datagrams;
    t.batches += s.batches;
    t.bytes += s.bytes;
    t.truncated += s.truncated;
    t.rcvbuf += s.rcvbuf;
    t.kernelDrops = s.kernelDrops === null || t.kernelDrops === null ? null : t.kernelDrops + s.kernelDrops;
    t.rxqOvfl = s.rxqOvfl === null || t.rxqOvfl === null ? null : t.rxqOvfl + s.rxqOvfl;
    if (s.readDelayUs !== null && (t.readDelayUs === null || s.readDelayUs > t.readDelayUs)) t.readDelayUs = s.readDelayUs;
  }
  return t;
}

function recvError(count: number): Error {
  const code = getSystemErrorName(count);
  const err = new Error(`recvmmsg ${code}`) as NodeJS.ErrnoException;
  err.errno = count;
  err.code = code;
  err.syscall = 'recvmmsg';
  return err;
}

class AddonSource implements BatchSource {
  readonly path = 'addon' as const;
  readonly signalsIdle = true;
  readonly reason: string;
  readonly address: string;
  readonly port: number;
  readonly socketCount: number;
  private readonly socks: NativeUdpSocket[] = [];
  private readonly starts: (() => void)[] = [];
  paused = false;
  private readonly counters: { datagrams: number; batches: number; bytes: number; truncated: number; rxqOvfl: number }[] =
    [];
  private closed = false;
  /** Kernel drop counts read just before the sockets closed (a closed socket has none to read). */
  private finalDrops: number[] = [];
  private readonly pacingUs: number;

  constructor(opts: SourceOptions, reason: string, log: (m: string) => void) {
    const addon = requireAddon();
    this.reason = reason;
    const n = opts.sockets ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > 1024) throw new RangeError(`sockets must be in 1..1024, got ${n}`);
    const host = opts.host ?? DEFAULTS.host;
    const batchSize = opts.batchSize ?? DEFAULTS.batchSize;
    const slotSize = opts.slotSize ?? DEFAULTS.slotSize;
    const pacingUs = opts.pacingUs ?? 0;
    this.pacingUs = pacingUs;
    const adaptive = opts.adaptivePacing === true;
    const reusePort = n > 1 || opts.reusePort === true;
    const onError = opts.onError ?? ((e: Error) => log(`ingest receive error: ${e.message}`));
    const onIdle = opts.onIdle ?? (() => {});
    let port = opts.port;
    try {
      for (let k = 0; k < n; k++) {
        const s = new addon.UdpSocket({
          host,
          port,
          reusePort,
          v6only: opts.v6only === true,
          rcvbuf: opts.rcvbuf ?? 0,
          timestamps: true,
          rxqOvfl: true,
        });
        this.socks.push(s);
        if (k === 0) port = s.localAddress().port;
      }
      const spread = opts.spread ?? 'none';
      if (spread !== 'none' && n > 1) this.socks[0]!.spread(spread, n);
      for (let k = 0; k < n; k++) {
        const batch = allocBatch(batchSize, slotSize, k);
        // Doubles from the start (src/counting.ts): the byte count passes 2^31 within seconds.
        const c = { datagrams: COUNTER_ZERO, batches: COUNTER_ZERO, bytes: COUNTER_ZERO, truncated: COUNTER_ZERO, rxqOvfl: 0 };
        this.counters.push(c);
        const onBatch = opts.onBatch;
        const sock = this.socks[k]!;
        const start = () => sock.start(
          batch,
          batchSize,
          slotSize,
          (count: number, drops: number, bytes: number, truncated: number) => {
            if (count <= 0) {
              // A receive error ends the batches like the idle signal (count 0) does.
              if (count < 0) onError(recvError(count));
              onIdle();
              return;
            }
            batch.count = count;
            c.datagrams += count;
            c.batches++;
            c.bytes += bytes;
            c.truncated += truncated;
            c.rxqOvfl = drops;
            onBatch(batch);
          },
          pacingUs,
          adaptive,
        );
        this.starts.push(start);
        start();
      }
    } catch (err) {
      for (const s of this.socks) s.close();
      throw err;
    }
    this.address = this.socks[0]!.localAddress().address;
    this.port = port;
    this.socketCount = n;
  }

  stats(): SourceStats {
    return sumStats(
      this.socks.map((s, k) => {
        const delay = this.closed ? -1 : s.readDelayUs();
        return {
          ...this.counters[k]!,
          kernelDrops: this.closed ? (this.finalDrops[k] ?? 0) : s.kernelDrops(),
          rcvbuf: this.closed ? 0 : s.rcvbuf(),
          readDelayUs: delay < 0 ? null : delay,
        };
      }),
    );
  }

  pause(): void {
    if (this.paused || this.closed) return;
    this.paused = true;
    for (const s of this.socks) s.stop();
  }

  resume(): void {
    if (!this.paused || this.closed) return;
    this.paused = false;
    // start() may not run inside onBatch (where pause/resume decisions are often taken).
    setImmediate(() => {
      if (this.paused || this.closed) return;
      for (const start of this.starts) start();
    });
  }

  spreadGroup(mode: SpreadMode, groupSize: number): void {
    if (this.closed) return;
    this.socks[0]!.spread(mode, groupSize);
  }

  unref(): void {
    for (const s of this.socks) s.unref();
  }

  ref(): void {
    for (const s of this.socks) s.ref();
  }

  async readQueued(deadline: number): Promise<void> {
    if (this.closed || this.paused) return;
    const progress = () => {
      let n = 0;
      for (const c of this.counters) n += c.datagrams;
      return n;
    };
    // With pacing a socket is polled again only once its pacing interval has passed.
    const pacingMs = this.pacingUs / 1000;
    // A paced turn ends with whole loop turns too, so a poll phase runs after the pacing timer.
    const turn = pacingMs > 0 ? () => new Promise<void>((resolve) => setTimeout(resolve, Math.ceil(pacingMs) + 1)).then(nextTurn) : nextTurn;
    await readUntilQuiet(progress, turn, deadline);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Counters never go back: what the kernel dropped stays counted after close.
    this.finalDrops = this.socks.map((s) => s.kernelDrops());
    this.closed = true;
    for (const s of this.socks) s.close();
  }
}

/** Cache of textual source address -> [family, 16 address bytes]. */
class AddrCache {
  private map = new Map<string, Uint8Array>();

  lookup(text: string): Uint8Array {
    let e = this.map.get(text);
    if (e === undefined) {
      e = new Uint8Array(17);
      e[0] = parseAddress(text, e, 1);
      if (this.map.size >= 4096) this.map.clear();
      this.map.set(text, e);
    }
    return e;
  }
}

class DgramSource implements BatchSource {
  readonly path = 'dgram' as const;
  readonly signalsIdle = false;
  readonly reason: string;
  address = '';
  port = 0;
  readonly socketCount = 1;
  paused = false;
  private readonly sock: dgram.Socket;
  private readonly batch: Batch;
  private readonly onBatch: (b: Batch) => void;
  private readonly cache = new AddrCache();
  /** Doubles from the start (src/counting.ts). */
  private readonly c = { datagrams: COUNTER_ZERO, batches: COUNTER_ZERO, bytes: COUNTER_ZERO, truncated: COUNTER_ZERO };
  /**
   * Datagrams read from the socket (counted as they arrive, before their batch is delivered); a
   * double from the start (src/counting.ts).
   */
  private arrived = COUNTER_ZERO;
  private scheduled = false;
  private flushing = false;
  private closed = false;
  private rcvbuf = 0;
  private readonly flushCb = () => {
    this.scheduled = false;
    this.flush();
  };

  private constructor(opts: SourceOptions, reason: string) {
    this.reason = reason;
    this.onBatch = opts.onBatch;
    this.batch = allocBatch(opts.batchSize ?? DEFAULTS.batchSize, opts.slotSize ?? DEFAULTS.slotSize, 0);
    const host = opts.host ?? DEFAULTS.host;
    const v6 = host.includes(':');
    this.sock = dgram.createSocket({
      type: v6 ? 'udp6' : 'udp4',
      ipv6Only: v6 && opts.v6only === true,
      reuseAddr: opts.reusePort === true,
      ...(opts.rcvbuf ? { recvBufferSize: opts.rcvbuf } : {}),
    });
    this.sock.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
  }

  static async open(opts: SourceOptions, reason: string, log: (m: string) => void): Promise<DgramSource> {
    const n = opts.sockets ?? 1;
    let why = reason;
    if (n > 1) why += `; dgram path opens 1 socket, not ${n} (Node 20 dgram has no SO_REUSEPORT)`;
    const s = new DgramSource(opts, why);
    const onError = opts.onError ?? ((e: Error) => log(`ingest receive error: ${e.message}`));
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => reject(err);
      s.sock.once('error', fail);
      s.sock.bind({ address: opts.host ?? DEFAULTS.host, port: opts.port, exclusive: true }, () => {
        s.sock.off('error', fail);
        s.sock.on('error', onError);
        resolve();
      });
    });
    const a = s.sock.address();
    s.address = a.address;
    s.port = a.port;
    s.rcvbuf = s.sock.getRecvBufferSize();
    return s;
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed) return;
    this.arrived++;
    const b = this.batch;
    const i = b.count;
    const slot = b.slotSize;
    const n = msg.length > slot ? slot : msg.length;
    msg.copy(b.data, i * slot, 0, n);
    b.lengths[i] = n;
    b.truncated[i] = msg.length > slot ? 1 : 0;
    const a = this.cache.lookup(rinfo.address);
    b.families[i] = a[0]!;
    b.addrs.set(a.subarray(1), i * 16);
    b.ports[i] = rinfo.port;
    const ms = performance.timeOrigin + performance.now();
    const sec = Math.floor(ms / 1000);
    b.tsSec[i] = sec;
    b.tsNsec[i] = Math.floor((ms - sec * 1000) * 1e6);
    b.count = i + 1;
    this.c.bytes += n;
    if (n < msg.length) this.c.truncated++;
    if (b.count === b.capacity) {
      this.flush();
    } else if (!this.scheduled) {
      // Everything Node reads in this poll phase lands in the same batch.
      this.scheduled = true;
      setImmediate(this.flushCb);
    }
  }

  private flush(): void {
    const b = this.batch;
    if (b.count === 0 || this.flushing) return;
    this.c.datagrams += b.count;
    this.c.batches++;
    this.flushing = true;
    try {
      this.onBatch(b);
    } finally {
      this.flushing = false;
      b.count = 0;
    }
  }

  stats(): SourceStats {
    return sumStats([{ ...this.c, kernelDrops: null, rxqOvfl: null, rcvbuf: this.rcvbuf, readDelayUs: null }]);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  spreadGroup(): void {}

  unref(): void {
    this.sock.unref();
  }

  ref(): void {
    this.sock.ref();
  }

  async readQueued(deadline: number): Promise<void> {
    if (this.closed) return;
    await readUntilQuiet(() => this.arrived, nextTurn, deadline);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush(); // deliver what this tick collected (no-op when called from onBatch)
    this.closed = true;
    await new Promise<void>((resolve) => this.sock.close(() => resolve()));
  }
}
