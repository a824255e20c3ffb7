// The metrics and health HTTP server of the `serve` service: GET/HEAD /metrics, /healthz, /readyz
// (or /healthz and /readyz only, for a health server while metrics are off).
//
// It must keep answering Prometheus scrapes and kubelet probes while something else misbehaves on the
// port (a scanner, a connection flood, a slowloris client), so it bounds everything a client can hold:
// header size and count, the time to send a request head and a request, keep-alive idleness, the time a
// response may take to be delivered, and the number of connections. See docs/health.md.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface HealthReport { ok: boolean; checks: Record<string, { ok: boolean; detail?: string }> }

export interface HttpServerOptions {
  /** Literal address to listen on, e.g. '127.0.0.1', '0.0.0.0', '::'. */
  host: string;
  /** TCP port; 0 lets the system pick one (read it back from the handle). */
  port: number;
  /** The exposition, e.g. `{ contentType: registry.contentType, body: await registry.metrics() }`. Absent: a health-only server, /metrics is 404. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** Liveness. */
  healthz: () => HealthReport;
  /** Readiness. */
  readyz: () => HealthReport;
  /** Connections held at once; at the cap the longest-idle connection is closed to admit a new one. Default 256. */
  maxConnections?: number;
  /** Time allowed to receive a request's headers. Default 5000. */
  headersTimeoutMs?: number;
  /** Time allowed to receive a whole request; also the limit on the metrics callback. Default 10000. */
  requestTimeoutMs?: number;
  /** Time a keep-alive connection may wait for its next request after a response. Default 5000. */
  keepAliveTimeoutMs?: number;
  /** Sockets with no request in flight (including ones that never sent a full request head) are closed after this. Default 15000. */
  idleSocketTimeoutMs?: number;
  /** Failures of the callbacks, and server errors after listening. Client misbehaviour is not reported. */
  onError?: (err: Error) => void;
}

export interface HttpServerHandle {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
  connections(): number;
}

const DEFAULTS = {
  maxConnections: 256,
  headersTimeoutMs: 5000,
  requestTimeoutMs: 10000,
  keepAliveTimeoutMs: 5000,
  idleSocketTimeoutMs: 15000,
} as const;

/** Request headers beyond this count are dropped by the parser (Prometheus and kubelet send under 10). */
const MAX_HEADERS_COUNT = 32;
/** Bytes of request head accepted; more gets 431 and the connection is closed. */
const MAX_HEADER_SIZE = 8192;

const ALLOW = 'GET, HEAD';
const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

type Route = 'metrics' | 'healthz' | 'readyz';

/** One accepted socket. It is in exactly one of `idle` or `busy` while tracked. */
interface Conn {
  readonly socket: Socket;
  /** Requests received whose responses have not closed yet (more than one only when pipelining). */
  inflight: number;
  /** performance.now() when the connection entered its current state (idle or busy). */
  since: number;
  tracked: boolean;
}

function positiveInt(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`${name} must be a positive integer, got ${String(v)}`);
  return v;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function errorOf(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the address is not assigned to any interface of this host',
};

/**
 * Starts the server and resolves once it listens. Rejects with a RangeError/TypeError for invalid options,
 * or with an Error naming the address when it cannot listen; the system's code (EADDRINUSE, EACCES,
 * EADDRNOTAVAIL, ...) is kept on `err.code` and the original error on `err.cause`.
 */
