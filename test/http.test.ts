import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, createServer as createNetServer, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { startHttpServer, type HealthReport, type HttpServerHandle, type HttpServerOptions } from '../src/service/http.js';
import { until } from './support/wait.js';

const HOST = '127.0.0.1';
/** A safety net so that a hang (say, close() never resolving) fails the test instead of stalling the run. */
const LIMIT = { timeout: 30_000 };

const okReport = (): HealthReport => ({ ok: true, checks: { decoder: { ok: true } } });

function baseOptions(over: Partial<HttpServerOptions> = {}): HttpServerOptions {
  return {
    host: HOST,
    port: 0,
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: 'up 1\n' }),
    healthz: okReport,
    readyz: okReport,
    ...over,
  };
}

interface Reply { status: number; headers: IncomingHttpHeaders; body: string }

/** One request on its own connection (no agent), read to the end. */
function request(port: number, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: HOST, port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls every 5 ms: the timing tests here look at a state that lasts a few tens of ms. */
const waitFor = (what: string, pred: () => boolean, timeoutMs = 5000): Promise<void> => until(pred, what, timeoutMs, 5);

/** A raw TCP client that records what it receives and when the connection closed. */
class Raw {
  readonly socket: Socket;
  data = '';
  closed = false;
  closedAt = 0;
  readonly closedPromise: Promise<void>;
  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => { this.data += d; });
    socket.on('error', () => { /* resets from the server are expected */ });
    this.closedPromise = new Promise((r) => socket.once('close', () => { this.closed = true; this.closedAt = performance.now(); r(); }));
  }
  static open(port: number): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: HOST, port });
      const raw = new Raw(s);
      s.once('connect', () => resolve(raw));
      s.once('error', reject);
    });
  }
  send(text: string): void { this.socket.write(text); }
  /** Resolves with one complete response (headers + Content-Length body) received since `from`, or rejects if the connection closes first. */
  async response(from = 0, timeoutMs = 5000): Promise<string> {
    await waitFor('a complete response', () => {
      const text = this.data.slice(from);
      const end = text.indexOf('\r\n\r\n');
      if (end !== -1) {
        const m = /content-length: (\d+)/i.exec(text.slice(0, end));
        if (m !== null && text.length >= end + 4 + Number(m[1])) return true;
      }
      if (this.closed) throw new Error(`connection closed before a full response; got ${JSON.stringify(text.slice(0, 200))}`);
      return false;
    }, timeoutMs);
    return this.data.slice(from);
  }
  destroy(): void { this.socket.destroy(); }
}

