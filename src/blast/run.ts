/**
 * The send loop of `flow-collector blast`: opens one socket per exporter, sends every
 * exporter's template datagrams first (the preamble), then paces the exporters' datagrams
 * round-robin at the target rate, rewriting sequence numbers and export times as it goes, and
 * repeats the template datagrams every N datagrams or S seconds per exporter.
 *
 * The pacer runs synchronously in slices of SLICE_MS; between slices the event loop gets a turn
 * (signals, the progress line, dgram completions).
 */
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { Pacer, sleepSync } from './pacer.js';
import { openExporterSockets, type ExporterSocket } from './sockets.js';
import { byteCount, commit, stamp, type ExporterStream } from './stream.js';

export interface RunOptions {
  host: string;
  port: number;
  /** Datagrams per second; Infinity: as fast as the kernel takes them. */
  rate: number;
  /** Seconds of sending after the preamble (Infinity: until `count`). */
  duration: number;
  /** Datagrams in all, preamble and template refreshes included (Infinity: until `duration`). */
  count: number;
  preamble: boolean;
  /** Pause after the preamble, for the collector to learn the templates. */
  preambleWaitMs: number;
  /** Template datagrams again after this many datagrams of the exporter (0: never). */
  templateEvery: number;
  /** ... or after this many seconds (0: never). */
  templateInterval: number;
  /** Most datagrams per send call. */
  burst: number;
  /** Called about once a second while sending. */
  onProgress?: (p: Progress) => void;
  /** Aborts the run (stops between slices; what was sent is reported). */
  signal?: AbortSignal;
}

export interface Progress {
  seconds: number;
  datagrams: number;
  flows: number;
  bytes: number;
}

export interface ExporterResult {
  address: string;
  port: number;
  label: string;
  datagrams: number;
  flows: number;
}

export interface BlastResult {
  /** Datagrams the kernel accepted (preamble and template refreshes included). */
  datagrams: number;
  /** Datagrams that carried templates (preamble and refreshes). */
  templateDatagrams: number;
  flows: number;
  bytes: number;
  /** Seconds of the paced part (after the preamble). */
  seconds: number;
  /** Datagrams per second over the paced part. */
  achievedRate: number;
  /** Send calls that found the send buffer full. */
  stalls: number;
  /** Transient send errors (ECONNREFUSED, ENOBUFS...) that were retried. */
  retriedErrors: number;
  path: 'addon' | 'dgram';
  pathReason: string;
  exporters: ExporterResult[];
  interrupted: boolean;
}

const SLICE_MS = 20;
/** Errors worth retrying: the target (or the route to it) may come back. */
const TRANSIENT = new Set(['ECONNREFUSED', 'ENOBUFS', 'EHOSTUNREACH', 'EAGAIN', 'EINTR']);
/** Consecutive transient errors after which blast gives up. */
const MAX_CONSECUTIVE_ERRORS = 10_000;

export class SendError extends Error {}

interface State {
  e: ExporterStream;
  sock: ExporterSocket;
  pos: number;
  /** Datagrams since the last templates. */
  since: number;
  lastTemplatesMs: number;
  /** Template datagrams still to send in the current refresh (index into e.templates), -1: none. */
  tpl: number;
  datagrams: number;
  flows: number;
}

