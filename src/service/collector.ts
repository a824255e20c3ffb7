/**
 * The collector's main thread: checks the listeners can bind, starts the worker threads (each a
 * whole flow path: sockets, decoder, outputs), the metrics and health server and the stdout
 * writer, logs a summary per interval and rate-limited warnings, and stops cleanly: stop
 * reading, deliver what was decoded until the drain deadline, count the rest.
 */
import dgram from 'node:dgram';
import { MessageChannel, Worker } from 'node:worker_threads';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { CollectorConfig } from '../config/mod.js';
import { StdoutPump } from '../output/mod.js';
import { choosePath, type PathChoice } from '../ingest/mod.js';
import { classify, createMetrics } from './metrics.js';
import { startHttpServer, type HealthReport, type HttpServerHandle } from './http.js';
import { RateLimitedLog } from './log.js';
import { KvBridge } from './kvbridge.js';
import { reuseportGroupSize } from './reuseport.js';
import type { ListenerBound, ListenerSnapshot, ToMain, ToWorker, WorkerInit, WorkerSnapshot } from './messages.js';

/** A failure to start: exit code 1, one clear line. */
export class StartupError extends Error {
  constructor(
    message: string,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

export interface CollectorOptions {
  config: CollectorConfig;
  logger: Logger;
  version: string;
  /** Use Node's dgram sockets even when the addon is available. */
  forceDgram?: boolean;
  /** Milliseconds between worker snapshots (metrics freshness, heartbeat). Default 1000. */
  snapshotMs?: number;
  /** Called when a worker dies unexpectedly; the caller stops the collector and exits 1. */
  onFatal?: (err: Error) => void;
}

export interface StopReport {
  delivered: number;
  dropped: number;
  /** Workers that did not finish draining in time and were terminated. */
  terminated: number;
}

interface WorkerSlot {
  worker: Worker;
  snapshot: WorkerSnapshot | undefined;
  lastSeen: number;
  listeners: ListenerBound[];
  exited: boolean;
  stopped: ((m: Extract<ToMain, { type: 'stopped' }>) => void) | undefined;
}

function describeBindError(code: string | undefined): string {
  switch (code) {
    case 'EADDRINUSE':
      return 'the port is in use by another program (another collector?)';
    case 'EADDRNOTAVAIL':
      return 'the address is not on this host';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)';
    case 'EAFNOSUPPORT':
      return 'IPv6 is not available on this host';
    default:
      return code ?? 'unknown error';
  }
}

/**
 * Binds each listener once without SO_REUSEPORT: proves the port is free and resolves port 0.
 * A `shared` listener with a fixed port is not probed: other collector processes may hold it
 * (their SO_REUSEPORT group is joined; a socket of another program still fails the bind).
 */
async function probePorts(cfg: CollectorConfig): Promise<number[]> {
  const ports: number[] = [];
  for (const l of cfg.listeners) {
    if (l.shared && l.port !== 0) {
      ports.push(l.port);
      continue;
    }
    const type = l.address.includes(':') ? 'udp6' : 'udp4';
    const s = dgram.createSocket({ type });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        s.once('error', reject);
        s.bind({ address: l.address, port: l.port, exclusive: true }, () => resolve(s.address().port));
      });
      ports.push(port);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new StartupError(`listener ${l.name}: cannot bind UDP ${l.address}:${l.port}: ${describeBindError(e.code)} (${e.code ?? e.message})`, e.code ?? null);
    } finally {
      await new Promise<void>((resolve) => {
        try {
          s.close(() => resolve());
        } catch {
          resolve();
        }
      });
    }
  }
  return ports;
}

function splitHostPort(addr: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:]+):(\d+)$/.exec(addr);
  if (m === null) throw new StartupError(`metrics.address: "${addr}" is not ADDR:PORT`);
  return { host: m[1]!, port: Number(m[2]) };
}

