/**
 * Child processes of the benches that start collectors (bench/serve.ts, bench/restart.ts): spawn
 * with captured output, killed (and their directories removed) if the bench is interrupted;
 * serve's readiness (the "flow-collector started" log line names the metrics address, then
 * GET /readyz answers 200); small HTTP and log helpers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

export interface Spawned {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
  stdout: () => string;
}

/** Children still running and output directories not yet removed: cleaned up if the bench is interrupted. */
const live = new Set<ChildProcess>();
export const liveDirs = new Set<string>();
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    for (const c of live) c.kill('SIGKILL');
    for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
    process.exit(130);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Spawns `cmd`, keeping its stdout and stderr (as text) and its exit; with `discardStdout` its
 * stdout is /dev/null (a collector writing its flows there).
 */
export function start(cmd: string, argv: string[], discardStdout = false): Spawned {
  const child = spawn(cmd, argv, { stdio: ['ignore', discardStdout ? 'ignore' : 'pipe', 'pipe'] });
  live.add(child);
  child.on('exit', () => live.delete(child));
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.on('error', (e) => {
      err += `spawn error: ${e.message}\n`;
      resolve({ code: -1, signal: null });
    });
  });
  return { child, exited, stderr: () => err, stdout: () => out };
}

/**
 * --keep-awake (bench/serve, bench/duty): one SCHED_IDLE busy loop pinned to each of `cores`
 * ("0" or "0,1"). The scheduler runs it only when nothing else on that core is runnable, so the
 * measured process is never delayed by it, and the vCPU does not halt between its bursts.
 */
export function keepAwake(cores: string): Spawned[] {
  return cores.split(',').map((c) => start('chrt', ['-i', '0', 'taskset', '-c', c, 'sh', '-c', 'while :; do :; done'], true));
}

/** Sends `signal`, then SIGKILL if the process has not exited after `ms`; resolves at its exit. */
export async function stop(p: Spawned, signal: NodeJS.Signals, ms: number): Promise<void> {
  p.child.kill(signal);
  const t = setTimeout(() => p.child.kill('SIGKILL'), ms);
  await p.exited;
  clearTimeout(t);
}

/** The JSON objects among the lines of `text` (log lines). */
export function jsonLines(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const l of text.split('\n')) {
    const t = l.trim();
    if (!t.startsWith('{')) continue;
    try {
      out.push(JSON.parse(t) as Record<string, unknown>);
    } catch {
      // not JSON
    }
  }
  return out;
}

export async function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const r = await fetch(url, { signal: ac.signal });
    return { status: r.status, body: await r.text() };
  } finally {
    clearTimeout(t);
  }
}

/**
 * Waits until serve (started with `--metrics-addr` and `--log-level info`) is ready: its start-up
 * line, which names the metrics address, then 200 from /readyz. Kills it and throws when it exits
 * first or `timeoutMs` passes.
 */
export async function serveReady(proc: Spawned, name = 'serve', timeoutMs = 30_000): Promise<{ metricsUrl: string; startedLog: Record<string, unknown> }> {
  const deadline = Date.now() + timeoutMs;
  let exitedEarly = false;
  void proc.exited.then(() => (exitedEarly = true));
  let startedLog: Record<string, unknown> | undefined;
  let metricsUrl: string | undefined;
  while (Date.now() < deadline && !exitedEarly) {
    if (!metricsUrl) {
      startedLog = jsonLines(proc.stderr() + proc.stdout()).find((l) => l['msg'] === 'flow-collector started');
      const m = startedLog?.['metrics'];
      if (typeof m === 'string') metricsUrl = m.replace(/\/$/, '');
    }
    if (metricsUrl) {
      try {
        if ((await httpGet(`${metricsUrl}/readyz`, 1000)).status === 200) return { metricsUrl, startedLog: startedLog! };
      } catch {
        // not yet
      }
    }
    await sleep(20);
  }
  proc.child.kill('SIGKILL');
  throw new Error(`${name} did not become ready (metrics ${metricsUrl ?? 'not logged'}):\n${proc.stderr()}\n${proc.stdout()}`);
}
