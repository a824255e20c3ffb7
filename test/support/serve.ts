/**
 * Runs `flow-collector serve` as a child process for tests: waits for its start-up log line,
 * collects stdout and the JSON log lines, scrapes its metrics, and stops it with a signal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { get } from 'node:http';
import { fileURLToPath } from 'node:url';
import { BatchSender, loadAddon } from '../../src/ingest/mod.js';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface ServeListener {
  name: string;
  address: string;
  port: number;
  sockets: number;
}

export interface ServeProcess {
  proc: ChildProcess;
  /** Parsed JSON log lines from stderr, in order. */
  logs: Record<string, any>[];
  /** Non-JSON stderr text. */
  stderrText: () => string;
  /** Everything written to stdout so far. */
  stdout: () => Buffer;
  /** From the start-up line. */
  listeners: ServeListener[];
  metricsUrl: string;
  started: Record<string, any>;
  /** Sends a signal and resolves with the exit code once the process has exited. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  exited: Promise<number | null>;
  /** With `holdStdout`: start reading stdout now. */
  releaseStdout(): void;
  /** Resolves once stdout and stderr have both been read to their end (after the process exited). */
  outputEnded: Promise<void>;
}

export interface StartOptions {
  timeoutMs?: number;
  /** Do not read the child's stdout until releaseStdout() (a stuck consumer: the pipe fills). */
  holdStdout?: boolean;
  /** Extra node options before the script (benchmarks: --cpu-prof). */
  nodeArgs?: string[];
  /** Run this executable (e.g. an installed `flow-collector` bin) instead of `node CLI`; `serve` and the args follow. */
  command?: string;
  /** A wrapper command and its arguments before `node CLI` (e.g. setpriv to drop privileges). */
  prefix?: string[];
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (for --check-config, bad configs, start-up failures). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`flow-collector ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr: ${err}`));
    }, timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout: out, stderr: err });
    });
  });
}

/** Starts serve; resolves once it logged "flow-collector started" (rejects if it exits first). */
export function startServe(args: string[], env: NodeJS.ProcessEnv = {}, opts: StartOptions = {}): Promise<ServeProcess> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const node = [process.execPath, ...(opts.nodeArgs ?? []), CLI];
  const [cmd, pre] = opts.command !== undefined ? [opts.command, []] : opts.prefix !== undefined ? [opts.prefix[0]!, [...opts.prefix.slice(1), ...node]] : [node[0]!, node.slice(1)];
  const proc = spawn(cmd, [...pre, 'serve', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, any>[] = [];
  const out: Buffer[] = [];
  let errText = '';
  let partial = '';
  // Held stdout: the listener is attached at once and the stream paused, so nothing is read
  // past Node's buffer and the child's pipe fills. (Attaching the listener only on release
  // loses data: when the child exits, Node resumes every stdio stream nobody reads
  // (child_process flushStdio), and what it had buffered is emitted to no listener.)
  proc.stdout!.on('data', (d: Buffer) => out.push(d));
  if (opts.holdStdout === true) proc.stdout!.pause();
  const read = (): void => void proc.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const ended = (r: NodeJS.ReadableStream) => new Promise<void>((resolve) => r.once('end', () => resolve()));
  const outputEnded = Promise.all([ended(proc.stdout!), ended(proc.stderr!)]).then(() => {});
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`serve did not start within ${timeoutMs} ms; stderr: ${errText}`));
    }, timeoutMs);
    proc.stderr!.on('data', (d: Buffer) => {
      partial += d.toString();
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        let rec: Record<string, any> | undefined;
        try {
          rec = JSON.parse(line);
        } catch {
          errText += `${line}\n`;
          continue;
        }
        logs.push(rec!);
        if (rec!['msg'] === 'flow-collector started') {
          clearTimeout(t);
          const sp: ServeProcess = {
            proc,
            logs,
            stderrText: () => errText,
            stdout: () => Buffer.concat(out),
            listeners: rec!['listeners'],
            metricsUrl: rec!['metrics'],
            started: rec!,
            exited,
            outputEnded,
            releaseStdout: read,
            stop: async (signal = 'SIGTERM', ms = 20_000) => {
              if (proc.exitCode !== null) return proc.exitCode;
              proc.kill(signal);
              const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
              const code = await exited;
              clearTimeout(timer);
              return code;
            },
          };
          resolve(sp);
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(t);
      reject(new Error(`serve exited (code ${code}) before it started; stderr: ${errText}${logs.map((l) => JSON.stringify(l)).join('\n')}`));
    });
  });
}

/** GET a URL; resolves status and body. */
export function httpGet(url: string, timeoutMs = 5000): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = get(url, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

/** Scrapes /metrics into `name{labels}` -> value (labels as written, sorted by prom-client). */
export async function scrape(metricsUrl: string): Promise<Map<string, number>> {
  const { status, body } = await httpGet(`${metricsUrl}/metrics`);
  if (status !== 200) throw new Error(`/metrics answered ${status}`);
  const m = new Map<string, number>();
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    m.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return m;
}

/** Sum of every series of a metric whose labels include all of `match` ("k=\"v\"" fragments). */
export function metric(m: Map<string, number>, name: string, ...match: string[]): number {
  let sum = 0;
  for (const [k, v] of m) {
    const base = k.includes('{') ? k.slice(0, k.indexOf('{')) : k;
    if (base !== name) continue;
    if (match.every((x) => k.includes(x))) sum += v;
  }
  return sum;
}

/** Sends datagrams from one socket (source 127.0.0.1), paced every `every` datagrams. */
export async function sendUdp(port: number, datagrams: readonly Uint8Array[], opts: { host?: string; every?: number; pauseMs?: number } = {}): Promise<void> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, opts.host ?? '127.0.0.1', () => r()));
  const every = opts.every ?? 64;
  for (let i = 0; i < datagrams.length; i++) {
    await new Promise<void>((resolve, reject) => s.send(datagrams[i]!, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
    if ((i + 1) % every === 0) await new Promise((r) => setTimeout(r, opts.pauseMs ?? 2));
  }
  s.close();
}

/**
 * Sends datagrams from one socket (source 127.0.0.1) as fast as the kernel takes them: in one
 * synchronous run of sendmmsg batches through the addon (the receiver cannot read meanwhile when
 * it shares this thread, and reads in its own threads only what keeps up), else with sendUdp
 * and no pauses.
 */
export async function sendBurst(port: number, datagrams: readonly Uint8Array[]): Promise<'sendmmsg' | 'dgram'> {
  if (!loadAddon().addon) {
    await sendUdp(port, datagrams, { every: Number.MAX_SAFE_INTEGER });
    return 'dgram';
  }
  const total = datagrams.reduce((n, d) => n + d.length, 0);
  const data = new Uint8Array(total);
  const offsets = new Uint32Array(datagrams.length);
  const lengths = new Uint32Array(datagrams.length);
  let o = 0;
  datagrams.forEach((d, i) => {
    data.set(d, o);
    offsets[i] = o;
    lengths[i] = d.length;
    o += d.length;
  });
  const sender = new BatchSender({ source: '127.0.0.1', destinations: [{ host: '127.0.0.1', port }] });
  try {
    for (let sent = 0; sent < datagrams.length; ) {
      sent += sender.send(data, offsets.subarray(sent), lengths.subarray(sent), datagrams.length - sent);
    }
  } finally {
    sender.close();
  }
  return 'sendmmsg';
}

export { until } from './wait.js';
