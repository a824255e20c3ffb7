/** Test helpers for running real external tools (tshark, softflowd, pmacctd, editcap...). */

import { spawn, spawnSync, type SpawnOptions, type SpawnSyncReturns } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

const commandCache = new Map<string, boolean>();

/** True when `name` is an executable file somewhere on PATH (or is an executable path itself). */
export function hasCommand(name: string): boolean {
  const cached = commandCache.get(name);
  if (cached !== undefined) return cached;
  const candidates = name.includes('/')
    ? [name]
    : (process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== '').map((d) => join(d, name));
  let found = false;
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      found = true;
      break;
    } catch {
      // not here
    }
  }
  commandCache.set(name, found);
  return found;
}

/** For `test(name, { skip: skipUnlessCommands('tshark') }, ...)`: false, or why the test is skipped. */
export function skipUnlessCommands(...names: string[]): string | false {
  const missing = names.filter((n) => !hasCommand(n));
  return missing.length === 0 ? false : `not installed: ${missing.join(', ')}`;
}

/**
 * The command prefix that runs what follows as user nobody (uid and gid 65534) with no
 * capabilities: how a test run as root (as CI is) sees what an unprivileged collector sees.
 */
export const AS_NOBODY: readonly string[] = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'];

/** A test's skip reason when AS_NOBODY cannot be used here (not root, or no setpriv); false when it can. */
export const skipUnlessAsNobody: string | false = process.getuid?.() !== 0 || !existsSync('/usr/bin/setpriv') ? 'needs root to drop privileges with setpriv' : false;

/** Runs a command (`args[0]`) as AS_NOBODY to completion (30 s at most), its output as text. */
export function runAsNobody(args: readonly string[]): SpawnSyncReturns<string> {
  return spawnSync(AS_NOBODY[0]!, [...AS_NOBODY.slice(1), ...args], { encoding: 'utf8', timeout: 30_000 });
}