export function startHttpServer(opts: HttpServerOptions): Promise<HttpServerHandle> {
  let maxConnections: number, headersTimeoutMs: number, requestTimeoutMs: number;
  let keepAliveTimeoutMs: number, idleSocketTimeoutMs: number;
  try {
    if (typeof opts.host !== 'string' || opts.host === '') throw new TypeError('host must be a literal address such as 127.0.0.1 or ::');
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new RangeError(`port must be an integer from 0 to 65535, got ${String(opts.port)}`);
    for (const name of ['healthz', 'readyz'] as const) {
      if (typeof opts[name] !== 'function') throw new TypeError(`${name} must be a function`);
    }
    if (opts.metrics !== undefined && typeof opts.metrics !== 'function') throw new TypeError('metrics must be a function when given');
    maxConnections = positiveInt('maxConnections', opts.maxConnections, DEFAULTS.maxConnections);
    headersTimeoutMs = positiveInt('headersTimeoutMs', opts.headersTimeoutMs, DEFAULTS.headersTimeoutMs);
    requestTimeoutMs = positiveInt('requestTimeoutMs', opts.requestTimeoutMs, DEFAULTS.requestTimeoutMs);
    keepAliveTimeoutMs = positiveInt('keepAliveTimeoutMs', opts.keepAliveTimeoutMs, DEFAULTS.keepAliveTimeoutMs);
    idleSocketTimeoutMs = positiveInt('idleSocketTimeoutMs', opts.idleSocketTimeoutMs, DEFAULTS.idleSocketTimeoutMs);
    // node:http refuses a headers timeout longer than the request timeout.
    if (headersTimeoutMs > requestTimeoutMs) {
      throw new RangeError(`headersTimeoutMs (${headersTimeoutMs}) must not exceed requestTimeoutMs (${requestTimeoutMs})`);
    }
  } catch (e) {
    return Promise.reject(e);
  }
  const onError = opts.onError;
  const report = (e: unknown): void => {
    if (onError === undefined) return;
    try { onError(errorOf(e)); } catch { /* a failing error sink must not take the server down */ }
  };

  // A response must be handed to the kernel within this long of its request's head arriving: the metrics
  // callback gets requestTimeoutMs, and delivery as much again. A client that stops reading its response
  // would otherwise keep its connection busy, and so not evictable, for ever.
  const busyDeadlineMs = 2 * requestTimeoutMs;

  const server = createServer({
    headersTimeout: headersTimeoutMs,
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: keepAliveTimeoutMs,
    // node:http checks the headers and request timeouts on this period (30 s by default, which would
    // let a 5 s headers timeout run to 35 s); a few checks per timeout keeps them close to what is set.
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeoutMs / 4))),
    maxHeaderSize: MAX_HEADER_SIZE,
  });
  server.maxHeadersCount = MAX_HEADERS_COUNT;
  // server.maxConnections is deliberately left unset: it drops *new* connections at the cap, which is
  // exactly what lets a flood of idle sockets lock a scrape out. The cap is enforced in onConnection.

  // Connection cap.
  //
  // Every tracked socket is either busy (a request head has arrived and its response has not finished)
  // or idle (everything else: freshly accepted and silent, trickling in a request head, or keep-alive
  // between requests). `idle` and `busy` are Sets used as queues: a connection is re-inserted whenever it
  // changes state, so iteration order is the order in which connections entered that state, and the
  // first idle entry is the one idle the longest.
  //
  // When a connection arrives at the cap, the longest-idle connection is closed to make room (O(1)).
  // Only if no connection is idle is the new one closed. Why a scrape or probe still gets through:
  //  - Sockets that connect and send nothing, or send their head slowly (slowloris), count as idle and
  //    are the first to go, so no number of them can fill the server: each newcomer pushes out the
  //    oldest. A newcomer is itself the newest idle connection, so it is evicted only if maxConnections
  //    more connections arrive before its own request head does (a round trip for a real client).
  //  - Busy connections cannot pile up: the handlers answer at once (health) or within requestTimeoutMs
  //    (metrics, bounded by a timer), and a response not delivered within busyDeadlineMs (client not
  //    reading) has its connection destroyed by the sweep. So "all busy" is transient, never a lock-out.
  //  - Idle connections also expire on their own: keep-alive ones after keepAliveTimeoutMs (node:http),
  //    partial request heads after headersTimeoutMs (node:http), any idle one after idleSocketTimeoutMs
  //    (the sweep below).
  // A legitimate keep-alive scraper's connection may be evicted between scrapes during a flood; it then
  // reconnects on its next scrape and is admitted in the same way.
  const all = new Map<Socket, Conn>();
  const idle = new Set<Conn>();
  const busy = new Set<Conn>();
  let closing = false;

  const drop = (c: Conn): void => {
    if (!c.tracked) return;
    c.tracked = false;
    all.delete(c.socket);
    idle.delete(c);
    busy.delete(c);
    c.socket.destroy();
  };

  const onConnection = (socket: Socket): void => {
    if (closing) { socket.destroy(); return; }
    if (all.size >= maxConnections) {
      const oldest = idle.values().next();
      if (oldest.done === true) { socket.destroy(); return; }
      drop(oldest.value);
    }
    const c: Conn = { socket, inflight: 0, since: performance.now(), tracked: true };
    all.set(socket, c);
    idle.add(c);
    dueAt(c.since + idleSocketTimeoutMs);
    socket.once('close', () => drop(c));
  };
  // Added after node:http's own 'connection' listener, which has set the socket's parser up by then.
  server.on('connection', onConnection);

  const markBusy = (req: IncomingMessage, res: ServerResponse): void => {
    const c = all.get(req.socket);
    if (c === undefined) return;
    if (c.inflight++ === 0) {
      idle.delete(c);
      c.since = performance.now();
      busy.add(c);
      dueAt(c.since + busyDeadlineMs);
    }
    // 'close' follows 'finish' for a completed response and also fires if the socket dies first.
    res.once('close', () => {
      if (!c.tracked || --c.inflight !== 0) return;
      busy.delete(c);
      c.since = performance.now();
      idle.add(c);
      dueAt(c.since + idleSocketTimeoutMs);
    });
  };

  // Expiry of idle and stuck-busy connections. Both queues are in order of `since`, so each scan stops
  // at the first connection that has not expired. The sweep runs only when something can expire: one
  // timer, armed for the earliest deadline (moved earlier when a connection enters a queue with an
  // earlier one) and armed again after each sweep for the queues' new heads. With no connection open
  // nothing wakes the main thread for it (an interval did, every second).
  let sweepTimer: NodeJS.Timeout | undefined;
  let sweepAt = Infinity;
  const sweep = (): void => {
    sweepTimer = undefined;
    sweepAt = Infinity;
    const now = performance.now();
    for (const c of idle) {
      if (now - c.since < idleSocketTimeoutMs) break;
      drop(c);
    }
    for (const c of busy) {
      if (now - c.since < busyDeadlineMs) break;
      drop(c);
    }
    const i = idle.values().next();
    if (i.done !== true) dueAt(i.value.since + idleSocketTimeoutMs);
    const b = busy.values().next();
    if (b.done !== true) dueAt(b.value.since + busyDeadlineMs);
  };
  /** Arms the sweep for `at` (a performance.now() time) unless it is armed for then or earlier. */
  function dueAt(at: number): void {
    if (closing || at >= sweepAt) return;
    if (sweepTimer !== undefined) clearTimeout(sweepTimer);
    sweepAt = at;
    // A millisecond late: a timer may fire a fraction early, and the head must have expired by then.
    sweepTimer = setTimeout(sweep, Math.max(0, Math.ceil(at - performance.now())) + 1);
    sweepTimer.unref();
  }

  const send = (req: IncomingMessage, res: ServerResponse, status: number, contentType: string, body: string): void => {
    if (res.headersSent || res.destroyed) return;
    res.statusCode = status;
    res.setHeader('Content-Type', contentType);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    if (req.method === 'HEAD') res.end();
    else res.end(body);
  };

  const health = (req: IncomingMessage, res: ServerResponse, name: 'healthz' | 'readyz'): void => {
    let ok = false;
    let checks: HealthReport['checks'];
    try {
      const r = opts[name]();
      ok = r.ok === true;
      checks = r.checks ?? {};
    } catch (e) {
      report(e);
      checks = { exception: { ok: false, detail: `${name} callback threw: ${errorOf(e).message}` } };
    }
    let body: string;
    try {
      body = JSON.stringify({ status: ok ? 'ok' : 'fail', checks });
    } catch (e) {
      report(e);
      ok = false;
      body = JSON.stringify({ status: 'fail', checks: { exception: { ok: false, detail: `${name} report is not serialisable` } } });
    }
    send(req, res, ok ? 200 : 503, JSON_TYPE, body);
  };

  const metrics = (req: IncomingMessage, res: ServerResponse, collect: NonNullable<HttpServerOptions['metrics']>): void => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      report(new Error(`metrics callback did not answer within ${requestTimeoutMs} ms`));
      send(req, res, 500, TEXT, 'metrics collection timed out\n');
    }, requestTimeoutMs);
    timer.unref();
    res.once('close', () => { settled = true; clearTimeout(timer); });
    let pending: Promise<{ contentType: string; body: string }>;
    try {
      pending = Promise.resolve(collect());
    } catch (e) {
      pending = Promise.reject(e);
    }
    pending.then(
      (m) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (m === null || typeof m !== 'object' || typeof m.contentType !== 'string' || typeof m.body !== 'string') {
          report(new TypeError('metrics callback must resolve to { contentType: string, body: string }'));
          send(req, res, 500, TEXT, 'metrics collection failed\n');
          return;
        }
        send(req, res, 200, m.contentType, m.body);
      },
      (e: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        report(e);
        send(req, res, 500, TEXT, 'metrics collection failed\n');
      },
    );
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    markBusy(req, res);
    // Request bodies are never read. A request that announces one gets its answer and then the
    // connection is closed, so the body is not drained and cannot hold the connection.
    if (req.headers['transfer-encoding'] !== undefined ||
        (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')) {
      res.setHeader('Connection', 'close');
    }
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const route: Route | undefined =
      path === '/metrics' && opts.metrics !== undefined ? 'metrics' : path === '/healthz' ? 'healthz' : path === '/readyz' ? 'readyz' : undefined;
    if (route === undefined) { send(req, res, 404, TEXT, 'not found\n'); return; }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', ALLOW);
      send(req, res, 405, TEXT, 'method not allowed\n');
      return;
    }
    if (route === 'metrics') metrics(req, res, opts.metrics!);
    else health(req, res, route);
  };
  server.on('request', onRequest);
  // Without this listener node:http answers `Expect: 100-continue` with 100 and then reads the body;
  // with it, the request is answered without ever inviting the body.
  server.on('checkContinue', onRequest);

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    if (closed !== undefined) return closed;
    closing = true;
    if (sweepTimer !== undefined) clearTimeout(sweepTimer);
    closed = new Promise<void>((resolve) => {
      // Resolves once node:http has seen every connection close; they are all destroyed just below.
      server.close(() => resolve());
      for (const c of [...all.values()]) drop(c);
    });
    return closed;
  };

  return new Promise<HttpServerHandle>((resolve, reject) => {
    const onListenError = (e: NodeJS.ErrnoException): void => {
      closing = true;
      if (sweepTimer !== undefined) clearTimeout(sweepTimer);
      const code = e.code ?? 'UNKNOWN';
      const why = LISTEN_ERRORS[code] ?? e.message;
      const err = new Error(`metrics/health HTTP server cannot listen on ${hostPort(opts.host, opts.port)}: ${why} (${code})`, { cause: e }) as NodeJS.ErrnoException;
      err.code = code;
      if (e.errno !== undefined) err.errno = e.errno;
      if (e.syscall !== undefined) err.syscall = e.syscall;
      reject(err);
    };
    server.once('error', onListenError);
    server.listen({ host: opts.host, port: opts.port }, () => {
      server.off('error', onListenError);
      server.on('error', (e) => report(e));
      const a = server.address() as AddressInfo;
      resolve({
        address: a.address,
        port: a.port,
        close,
        connections: () => all.size,
      });
    });
  });
}