export class Collector {
  private readonly slots: WorkerSlot[] = [];
  private readonly rl: RateLimitedLog;
  private readonly log: Logger;
  private http: HttpServerHandle | undefined;
  /** The health-only server (health.address apart from the metrics server). */
  private healthHttp: HttpServerHandle | undefined;
  private pump: StdoutPump | undefined;
  private registry: Registry | undefined;
  private summaryTimer: NodeJS.Timeout | undefined;
  private spreadTimer: NodeJS.Timeout | undefined;
  private kv: KvBridge | undefined;
  private started = false;
  private stopping: Promise<StopReport> | undefined;
  private lastSummary = { at: Date.now(), datagrams: 0, flows: 0 };
  private lastWarn = { kernel: 0, dropped: 0 };
  /** Per listener and worker, what had arrived at the last kernel_drops warning logged. */
  private dropsWarned: Arrivals[][] = [];
  readonly snapshotMs: number;
  /** Worker threads running (the configured number, or 1 on the dgram path). */
  workers = 0;
  /** Listeners as bound (address, concrete port, path). */
  listeners: ListenerBound[] = [];
  /** The main thread's ingest path and why (the workers choose the same way). */
  ingest: PathChoice = { path: 'dgram', reason: 'not started' };
  /** Longest warm-up of a worker before it read its sockets (milliseconds). */
  warmupMs = 0;
  metricsAddress: { address: string; port: number } | null = null;
  /** Where /healthz and /readyz are served (the metrics server's address when they share it); null: nowhere. */
  healthAddress: { address: string; port: number } | null = null;

  private constructor(private readonly opts: CollectorOptions) {
    this.log = opts.logger;
    this.rl = new RateLimitedLog(opts.logger, opts.config.logging.warn_interval_s * 1000);
    this.snapshotMs = opts.snapshotMs ?? 1000;
  }

  static async start(opts: CollectorOptions): Promise<Collector> {
    const c = new Collector(opts);
    try {
      await c.startAll();
    } catch (err) {
      await c.teardown();
      throw err;
    }
    return c;
  }