export async function runBlast(streams: ExporterStream[], o: RunOptions): Promise<BlastResult> {
  if (streams.length === 0) throw new Error('nothing to send');
  const opened = await openExporterSockets(
    streams.map((s) => s.source),
    o.host,
    o.port,
  );
  const maxDomains = Math.max(...streams.map((s) => s.seq.length));
  const scratch = new Float64Array(maxDomains);
  const state: State[] = streams.map((e, i) => ({ e, sock: opened.sockets[i]!, pos: e.cycleFrom, since: 0, lastTemplatesMs: 0, tpl: -1, datagrams: 0, flows: 0 }));
  let datagrams = 0;
  let templateDatagrams = 0;
  let flows = 0;
  let bytes = 0;
  let retried = 0;
  let consecutive = 0;
  let fatal: Error | undefined;
  let interrupted = false;
  let closed = false;

  /** Sends datagrams [from, from + count) of one exporter; returns how many went. */
  const sendRange = (s: State, from: number, count: number): number => {
    const e = s.e;
    stamp(e, from, count, Math.floor(Date.now() / 1000), scratch);
    let got: number;
    try {
      got = s.sock.send(e.data, e.offsets.subarray(from), e.lengths.subarray(from), count);
      consecutive = 0;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (TRANSIENT.has(code) && ++consecutive < MAX_CONSECUTIVE_ERRORS) {
        retried++;
        return 0;
      }
      fatal = new SendError(`sending from ${s.sock.address}:${s.sock.port} (${e.label}) to ${o.host}:${o.port} failed: ${(err as Error).message}`);
      return 0;
    }
    const f = commit(e, from, got);
    s.datagrams += got;
    s.flows += f;
    s.since += got;
    datagrams += got;
    flows += f;
    bytes += byteCount(e, from, got);
    return got;
  };

  /** Sends the rest of an exporter's template datagrams, at most `max`; returns how many went. */
  const sendTemplates = (s: State, max: number): number => {
    let n = 0;
    while (s.tpl >= 0 && n < max) {
      const idx = s.e.templates[s.tpl]!;
      const got = sendRange(s, idx, 1);
      if (got === 0) break;
      n++;
      templateDatagrams++;
      s.tpl++;
      if (s.tpl >= s.e.templates.length) {
        s.tpl = -1;
        s.since = 0;
        s.lastTemplatesMs = Date.now();
      }
    }
    return n;
  };

  try {
    // Preamble: every exporter's template datagrams, then a pause for the collector.
    let preambleSent = 0;
    if (o.preamble) {
      for (const s of state) {
        if (s.e.templates.length === 0) continue;
        s.tpl = 0;
        for (let tries = 0; s.tpl >= 0 && tries < 10_000 && fatal === undefined; tries++) {
          if (datagrams >= o.count) break;
          const got = sendTemplates(s, 1);
          preambleSent += got;
          if (got === 0) sleepSync(0.5);
        }
        if (fatal !== undefined) throw fatal;
        s.lastTemplatesMs = Date.now();
      }
      if (preambleSent > 0 && o.preambleWaitMs > 0) await new Promise((r) => setTimeout(r, o.preambleWaitMs));
    }
    const now0 = Date.now();
    for (const s of state) s.lastTemplatesMs = now0;

    let k = 0;
    const n = state.length;
    const refreshMs = o.templateInterval * 1000;
    const send = (max: number): number => {
      if (fatal !== undefined) return 0;
      const s = state[k]!;
      k = k + 1 === n ? 0 : k + 1;
      const e = s.e;
      if (s.tpl < 0 && e.templates.length > 0) {
        if ((o.templateEvery > 0 && s.since >= o.templateEvery) || (refreshMs > 0 && Date.now() - s.lastTemplatesMs >= refreshMs)) s.tpl = 0;
      }
      if (s.tpl >= 0) return sendTemplates(s, max);
      const total = e.offsets.length;
      if (e.cycleFrom >= total) return 0;
      const from = s.pos;
      const got = sendRange(s, from, Math.min(max, total - from));
      s.pos = from + got >= total ? e.cycleFrom : from + got;
      return got;
    };
    const pacer = new Pacer({
      rate: o.rate,
      duration: o.duration,
      total: Number.isFinite(o.count) ? Math.max(0, o.count - datagrams) : undefined,
      maxBurst: o.burst,
      send,
    });
    const abort = () => {
      interrupted = true;
      pacer.stop();
    };
    o.signal?.addEventListener('abort', abort, { once: true });
    let lastProgress = Date.now();
    const progress = () => o.onProgress?.({ seconds: pacer.elapsed(), datagrams, flows, bytes });
    const dgram = opened.path === 'dgram';
    while (!pacer.run(dgram ? 5 : SLICE_MS)) {
      if (fatal !== undefined) break;
      for (const s of state) {
        const err = s.sock.error();
        if (err !== undefined) fatal = new SendError(`sending from ${s.sock.address}:${s.sock.port} to ${o.host}:${o.port} failed: ${err.message}`);
      }
      if (fatal !== undefined) break;
      if (o.onProgress && Date.now() - lastProgress >= 1000) {
        lastProgress = Date.now();
        progress();
      }
      await yieldLoop();
    }
    pacer.stop();
    o.signal?.removeEventListener('abort', abort);
    if (fatal !== undefined) throw fatal;
    // dgram: wait until every accepted datagram has left; a late error is still a failure.
    closed = true;
    await Promise.all(state.map((s) => s.sock.close()));
    for (const s of state) {
      const err = s.sock.error();
      if (err !== undefined) throw new SendError(`sending from ${s.sock.address}:${s.sock.port} (${s.e.label}) to ${o.host}:${o.port} failed: ${err.message}`);
    }
    const r = pacer.result();
    return {
      datagrams,
      templateDatagrams,
      flows,
      bytes,
      seconds: r.seconds,
      achievedRate: r.seconds > 0 ? r.sent / r.seconds : 0,
      stalls: r.stalls,
      retriedErrors: retried,
      path: opened.path,
      pathReason: opened.reason,
      exporters: state.map((s) => ({ address: s.sock.address, port: s.sock.port, label: s.e.label, datagrams: s.datagrams, flows: s.flows })),
      interrupted,
    };
  } finally {
    if (!closed) await Promise.all(state.map((s) => s.sock.close().catch(() => undefined)));
  }
}