function keepAliveGet(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n`;
}

/** Runs `fn` against a started server; always destroys the clients it registered and closes the server. */
async function withServer(opts: HttpServerOptions, fn: (h: HttpServerHandle, clients: Raw[]) => Promise<void>): Promise<void> {
  const h = await startHttpServer(opts);
  const clients: Raw[] = [];
  try {
    await fn(h, clients);
  } finally {
    for (const c of clients) c.destroy();
    await h.close();
  }
}

test('routes: /metrics, /healthz, /readyz answer 200 with no-store; HEAD has headers and no body; queries ignored', LIMIT, async () => {
  await withServer(baseOptions(), async (h) => {
    assert.equal(h.address, HOST);
    assert.ok(h.port > 0);

    const m = await request(h.port, '/metrics');
    assert.equal(m.status, 200);
    assert.equal(m.body, 'up 1\n');
    assert.equal(m.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(m.headers['cache-control'], 'no-store');
    assert.equal(m.headers['content-length'], '5');

    for (const path of ['/healthz', '/readyz', '/healthz?verbose=1', '/readyz?']) {
      const r = await request(h.port, path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(r.headers['cache-control'], 'no-store');
      assert.deepEqual(JSON.parse(r.body), { status: 'ok', checks: { decoder: { ok: true } } });
    }
    const mq = await request(h.port, '/metrics?name[]=up');
    assert.equal(mq.status, 200);
    assert.equal(mq.body, 'up 1\n');

    for (const path of ['/metrics', '/healthz', '/readyz']) {
      const r = await request(h.port, path, 'HEAD');
      assert.equal(r.status, 200, path);
      assert.equal(r.body, '');
      assert.equal(r.headers['cache-control'], 'no-store');
      assert.ok(Number(r.headers['content-length']) > 0, `${path} HEAD has a Content-Length`);
    }
  });
});

test('a health-only server (no metrics callback) answers /healthz and /readyz, and 404 on /metrics', LIMIT, async () => {
  const { metrics: _unused, ...noMetrics } = baseOptions();
  await withServer(noMetrics, async (h) => {
    for (const path of ['/healthz', '/readyz']) {
      const r = await request(h.port, path);
      assert.equal(r.status, 200, path);
      assert.deepEqual(JSON.parse(r.body), { status: 'ok', checks: { decoder: { ok: true } } });
    }
    const m = await request(h.port, '/metrics');
    assert.equal(m.status, 404);
    assert.equal(m.body, 'not found\n');
  });
});

test('a failing readiness or liveness report answers 503 with status "fail" and the checks', LIMIT, async () => {
  let ready: HealthReport = { ok: false, checks: { kafka: { ok: false, detail: 'broker unreachable' }, decoder: { ok: true } } };
  const live: HealthReport = { ok: false, checks: { loop: { ok: false, detail: 'stalled' } } };
  await withServer(baseOptions({ readyz: () => ready, healthz: () => live }), async (h) => {
    const r = await request(h.port, '/readyz');
    assert.equal(r.status, 503);
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.deepEqual(JSON.parse(r.body), { status: 'fail', checks: ready.checks });
    const l = await request(h.port, '/healthz');
    assert.equal(l.status, 503);
    assert.deepEqual(JSON.parse(l.body), { status: 'fail', checks: live.checks });
    const head = await request(h.port, '/readyz', 'HEAD');
    assert.equal(head.status, 503);
    assert.equal(head.body, '');
    ready = { ok: true, checks: {} };
    const r2 = await request(h.port, '/readyz');
    assert.equal(r2.status, 200);
    assert.deepEqual(JSON.parse(r2.body), { status: 'ok', checks: {} });
  });
});

test('a throwing health callback answers 503 and is reported to onError', LIMIT, async () => {
  const errors: Error[] = [];
  await withServer(baseOptions({ readyz: () => { throw new Error('boom'); }, onError: (e) => errors.push(e) }), async (h) => {
    const r = await request(h.port, '/readyz');
    assert.equal(r.status, 503);
    const body = JSON.parse(r.body) as { status: string; checks: Record<string, { ok: boolean; detail?: string }> };
    assert.equal(body.status, 'fail');
    assert.equal(body.checks['exception']?.ok, false);
    assert.match(body.checks['exception']?.detail ?? '', /boom/);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.message, 'boom');
  });
});

test('unknown paths answer 404, other methods on known paths 405 with Allow', LIMIT, async () => {
  await withServer(baseOptions(), async (h) => {
    for (const path of ['/', '/metrics/', '/metricsx', '/health', '/favicon.ico', '/readyz/extra']) {
      const r = await request(h.port, path);
      assert.equal(r.status, 404, path);
      assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(r.headers['cache-control'], 'no-store');
      assert.equal(r.body, 'not found\n');
    }
    assert.equal((await request(h.port, '/nope', 'POST')).status, 404);
    for (const [method, path] of [['POST', '/metrics'], ['PUT', '/healthz'], ['DELETE', '/readyz'], ['OPTIONS', '/metrics'], ['PATCH', '/metrics?x=1']] as const) {
      const r = await request(h.port, path, method);
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.headers['allow'], 'GET, HEAD');
      assert.equal(r.headers['cache-control'], 'no-store');
      assert.equal(r.body, 'method not allowed\n');
    }
  });
});

test('a metrics callback that rejects, throws or returns garbage answers 500 and reports the error', LIMIT, async () => {
  const errors: Error[] = [];
  let mode: 'reject' | 'throw' | 'garbage' | 'ok' = 'reject';
  const metrics = (): Promise<{ contentType: string; body: string }> => {
    if (mode === 'throw') throw new Error('sync failure');
    if (mode === 'reject') return Promise.reject(new Error('async failure'));
    if (mode === 'garbage') return Promise.resolve({ contentType: 'text/plain', body: 42 } as unknown as { contentType: string; body: string });
    return Promise.resolve({ contentType: 'text/plain', body: 'fine\n' });
  };
  await withServer(baseOptions({ metrics, onError: (e) => errors.push(e) }), async (h) => {
    for (const m of ['reject', 'throw', 'garbage'] as const) {
      mode = m;
      const r = await request(h.port, '/metrics');
      assert.equal(r.status, 500, m);
      assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(r.headers['cache-control'], 'no-store');
      assert.equal(r.body, 'metrics collection failed\n');
    }
    assert.deepEqual(errors.map((e) => e.message).slice(0, 2), ['async failure', 'sync failure']);
    assert.equal(errors.length, 3);
    mode = 'ok';
    assert.equal((await request(h.port, '/metrics')).status, 200);
  });
});

test('a metrics callback that never answers gets 500 after requestTimeoutMs', LIMIT, async () => {
  const errors: Error[] = [];
  await withServer(baseOptions({ metrics: () => new Promise(() => {}), headersTimeoutMs: 100, requestTimeoutMs: 300, onError: (e) => errors.push(e) }), async (h) => {
    const t0 = performance.now();
    const r = await request(h.port, '/metrics');
    const ms = performance.now() - t0;
    assert.equal(r.status, 500);
    assert.equal(r.body, 'metrics collection timed out\n');
    assert.ok(ms >= 290, `answered after ${ms.toFixed(0)} ms, before the timeout`);
    assert.match(errors[0]?.message ?? '', /did not answer within 300 ms/);
  });
});

test('a real prom-client Registry as the metrics callback serves the exposition format', LIMIT, async () => {
  const registry = new Registry();
  const flows = new Counter({ name: 'flow_collector_flows_total', help: 'Flows decoded.', labelNames: ['proto'], registers: [registry] });
  flows.inc({ proto: 'ipfix' }, 3);
  flows.inc({ proto: 'sflow' });
  await withServer(baseOptions({ metrics: async () => ({ contentType: registry.contentType, body: await registry.metrics() }) }), async (h) => {
    const r = await request(h.port, '/metrics');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], registry.contentType);
    assert.match(r.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
    assert.equal(r.body, await registry.metrics());
    assert.match(r.body, /^# HELP flow_collector_flows_total Flows decoded\.\n# TYPE flow_collector_flows_total counter\n/);
    assert.match(r.body, /^flow_collector_flows_total\{proto="ipfix"\} 3$/m);
    assert.match(r.body, /^flow_collector_flows_total\{proto="sflow"\} 1$/m);
  });
});

test('listening on a taken port rejects with EADDRINUSE on err.code and a clear message', LIMIT, async () => {
  const taken = createNetServer();
  await new Promise<void>((r) => taken.listen(0, HOST, r));
  const port = (taken.address() as { port: number }).port;
  try {
    await assert.rejects(startHttpServer(baseOptions({ port })), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, 'EADDRINUSE');
      assert.ok(e instanceof Error);
      assert.equal(e.message, `metrics/health HTTP server cannot listen on ${HOST}:${port}: the address is already in use (EADDRINUSE)`);
      assert.equal((e.cause as NodeJS.ErrnoException).code, 'EADDRINUSE');
      return true;
    });
  } finally {
    await new Promise<void>((r) => taken.close(() => r()));
  }
  // A documentation address (RFC 5737 TEST-NET-3) that no interface has.
  await assert.rejects(startHttpServer(baseOptions({ host: '203.0.113.77' })), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, 'EADDRNOTAVAIL');
    assert.match(e.message, /cannot listen on 203\.0\.113\.77:0: .*\(EADDRNOTAVAIL\)$/);
    return true;
  });
});

test('invalid options reject before listening', LIMIT, async () => {
  await assert.rejects(startHttpServer(baseOptions({ headersTimeoutMs: 2000, requestTimeoutMs: 1000 })), RangeError);
  await assert.rejects(startHttpServer(baseOptions({ maxConnections: 0 })), /maxConnections must be a positive integer/);
  await assert.rejects(startHttpServer(baseOptions({ port: 70000 })), RangeError);
  await assert.rejects(startHttpServer(baseOptions({ host: '' })), TypeError);
});

test('a request body is never read: the answer comes at once and the connection is closed', LIMIT, async () => {
  await withServer(baseOptions(), async (h, clients) => {
    const c = await Raw.open(h.port);
    clients.push(c);
    // Announces 10 MB and sends 5 bytes of it.
    c.send('GET /metrics HTTP/1.1\r\nHost: test\r\nContent-Length: 10000000\r\n\r\nhello');
    const text = await c.response();
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(text, /\r\nConnection: close\r\n/i);
    await waitFor('the server to close the connection', () => c.closed);
    await waitFor('no tracked connections', () => h.connections() === 0);

    const d = await Raw.open(h.port);
    clients.push(d);
    d.send('POST /healthz HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    assert.match(await d.response(), /^HTTP\/1\.1 405 /);
    await waitFor('the server to close the chunked connection', () => d.closed);

    // Expect: 100-continue is answered without inviting the body.
    const e = await Raw.open(h.port);
    clients.push(e);
    e.send('GET /readyz HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n');
    const te = await e.response();
    assert.doesNotMatch(te, /100 Continue/);
    assert.match(te, /^HTTP\/1\.1 200 OK\r\n/);
    await waitFor('the server to close the expect connection', () => e.closed);
  });
});

test('at the cap the longest-idle connection is closed to admit a new one', LIMIT, async () => {
  await withServer(baseOptions({ maxConnections: 3, keepAliveTimeoutMs: 60000, idleSocketTimeoutMs: 60000 }), async (h, clients) => {
    const a = await Raw.open(h.port); clients.push(a);
    await waitFor('a tracked', () => h.connections() === 1);
    const b = await Raw.open(h.port); clients.push(b);
    await waitFor('b tracked', () => h.connections() === 2);
    const c = await Raw.open(h.port); clients.push(c);
    await waitFor('c tracked', () => h.connections() === 3);

    const d = await Raw.open(h.port); clients.push(d);
    await a.closedPromise;
    assert.equal(h.connections(), 3);
    assert.deepEqual([b.closed, c.closed, d.closed], [false, false, false]);

    // b makes a keep-alive request, so it becomes the most recently idle: the order is now c, d, b.
    b.send(keepAliveGet('/healthz'));
    assert.match(await b.response(), /^HTTP\/1\.1 200 OK\r\n/);
    await sleep(50);
    const e = await Raw.open(h.port); clients.push(e);
    await c.closedPromise;
    assert.deepEqual([b.closed, d.closed, e.closed], [false, false, false]);
    assert.equal(h.connections(), 3);

    // The survivors are served.
    const from = b.data.length;
    b.send(keepAliveGet('/readyz'));
    assert.match(await b.response(from), /^HTTP\/1\.1 200 OK\r\n/);
    e.send(keepAliveGet('/metrics'));
    assert.match(await e.response(), /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nup 1\n$/);
  });
});

test('when every connection is busy a new one is refused, and a scrape gets in once they finish', LIMIT, async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => { release = r; });
  let calls = 0;
  const metrics = async (): Promise<{ contentType: string; body: string }> => {
    calls++;
    await gate;
    return { contentType: 'text/plain', body: 'slow 1\n' };
  };
  await withServer(baseOptions({ metrics, maxConnections: 2, keepAliveTimeoutMs: 60000, idleSocketTimeoutMs: 60000 }), async (h, clients) => {
    const a = await Raw.open(h.port); clients.push(a);
    const b = await Raw.open(h.port); clients.push(b);
    a.send(keepAliveGet('/metrics'));
    b.send(keepAliveGet('/metrics'));
    await waitFor('both scrapes in flight', () => calls === 2);

    const refused = await Raw.open(h.port); clients.push(refused);
    await refused.closedPromise;
    assert.equal(refused.data, '');
    assert.equal(h.connections(), 2);

    release();
    assert.match(await a.response(), /\r\n\r\nslow 1\n$/);
    assert.match(await b.response(), /\r\n\r\nslow 1\n$/);
    await sleep(50);
    const r = await request(h.port, '/healthz');
    assert.equal(r.status, 200);
    // Room was made by closing the longer idle of the two.
    await waitFor('one keep-alive connection evicted', () => a.closed !== b.closed);
  });
});

test('sockets with no request in flight are closed after idleSocketTimeoutMs', LIMIT, async () => {
  await withServer(baseOptions({ idleSocketTimeoutMs: 200, keepAliveTimeoutMs: 60000 }), async (h, clients) => {
    const silent = await Raw.open(h.port); clients.push(silent);
    const ka = await Raw.open(h.port); clients.push(ka);
    const t0 = performance.now();
    ka.send(keepAliveGet('/healthz'));
    await ka.response();
    const tResponse = performance.now();
    await Promise.all([silent.closedPromise, ka.closedPromise]);
    assert.ok(silent.closedAt - t0 >= 150, `silent socket closed after ${(silent.closedAt - t0).toFixed(0)} ms`);
    assert.ok(ka.closedAt - tResponse >= 150, `keep-alive socket closed ${(ka.closedAt - tResponse).toFixed(0)} ms after its response`);
    assert.ok(ka.closedAt - tResponse < 3000);
    assert.equal(h.connections(), 0);
  });
});

test('a socket that went idle after another expires on its own deadline, once the earlier one is gone', LIMIT, async () => {
  // The sweep is armed for the earliest deadline only: after closing the first socket it must be
  // armed again for the second, or that one would stay open for ever.
  await withServer(baseOptions({ idleSocketTimeoutMs: 300, keepAliveTimeoutMs: 60000 }), async (h, clients) => {
    const first = await Raw.open(h.port); clients.push(first);
    await sleep(150);
    const second = await Raw.open(h.port); clients.push(second);
    const tSecond = performance.now();
    await first.closedPromise;
    assert.equal(h.connections(), 1, 'the second socket is still open when the first is closed');
    await second.closedPromise;
    assert.ok(second.closedAt - tSecond >= 250, `second socket closed ${(second.closedAt - tSecond).toFixed(0)} ms after it opened`);
    assert.ok(second.closedAt - tSecond < 3000);
    assert.equal(h.connections(), 0);
  });
});

test('a client that stops reading its response has its connection destroyed', LIMIT, async () => {
  const big = 'x'.repeat(32 * 1024 * 1024);
  let calls = 0;
  const metrics = async (): Promise<{ contentType: string; body: string }> => { calls++; return { contentType: 'text/plain', body: big }; };
  // The request timeout leaves room for a loaded machine (a CI run with every test file at once
  // once took more than the old 200 ms between the scrape starting and the check below).
  await withServer(baseOptions({ metrics, headersTimeoutMs: 100, requestTimeoutMs: 1000, idleSocketTimeoutMs: 60000 }), async (h, clients) => {
    const c = await Raw.open(h.port); clients.push(c);
    c.socket.pause();
    c.send(keepAliveGet('/metrics'));
    await waitFor('the scrape to start', () => calls === 1);
    await sleep(100);
    assert.equal(h.connections(), 1, 'the stalled response holds its connection for a while');
    await waitFor('the stalled connection to be destroyed', () => h.connections() === 0, 6000);
    c.socket.resume();
    await c.closedPromise;
    assert.ok(c.data.length < big.length, `client received ${c.data.length} bytes, less than the body`);
  });
});

test('a slowloris client is cut off by the headers timeout with 408', LIMIT, async () => {
  await withServer(baseOptions({ headersTimeoutMs: 300, requestTimeoutMs: 1000, idleSocketTimeoutMs: 60000, keepAliveTimeoutMs: 60000 }), async (h, clients) => {
    const c = await Raw.open(h.port); clients.push(c);
    const t0 = performance.now();
    c.send('GET /metrics HTTP/1.1\r\n');
    let n = 0;
    const drip = setInterval(() => { if (!c.closed) c.send(`X-Drip-${n++}: y\r\n`); }, 40);
    try {
      await c.closedPromise;
    } finally {
      clearInterval(drip);
    }
    const ms = c.closedAt - t0;
    assert.match(c.data, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.ok(n >= 5, `the client kept dripping (${n} header lines)`);
    assert.ok(ms >= 280, `cut off after ${ms.toFixed(0)} ms, before the headers timeout`);
    assert.ok(ms < 3000, `cut off after ${ms.toFixed(0)} ms`);
    // Normal requests are unaffected.
    assert.equal((await request(h.port, '/healthz')).status, 200);
  });
});

/** Soft RLIMIT_NOFILE of this process from /proc (Linux), or undefined. */
function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m === null) return undefined;
    return m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    return undefined;
  }
}

/**
 * Opens `total` connections in batches: every `keepAliveEvery`-th sends a keep-alive request and waits
 * for its answer (or for being closed, when the server evicts it first), the rest send nothing.
 */
async function flood(port: number, total: number, keepAliveEvery: number, clients: Raw[]): Promise<{ raw: Raw[]; keepAlive: Raw[] }> {
  const raw: Raw[] = [];
  const keepAlive: Raw[] = [];
  for (let i = 0; i < total; i += 100) {
    const batch = await Promise.all(Array.from({ length: Math.min(100, total - i) }, () => Raw.open(port)));
    clients.push(...batch);
    const waits: Promise<unknown>[] = [];
    batch.forEach((c, j) => {
      if ((i + j) % keepAliveEvery === 0) {
        keepAlive.push(c);
        c.send(keepAliveGet('/healthz'));
        waits.push(c.response().catch(() => undefined));
      } else {
        raw.push(c);
      }
    });
    await Promise.all(waits);
  }
  return { raw, keepAlive };
}

async function timedScrapes(port: number): Promise<number[]> {
  const times: number[] = [];
  for (const path of ['/metrics', '/metrics', '/metrics', '/healthz', '/readyz', '/metrics']) {
    const t0 = performance.now();
    const r = await request(port, path);
    const ms = performance.now() - t0;
    assert.equal(r.status, 200, path);
    if (path === '/metrics') assert.match(r.body, /^# HELP /);
    times.push(ms);
  }
  return times;
}

function promMetrics(): () => Promise<{ contentType: string; body: string }> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return async () => ({ contentType: registry.contentType, body: await registry.metrics() });
}

test('1,000 idle connections held open: a scrape still answers within one second', LIMIT, async (t) => {
  const limit = openFileLimit();
  t.diagnostic(`soft open-file limit: ${String(limit)}`);
  // 1,000 client and 1,000 server sockets live in this one process.
  if (limit !== undefined) assert.ok(limit >= 2200, `this test needs ~2,100 descriptors; RLIMIT_NOFILE is ${limit}`);
  const opts = baseOptions({ metrics: promMetrics(), maxConnections: 2000, keepAliveTimeoutMs: 60000, idleSocketTimeoutMs: 60000 });
  await withServer(opts, async (h, clients) => {
    const { raw, keepAlive } = await flood(h.port, 1000, 10, clients);
    assert.equal(keepAlive.length, 100);
    assert.equal(raw.length, 900);
    await waitFor('1,000 server-side connections', () => h.connections() === 1000);
    const times = await timedScrapes(h.port);
    t.diagnostic(`scrape/probe latency with 1,000 idle connections held (ms): ${times.map((x) => x.toFixed(1)).join(', ')}`);
    for (const ms of times) assert.ok(ms < 1000, `answered in ${ms.toFixed(0)} ms`);
    // Nothing was evicted: the flood is still held open on both sides.
    assert.equal(clients.filter((c) => c.closed).length, 0);
    assert.equal(h.connections(), 1000);
  });
});

test('1,000 idle connections against the default cap of 256: the oldest idle are shed and a scrape answers within one second', LIMIT, async (t) => {
  const opts = baseOptions({ metrics: promMetrics(), keepAliveTimeoutMs: 60000, idleSocketTimeoutMs: 60000 });
  await withServer(opts, async (h, clients) => {
    await flood(h.port, 1000, 10, clients);
    await waitFor('744 connections shed', () => clients.filter((c) => c.closed).length === 744);
    assert.equal(h.connections(), 256);
    const times = await timedScrapes(h.port);
    t.diagnostic(`scrape/probe latency with 1,000 connections against the cap of 256 (ms): ${times.map((x) => x.toFixed(1)).join(', ')}`);
    for (const ms of times) assert.ok(ms < 1000, `answered in ${ms.toFixed(0)} ms`);
    // The first scrape found the server full and took the place of the oldest idle flood connection;
    // later ones may find that slot free again (the scrape connections close after their answer).
    await waitFor('a flood connection shed for the scrape', () => clients.filter((c) => c.closed).length >= 745);
    const shed = clients.filter((c) => c.closed).length;
    assert.ok(shed <= 744 + times.length, `${shed} flood connections closed`);
    await waitFor('the scrape connections gone', () => h.connections() === 1000 - shed);
  });
});

test('close() with idle, keep-alive and busy connections resolves promptly and closes them all', LIMIT, async () => {
  let calls = 0;
  const h = await startHttpServer(baseOptions({
    metrics: () => { calls++; return new Promise(() => {}); },
    keepAliveTimeoutMs: 60000,
    idleSocketTimeoutMs: 60000,
  }));
  const clients: Raw[] = [];
  try {
    for (let i = 0; i < 20; i++) clients.push(await Raw.open(h.port));
    for (let i = 0; i < 5; i++) {
      const c = await Raw.open(h.port);
      clients.push(c);
      c.send(keepAliveGet('/healthz'));
      await c.response();
    }
    const busy = await Raw.open(h.port);
    clients.push(busy);
    busy.send(keepAliveGet('/metrics'));
    await waitFor('the hanging scrape', () => calls === 1);
    await waitFor('26 tracked', () => h.connections() === 26);

    const t0 = performance.now();
    await h.close();
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `close() took ${ms.toFixed(0)} ms`);
    assert.equal(h.connections(), 0);
    await Promise.all(clients.map((c) => c.closedPromise));
    await h.close(); // idempotent
    await assert.rejects(Raw.open(h.port), { code: 'ECONNREFUSED' });
  } finally {
    for (const c of clients) c.destroy();
    await h.close();
  }
});