  private async startAll(): Promise<void> {
    const cfg = this.opts.config;
    const ports = await probePorts(cfg);

    // Node's dgram sockets have no SO_REUSEPORT: a second worker's socket on the same port
    // would take every datagram from the first. On that path one worker reads every port.
    let choice: PathChoice;
    try {
      choice = choosePath(this.opts.forceDgram === true);
    } catch (err) {
      throw new StartupError((err as Error).message);
    }
    this.ingest = choice;
    this.workers = cfg.workers;
    const shared = cfg.listeners.find((l) => l.shared);
    if (choice.path === 'dgram' && shared !== undefined) {
      throw new StartupError(`listener ${shared.name}: shared needs SO_REUSEPORT, which the dgram path (no native addon: ${choice.reason}) cannot set; install the addon or remove shared`);
    }
    if (choice.path === 'dgram' && cfg.workers > 1) {
      this.log.warn({ configured_workers: cfg.workers, reason: choice.reason }, 'ingest on the dgram path (no native addon): one socket per port, so one worker decodes everything');
      this.workers = 1;
    }

    // Metrics and health first: probes and scrapes work while workers start.
    if (cfg.metrics.enabled) {
      const { host, port } = splitHostPort(cfg.metrics.address);
      this.registry = createMetrics(
        () => this.slots.map((s) => s.snapshot),
        { version: this.opts.version, ingestPath: choice.path, ingestReason: choice.reason, workers: this.workers },
        () => this.isReady(),
        () => this.kv?.store.kvStats(),
      );
      const reg = this.registry;
      try {
        this.http = await startHttpServer({
          host,
          port,
          metrics: async () => ({ contentType: reg.contentType, body: await reg.metrics() }),
          healthz: () => this.healthz(),
          readyz: () => this.readyz(),
          onError: (err) => this.rl.emit('warn', 'http', 'metrics server error', { error: err.message }),
        });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new StartupError(`metrics.address ${cfg.metrics.address}: cannot listen: ${describeBindError(e.code)} (${e.code ?? e.message})`, e.code ?? null);
      }
      this.metricsAddress = { address: this.http.address, port: this.http.port };
      this.healthAddress = this.metricsAddress;
    }
    // Probes must work whether or not metrics are on: health.address gets its own server unless
    // the metrics server already listens there.
    const healthAddr = cfg.health.address;
    if (healthAddr !== undefined && !(cfg.metrics.enabled && healthAddr === cfg.metrics.address)) {
      const { host, port } = splitHostPort(healthAddr);
      try {
        this.healthHttp = await startHttpServer({
          host,
          port,
          healthz: () => this.healthz(),
          readyz: () => this.readyz(),
          onError: (err) => this.rl.emit('warn', 'http', 'health server error', { error: err.message }),
        });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new StartupError(`health.address ${healthAddr}: cannot listen: ${describeBindError(e.code)} (${e.code ?? e.message})`, e.code ?? null);
      }
      this.healthAddress = { address: this.healthHttp.address, port: this.healthHttp.port };
    }

    const needsStdout = cfg.outputs.some((o) => o.type === 'stdout');
    if (needsStdout) this.pump = new StdoutPump(1, (err) => this.rl.emit('error', 'stdout', 'cannot write flows to stdout', { error: err.code ?? err.message }));

    const storeChannel = `flow-collector-templates-${randomUUID()}`;
    if (cfg.template_store.backend === 'nats_kv') {
      // Joins the channel before the workers start: it hears everything they learn.
      this.kv = new KvBridge(cfg, storeChannel, (level, key, msg, fields) => this.rl.emit(level, key, msg, fields));
    }
    const warms: Promise<void>[] = [];
    const readies: Promise<void>[] = [];
    for (let i = 0; i < this.workers; i++) {
      let stdoutPort = null;
      if (this.pump !== undefined) {
        const ch = new MessageChannel();
        this.pump.attach(ch.port1);
        stdoutPort = ch.port2;
      }
      const init: WorkerInit = {
        index: i,
        config: { ...cfg, workers: this.workers },
        ports,
        storeChannel,
        stdoutPort,
        snapshotMs: this.snapshotMs,
        forceDgram: this.opts.forceDgram === true,
      };
      const worker = new Worker(new URL('./worker.js', import.meta.url), {
        workerData: init,
        transferList: stdoutPort !== null ? [stdoutPort] : [],
      });
      const slot: WorkerSlot = { worker, snapshot: undefined, lastSeen: Date.now(), listeners: [], exited: false, stopped: undefined };
      this.slots.push(slot);
      let warm!: () => void;
      warms.push(new Promise<void>((resolve) => (warm = resolve)));
      readies.push(
        new Promise<void>((resolve, reject) => {
          let ready = false;
          worker.on('message', (m: ToMain) => {
            slot.lastSeen = Date.now();
            switch (m.type) {
              case 'warm':
                this.warmupMs = Math.max(this.warmupMs, m.warmupMs);
                warm();
                break;
              case 'ready':
                ready = true;
                slot.listeners = m.listeners;
                resolve();
                break;
              case 'failed':
                reject(new StartupError(`worker ${i}: ${m.message}`, m.code));
                break;
              case 'snapshot':
                slot.snapshot = m.snapshot;
                this.onSnapshot(m.snapshot);
                break;
              case 'log':
                this.rl.emit(m.level, m.key, m.msg, { worker: i, ...(m.fields ?? {}) });
                break;
              case 'stopped':
                slot.snapshot = m.snapshot;
                slot.stopped?.(m);
                break;
            }
          });
          worker.on('error', (err) => {
            if (!ready) reject(new StartupError(`worker ${i} failed to start: ${err.message}`));
            else this.fatal(new Error(`worker ${i} crashed: ${err.stack ?? err.message}`));
          });
          worker.on('exit', (code) => {
            slot.exited = true;
            if (!ready) reject(new StartupError(`worker ${i} exited during start-up (code ${code})`));
            else if (this.stopping === undefined) this.fatal(new Error(`worker ${i} exited unexpectedly (code ${code})`));
          });
        }),
      );
    }
    // Sockets only once every worker is warm (worker.ts); a worker that fails first ends the wait.
    await Promise.all(readies.map((r, i) => Promise.race([warms[i]!, r])));
    for (let i = 0; i < this.slots.length; i++) this.send(i, { type: 'open' });
    await Promise.all(readies);
    this.kv?.start();

    // Every worker's sockets are in each port's SO_REUSEPORT group now: spread them.
    for (const [k, l] of cfg.listeners.entries()) {
      if (l.spread !== 'none' && !l.shared) {
        this.send(0, { type: 'spread', listener: k, mode: l.spread, groupSize: this.workers * l.sockets_per_worker });
      }
    }
    this.spreadShared(ports);
    // Per socket: getsockopt(SO_RCVBUF) reports twice what was asked for (the kernel's bookkeeping share).
    this.listeners = this.slots[0]!.listeners.map((l) => ({ ...l, rcvbuf: Math.round(l.rcvbuf / Math.max(1, l.sockets)), sockets: l.sockets * this.workers }));
    this.warnSmallBuffers();
    this.started = true;
    if (cfg.logging.summary_interval_s > 0) {
      this.summaryTimer = setInterval(() => this.summary(), cfg.logging.summary_interval_s * 1000);
      this.summaryTimer.unref();
    }
  }