/** Why nobody cannot run node on `script` (a checkout under a private directory); undefined when it can. */
export function nobodyCannotRead(script: string): string | undefined {
  const probe = runAsNobody([process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(script)}, 4)`]);
  return probe.status === 0 ? undefined : `user nobody cannot read ${script} in this checkout`;
}

export interface RunOptions {
  /** Kill the process (SIGKILL) after this long; a safety net against hangs. Default 120 s. */
  timeoutMs?: number;
  /** Written to stdin, which is then closed. Default: stdin closed at once. */
  input?: string | Uint8Array;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  /** Exit code, null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
}

/** Runs a command (no shell), capturing stdout and stderr in full. Never rejects for exit codes. */
export function runCommand(cmd: string, args: readonly string[], o: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const opts: SpawnOptions = { cwd: o.cwd, env: o.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] };
    const child = spawn(cmd, args, opts);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs ?? 120_000);
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err), timedOut });
    });
    child.stdin!.on('error', () => {
      // the tool may exit without reading its input
    });
    if (o.input !== undefined) child.stdin!.end(o.input);
    else child.stdin!.end();
  });
}

/** As runCommand, but rejects with the tool's stderr when it fails, times out, or is killed. */
export async function runChecked(cmd: string, args: readonly string[], o: RunOptions = {}): Promise<RunResult> {
  const r = await runCommand(cmd, args, o);
  if (r.code !== 0) {
    const why = r.timedOut ? 'timed out' : r.code === null ? `killed by ${r.signal}` : `exited ${r.code}`;
    throw new Error(`${cmd} ${args.join(' ')} ${why}: ${r.stderr.toString('utf8').trim().slice(0, 2000)}`);
  }
  return r;
}

/** A fresh temporary directory and a function that removes it. */
export function makeTempDir(prefix = 'flow-collector-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface CapturedDatagram {
  data: Buffer;
  /** Source address and port of the sender. */
  address: string;
  port: number;
}

export interface UdpCapture {
  /** The address and port bound (ephemeral unless one was asked for). */
  host: string;
  port: number;
  /** Everything received so far, in arrival order (grows). */
  readonly datagrams: CapturedDatagram[];
  /**
   * Ends collection once everything already sent has arrived: sends a sentinel datagram to the
   * socket from a second socket and returns what came before it. Call after the sender has
   * finished (e.g. its process exited); loopback keeps the order of one receive queue. With
   * `forwardTo`, also waits until every datagram has been forwarded.
   */
  finish(): Promise<CapturedDatagram[]>;
}

export interface CaptureOptions {
  /** Loopback of this family: 127.0.0.1 (default) or ::1. */
  family?: 4 | 6;
  port?: number;
  /**
   * Relay: every datagram is also sent on, unchanged and in order, from one socket of ours to
   * this port on 127.0.0.1 (e.g. a collector under test), so the capture is exactly what it got.
   */
  forwardTo?: number;
  /** Receive buffer to ask for (capped by net.core.rmem_max), for senders that burst. */
  recvBufferSize?: number;
}

/** Listens on loopback for UDP datagrams from a tool under test (softflowd, pmacctd...). */
export async function captureUdp(opts: CaptureOptions = {}): Promise<UdpCapture> {
  const { createSocket } = await import('node:dgram');
  const { randomBytes } = await import('node:crypto');
  const family = opts.family ?? 4;
  const host = family === 4 ? '127.0.0.1' : '::1';
  const sentinel = randomBytes(16);
  const sock = createSocket({ type: family === 4 ? 'udp4' : 'udp6', ...(opts.recvBufferSize ? { recvBufferSize: opts.recvBufferSize } : {}) });
  const got: CapturedDatagram[] = [];
  let done: (() => void) | undefined;
  let failed: ((e: Error) => void) | undefined;
  let forwarding = 0;
  let forwardError: Error | undefined;
  let forwarded: (() => void) | undefined;
  let fwd: ReturnType<typeof createSocket> | undefined;
  if (opts.forwardTo !== undefined) {
    fwd = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      fwd!.once('error', reject);
      fwd!.bind(0, '127.0.0.1', () => resolve());
    });
  }
  const capture: UdpCapture = {
    host,
    port: 0,
    datagrams: got,
    finish: () =>
      new Promise<CapturedDatagram[]>((resolve, reject) => {
        failed = reject;
        done = () => {
          sock.close();
          if (fwd === undefined) return resolve(got);
          const end = () => {
            fwd!.close();
            if (forwardError !== undefined) reject(forwardError);
            else resolve(got);
          };
          if (forwarding === 0) end();
          else forwarded = end;
        };
        const tx = createSocket(family === 4 ? 'udp4' : 'udp6');
        tx.send(sentinel, capture.port, host, (err) => {
          tx.close();
          if (err) reject(err);
        });
      }),
  };
  sock.on('message', (m: Buffer, rinfo) => {
    if (m.equals(sentinel)) {
      done?.();
      return;
    }
    const d = { data: m, address: rinfo.address, port: rinfo.port };
    got.push(d);
    if (fwd !== undefined) {
      forwarding++;
      fwd.send(m, opts.forwardTo!, '127.0.0.1', (err) => {
        if (err) forwardError ??= err;
        if (--forwarding === 0) forwarded?.();
      });
    }
  });
  sock.on('error', (e) => failed?.(e));
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(opts.port ?? 0, host, () => resolve());
  });
  capture.port = sock.address().port;
  return capture;
}

export interface UdpCollector {
  /** The port bound on 127.0.0.1 (ephemeral unless one was asked for). */
  port: number;
  /** As UdpCapture.finish, the payloads only. */
  finish(): Promise<Buffer[]>;
}

/** Listens on 127.0.0.1 for UDP datagrams from a tool under test (softflowd, pmacctd...). */
export async function collectUdp(port = 0): Promise<UdpCollector> {
  const c = await captureUdp({ port });
  return { port: c.port, finish: async () => (await c.finish()).map((d) => d.data) };
}