  /**
   * A receive buffer smaller than asked for (no CAP_NET_ADMIN, and net.core.rmem_max below the
   * request) turns every burst past it into kernel drops: said once at start, with the fix.
   */
  private warnSmallBuffers(): void {
    for (const l of this.listeners) {
      const want = this.opts.config.listeners.find((c) => c.name === l.name)?.receive_buffer_bytes ?? 0;
      // Linux reports twice the size set (its bookkeeping share).
      const granted = Math.floor(l.rcvbuf / 2);
      if (want === 0 || l.rcvbuf === 0 || granted >= want * 0.99) continue;
      const rmemMax = readSysctl('/proc/sys/net/core/rmem_max');
      this.log.warn(
        { listener: l.name, receive_buffer_bytes: want, granted_bytes: granted, rmem_max: rmemMax ?? 'unknown' },
        `listener ${l.name}: the kernel granted a receive buffer of ${granted} bytes per socket, not the ${want} asked for` +
          `${rmemMax !== undefined ? ` (net.core.rmem_max is ${rmemMax})` : ''}; datagrams that arrive while it is full are dropped ` +
          `(flow_collector_kernel_drops_total). Fix: set net.core.rmem_max to at least ${want} on the host, or give the process ` +
          'CAP_NET_ADMIN (SO_RCVBUFFORCE; the chart: receiveBufferForce), or lower receive_buffer_bytes to silence this (docs/deploy.md)',
      );
    }
  }

  /**
   * A shared port's SO_REUSEPORT group holds the sockets of every collector process on it, and
   * the spread program (one per group: the last one attached wins) must spread over all of them.
   * Every process counts the group's sockets (its own included) and attaches the program for that
   * count again whenever it changes, so they all converge on the same program as processes come
   * and go. In between, an index past the group's end falls back to the kernel's hash: nothing
   * is lost.
   */
  private spreadShared(ports: number[]): void {
    const cfg = this.opts.config;
    const shared = cfg.listeners.map((l, k) => ({ l, k })).filter(({ l }) => l.shared && l.spread !== 'none');
    if (shared.length === 0) return;
    const applied = new Map<number, number>();
    const check = () => {
      for (const { l, k } of shared) {
        const n = reuseportGroupSize(l.address, ports[k]!);
        if (n > 0 && n !== applied.get(k)) {
          applied.set(k, n);
          this.send(0, { type: 'spread', listener: k, mode: l.spread as 'random' | 'roundrobin' | 'cpu', groupSize: n });
        }
      }
    };
    check();
    this.spreadTimer = setInterval(check, 2000);
    this.spreadTimer.unref();
  }

  private send(i: number, m: ToWorker): void {
    const s = this.slots[i];
    if (s !== undefined && !s.exited) s.worker.postMessage(m);
  }

  private fatal(err: Error): void {
    this.log.error({ error: err.message }, 'collector failure');
    this.opts.onFatal?.(err);
  }

  isReady(): boolean {
    if (!this.started || this.stopping !== undefined) return false;
    for (const s of this.slots) {
      if (s.exited) return false;
      if (s.snapshot !== undefined && s.snapshot.outputs.some((o) => !o.ready)) return false;
    }
    return true;
  }

  healthz(): HealthReport {
    const checks: HealthReport['checks'] = {};
    const now = Date.now();
    const limit = Math.max(5000, this.snapshotMs * 5);
    let ok = true;
    this.slots.forEach((s, i) => {
      const age = now - s.lastSeen;
      const good = !s.exited && age <= limit;
      if (!good) ok = false;
      checks[`worker_${i}`] = { ok: good, detail: s.exited ? 'exited' : `last heard ${age} ms ago` };
    });
    return { ok, checks };
  }

  readyz(): HealthReport {
    const checks: HealthReport['checks'] = {};
    checks['listeners'] = { ok: this.started, detail: this.started ? this.listeners.map((l) => `${l.name} ${l.address}:${l.port}`).join(', ') : 'binding' };
    if (this.stopping !== undefined) checks['shutdown'] = { ok: false, detail: 'stopping' };
    const outs = new Map<string, boolean>();
    for (const s of this.slots) for (const o of s.snapshot?.outputs ?? []) outs.set(o.name, (outs.get(o.name) ?? true) && o.ready);
    for (const [name, ok] of outs) checks[`output ${name}`] = { ok };
    if (this.kv !== undefined) {
      // Shown, never required: decoding goes on with local templates while the store is away.
      const st = this.kv.store;
      checks['template_store'] = { ok: st.connectionState === 'ready', detail: `nats_kv ${st.connectionState}${st.isPreloaded ? ', loaded' : ', loading'} (not required for readiness)` };
    }
    return { ok: this.isReady(), checks };
  }

  /** Totals over the workers' latest snapshots. */
  totals(): { datagrams: number; flows: number; delivered: number; dropped: number; kernelDrops: number; decodeErrors: number; queuedBytes: number; outputBytes: number } {
    let datagrams = 0, flows = 0, delivered = 0, dropped = 0, kernelDrops = 0, decodeErrors = 0, queuedBytes = 0, outputBytes = 0;
    for (const s of this.slots) {
      const snap = s.snapshot;
      if (snap === undefined) continue;
      for (const l of snap.listeners) {
        datagrams += l.datagrams;
        kernelDrops += socketDrops(l);
      }
      for (const v of Object.values(snap.flows)) flows += v;
      for (const o of snap.outputs) {
        delivered += o.delivered;
        outputBytes += o.bytes;
        queuedBytes += o.queuedBytes;
        for (const v of Object.values(o.dropped)) dropped += v;
      }
      for (const [r, v] of Object.entries(snap.counters)) {
        if (classify(r)?.metric === 'decode_errors') decodeErrors += v;
      }
    }
    return { datagrams, flows, delivered, dropped, kernelDrops, decodeErrors, queuedBytes, outputBytes };
  }

  private onSnapshot(s: WorkerSnapshot): void {
    for (const e of s.errors) {
      this.rl.emit('warn', `decode:${e.reason}`, `decode error ${e.reason}`, { reason: e.reason, exporter: e.exporter, listener: e.listener, count: e.count });
    }
    const t = this.totals();
    if (t.kernelDrops > this.lastWarn.kernel) {
      const arrivals = this.arrivalsByWorker();
      // With drop_policy block a worker whose outputs are full stops reading: its drops are the outputs'.
      const lopsided = this.opts.config.queue.drop_policy === 'block' ? undefined : lopsidedListener(this.opts.config.listeners, arrivals, this.dropsWarned);
      const logged =
        lopsided === undefined
          ? this.rl.emit('warn', 'kernel_drops', 'the kernel dropped datagrams: receive buffers full (add workers or sockets, raise receive_buffer_bytes)', { kernel_drops_total: t.kernelDrops })
          : this.rl.emit(
              'warn',
              'kernel_drops',
              `the kernel dropped datagrams: on listener ${lopsided.name}, worker ${lopsided.worker}'s sockets took ${Math.round(100 * lopsided.share)} % of the datagrams and ` +
                `${Math.round(100 * lopsided.dropShare)} % of the drops while the other workers had room (spread: none keeps each exporter on one socket, and a few ` +
                `large exporters hash unevenly; more workers do not help). Fix: listeners[${lopsided.index}].spread: random shares every exporter among the workers`,
              { kernel_drops_total: t.kernelDrops, listener: lopsided.name, worker: lopsided.worker, share_of_datagrams: round2(lopsided.share), share_of_drops: round2(lopsided.dropShare) },
            );
      // The next warning looks at what arrived after this one.
      if (logged) this.dropsWarned = arrivals;
      this.lastWarn.kernel = t.kernelDrops;
    }
    if (t.dropped > this.lastWarn.dropped) {
      this.rl.emit('warn', 'flows_dropped', 'flows dropped before delivery (see flow_collector_flows_dropped_total by reason)', { flows_dropped_total: t.dropped });
      this.lastWarn.dropped = t.dropped;
    }
  }

  /** Per listener and worker: datagrams read and dropped by the kernel on its sockets so far. */
  private arrivalsByWorker(): Arrivals[][] {
    return this.opts.config.listeners.map((_, k) =>
      this.slots.map((s) => {
        const l = s.snapshot?.listeners[k];
        return { read: l?.datagrams ?? 0, drops: l === undefined ? 0 : socketDrops(l) };
      }),
    );
  }

  private summary(): void {
    const t = this.totals();
    const now = Date.now();
    const secs = Math.max(0.001, (now - this.lastSummary.at) / 1000);
    this.log.info(
      {
        datagrams: t.datagrams,
        flows: t.flows,
        delivered: t.delivered,
        dropped: t.dropped,
        kernel_drops: t.kernelDrops,
        decode_errors: t.decodeErrors,
        queue_bytes: t.queuedBytes,
        datagrams_per_s: Math.round((t.datagrams - this.lastSummary.datagrams) / secs),
        flows_per_s: Math.round((t.flows - this.lastSummary.flows) / secs),
      },
      'summary',
    );
    this.lastSummary = { at: now, datagrams: t.datagrams, flows: t.flows };
  }

  /** Reopens every worker's output files (SIGHUP, after logrotate moved them). */
  reopen(): void {
    for (let i = 0; i < this.slots.length; i++) this.send(i, { type: 'reopen' });
  }

  /**
   * Stops reading, lets every worker deliver what it decoded until the drain deadline, counts
   * the rest, and closes everything. Idempotent.
   */
  stop(): Promise<StopReport> {
    if (this.stopping === undefined) this.stopping = this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<StopReport> {
    const deadline = Date.now() + this.opts.config.shutdown.drain_timeout_ms;
    let delivered = 0;
    let dropped = 0;
    let terminated = 0;
    await Promise.all(
      this.slots.map(
        (s, i) =>
          new Promise<void>((resolve) => {
            if (s.exited) return resolve();
            const timer = setTimeout(() => {
              terminated++;
              resolve();
            }, Math.max(0, deadline - Date.now()) + 2000);
            s.stopped = (m) => {
              clearTimeout(timer);
              delivered += m.delivered;
              dropped += m.dropped;
              resolve();
            };
            this.send(i, { type: 'stop', deadline });
          }),
      ),
    );
    if (this.pump !== undefined) {
      await Promise.race([this.pump.idleNow(), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]);
    }
    await this.teardown();
    return { delivered, dropped, terminated };
  }

  private async teardown(): Promise<void> {
    if (this.summaryTimer !== undefined) clearInterval(this.summaryTimer);
    if (this.spreadTimer !== undefined) clearInterval(this.spreadTimer);
    await Promise.all(this.slots.map((s) => s.worker.terminate().catch(() => 0)));
    await this.kv?.close();
    await this.http?.close();
    await this.healthHttp?.close();
  }
}

/** A number from /proc/sys, or undefined when it cannot be read (not Linux, no /proc). */
function readSysctl(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Kernel drops on a worker's sockets of one listener (none counted on the dgram path). */
function socketDrops(l: ListenerSnapshot): number {
  let n = 0;
  for (const d of l.kernelDrops) n += d ?? 0;
  return n;
}

/** Datagrams a worker read and the kernel dropped on its sockets, for one listener. */
export interface Arrivals {
  read: number;
  drops: number;
}

const round2 = (x: number) => Math.round(100 * x) / 100;

/**
 * A listener whose kernel drops, since `before`, are one worker's while that worker's sockets
 * took most of what arrived: the kernel's 4-tuple hash (spread: none) put most of the exporters'
 * traffic on one socket, which another worker or more buffer does not fix. Only with two or more
 * workers, the hash (not a spread program) and drops to explain.
 */
export function lopsidedListener(
  listeners: readonly { name: string; spread: string; shared: boolean }[],
  now: readonly (readonly Arrivals[])[],
  before: readonly (readonly Arrivals[])[],
): { index: number; name: string; worker: number; share: number; dropShare: number } | undefined {
  for (let k = 0; k < listeners.length; k++) {
    const l = listeners[k]!;
    const workers = now[k] ?? [];
    if (l.spread !== 'none' || l.shared || workers.length < 2) continue;
    let total = 0;
    let drops = 0;
    let top = -1;
    let topArrived = -1;
    let topDrops = 0;
    for (let i = 0; i < workers.length; i++) {
      const b = before[k]?.[i] ?? { read: 0, drops: 0 };
      const d = Math.max(0, workers[i]!.drops - b.drops);
      const a = Math.max(0, workers[i]!.read - b.read) + d;
      total += a;
      drops += d;
      if (a > topArrived) {
        topArrived = a;
        top = i;
        topDrops = d;
      }
    }
    if (drops === 0 || total === 0) continue;
    const share = topArrived / total;
    const dropShare = topDrops / drops;
    // One and a half fair shares (two workers: 60 % is enough), and nearly all of the drops.
    if (share >= Math.min(0.6, 1.5 / workers.length) && dropShare >= 0.9) return { index: k, name: l.name, worker: top, share, dropShare };
  }
  return undefined;
}
