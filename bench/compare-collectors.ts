// The collectors of the public benchmark (bench/compare.ts): how each one is
// started on a UDP port, pinned to a core, how it is known to be ready, what
// shows its progress (for "drained"), and how its own output is counted.
//
//   serve-file      flow-collector serve, 1 worker, flowpb to a file on tmpfs;
//                   flows = records in the file
//   serve-nats      flow-collector serve, 1 worker, flowpb-batch (serve's
//                   default batch limits) to a local nats-server (JetStream,
//                   file store on tmpfs, pinned with serve); flows = flows
//                   JetStream acknowledged (the messages
//                   in the stream must equal the acknowledged messages)
//   nfcapd, sfcapd  nfdump's collectors; flows = nfdump -I "Flows:" of the files
//   nfacctd,        pmacct's collectors, print plugin to CSV every second,
//   sfacctd         aggregated per 5-tuple; flows = sum of the FLOWS column
//                   (flow records; for sfacctd, samples)
//   node-netflowv9  the npm library (bench/compare-nfv9.ts); flows = its
//                   callback's flow count (NetFlow v5/v9 only)
//
// The file outputs (serve-file's flowpb file, nfcapd's and sfcapd's files) are rotated while
// the load runs (SinkMode 'rotate', the default) the way bench/serve.ts does it: a finished
// piece is counted and deleted, so the tmpfs pages it held are written again instead of the
// guest faulting fresh ones in from the host (bench/sink.ts says what that costs). With one
// ever-growing file the figure of a collector that writes more bytes per flow was mostly the
// VM's page faults (measured: serve v9 50k 0.31-0.43 µs/flow in 5 s cells, 0.39-0.51 in 20 s
// cells; nfcapd 0.25 and 0.31-0.38; docs/benchmarks.md).

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { client, startNatsServer, type NatsServer } from '../test/support/nats.js';
import { hasCommand } from '../test/support/tools.js';
import { pin } from './proc.js';
import { parseMetrics } from './serve-replay.js';
import { NFCAPD_ROTATE_SECONDS, RotatedDelimitedFile, RotatedNfcapdDir, type SinkMode } from './sink.js';
import type { CompareStreamInfo } from './compare-streams.js';

export type CollectorName = 'serve-file' | 'serve-nats' | 'nfcapd' | 'sfcapd' | 'nfacctd' | 'sfacctd' | 'node-netflowv9';
export const COLLECTORS: readonly CollectorName[] = ['serve-file', 'serve-nats', 'nfcapd', 'sfcapd', 'nfacctd', 'sfacctd', 'node-netflowv9'];

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const NFV9 = fileURLToPath(new URL('./compare-nfv9.js', import.meta.url));

export interface Running {
  /** Pids whose process trees make up the collector (serve-nats: serve and nats-server). */
  pids: number[];
  /** A number that grows while the collector is still working through its input (-1: none). */
  progress(): Promise<number>;
  /**
   * Rotates the collector's output and counts and deletes finished pieces (SinkMode 'rotate':
   * the harness calls it every SINK_TICK_MS while the cell runs); does nothing for a collector
   * whose output is not a growing file.
   */
  tick(): void;
  /** CPU seconds the harness spent counting this collector's output so far. */
  countCpuSeconds(): number;
  /** Stops the collector and returns the flows its output holds. */
  finish(): Promise<{ flows: number; notes: string[] }>;
  /** Kills whatever is left (after a failure). */
  kill(): void;
  /** Version string of the collector. */
  version: string;
}

export interface Collector {
  name: CollectorName;
  /** Whether it decodes this stream. */
  accepts(stream: CompareStreamInfo): boolean;
  /** false, or why it cannot run here. */
  missing(): string | false;
  start(port: number, dir: string, core: string, rcvbuf: number, sink: SinkMode): Promise<Running>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Child {
  proc: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

const live = new Set<ChildProcess>();
/** Kills every child still running (the harness calls this on exit and on signals). */
export function killAll(): void {
  for (const c of live) c.kill('SIGKILL');
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  live.add(proc);
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => {
    proc.on('exit', (code) => {
      live.delete(proc);
      resolve(code);
    });
    proc.on('error', (e) => {
      out += `spawn error: ${e.message}\n`;
      live.delete(proc);
      resolve(-1);
    });
  });
  return { proc, out: () => out, exited };
}

async function stop(c: Child, ms = 30_000): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill('SIGTERM');
  const t = setTimeout(() => c.proc.kill('SIGKILL'), ms);
  await c.exited;
  clearTimeout(t);
}

/** Waits until a UDP socket is bound to the port (the collector listens). */
async function waitBound(port: number, c: Child, what: string): Promise<void> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  for (let i = 0; i < 300; i++) {
    const text = readFileSync('/proc/net/udp', 'utf8');
    if (text.includes(hex)) return;
    if (c.proc.exitCode !== null) break;
    await sleep(50);
  }
  c.proc.kill('SIGKILL');
  throw new Error(`${what} did not open UDP port ${port}:\n${c.out()}`);
}

function versionOf(cmd: string, args: string[], re: RegExp): string {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return re.exec(out)?.[0] ?? cmd;
  } catch (e) {
    const out = `${(e as { stdout?: string }).stdout ?? ''}${(e as { stderr?: string }).stderr ?? ''}`;
    return re.exec(out)?.[0] ?? cmd;
  }
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string };
  return `flow-collector ${pkg.version}`;
}

// ---------------------------------------------------------------------------------------------
// flow-collector serve

function serveCollector(name: 'serve-file' | 'serve-nats'): Collector {
  return {
    name,
    accepts: () => true,
    missing: () => (name === 'serve-nats' && !hasCommand('nats-server') ? 'nats-server is not installed' : false),
    async start(port, dir, core, rcvbuf) {
      let nats: NatsServer | undefined;
      const out = join(dir, 'flows.bin');
      const lines = [
        'listeners:',
        `  - { name: bench, address: 127.0.0.1, port: ${port}, protocol: auto, receive_buffer_bytes: ${rcvbuf}, subject: flows.bench }`,
        'workers: 1',
        'metrics: { address: 127.0.0.1:0 }',
        'logging: { level: info, summary_interval_s: 0 }',
        'shutdown: { drain_timeout_ms: 30000 }',
      ];
      if (name === 'serve-nats') {
        nats = await startNatsServer(join(dir, 'nats'));
        pin(nats.proc.pid!, core);
        lines.push(
          'nats:',
          `  servers: [${nats.url}]`,
          '  stream: { name: FLOWS, subjects: ["flows.>"], max_bytes: 1073741824 }',
          'outputs:',
          // serve's own defaults for a NATS output (up to 10,000 flows or 1 MiB per message);
          // a ServiceRadar config without batch_size gets 100 (configuration.md).
          '  - { type: nats, format: flowpb-batch }',
        );
      } else {
        lines.push('outputs:', `  - { type: file, path: ${out}, format: flowpb }`);
      }
      const cfg = join(dir, 'serve.yaml');
      writeFileSync(cfg, lines.join('\n') + '\n');
      const c = run('taskset', ['-c', core, process.execPath, CLI, 'serve', '--config', cfg]);
      let metricsUrl = '';
      for (let i = 0; i < 400 && metricsUrl === ''; i++) {
        const line = c.out().split('\n').find((l) => l.includes('"msg":"flow-collector started"'));
        if (line !== undefined) metricsUrl = (JSON.parse(line) as { metrics: string }).metrics;
        else if (c.proc.exitCode !== null) break;
        else await sleep(50);
      }
      if (metricsUrl === '') {
        c.proc.kill('SIGKILL');
        await nats?.stop();
        throw new Error(`serve did not start:\n${c.out()}`);
      }
      const metrics = async () => parseMetrics(await (await fetch(`${metricsUrl}/metrics`)).text()).sums;
      // serve reopens its file output on SIGHUP (node is exec'd by taskset: the same pid).
      const file = nats ? undefined : new RotatedDelimitedFile(out, c.proc.pid!);
      return {
        pids: [c.proc.pid!, ...(nats ? [nats.proc.pid!] : [])],
        version: packageVersion(),
        tick: () => file?.tick(),
        countCpuSeconds: () => file?.cpuSeconds ?? 0,
        progress: async () => {
          const m = await metrics();
          return (m.get('flow_collector_flows_delivered_total') ?? 0) + (m.get('flow_collector_flows_dropped_total') ?? 0) + (m.get('flow_collector_datagrams_received_total') ?? 0);
        },
        async finish() {
          const notes: string[] = [];
          // SIGTERM: serve reads what the socket holds, delivers what it decoded, and logs its totals.
          await stop(c);
          const line = c.out().split('\n').find((l) => l.includes('"msg":"flow-collector stopped"'));
          const totals = line === undefined ? undefined : (JSON.parse(line) as { flows: number; delivered: number; dropped: number });
          if (totals === undefined) notes.push(`no "flow-collector stopped" line:\n${c.out().slice(-800)}`);
          else if (totals.dropped > 0) notes.push(`serve decoded ${totals.flows} flows and dropped ${totals.dropped} (the output could not keep up)`);
          let flows: number;
          if (nats) {
            // Flows JetStream acknowledged; the stream must hold every acknowledged message.
            flows = totals?.delivered ?? 0;
            const nc = await client(nats.url);
            const info = await (await jetstreamManager(nc)).streams.info('FLOWS');
            await nc.close();
            notes.push(`${info.state.messages} messages in the stream`);
            await nats.stop();
          } else {
            const count = file!.finish();
            flows = count.records;
            notes.push(...count.problems);
            if (totals !== undefined && totals.delivered !== flows) notes.push(`serve says ${totals.delivered} delivered, the file holds ${flows}`);
          }
          return { flows, notes };
        },
        kill() {
          c.proc.kill('SIGKILL');
          void nats?.stop();
        },
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// nfdump: nfcapd, sfcapd

function nfdumpCollector(name: 'nfcapd' | 'sfcapd'): Collector {
  return {
    name,
    accepts: (s) => (name === 'sfcapd' ? s.protocol === 'sflow' : s.protocol !== 'sflow'),
    missing: () => (hasCommand(name) && hasCommand('nfdump') ? false : `${name} / nfdump not installed (Debian package nfdump)`),
    async start(port, dir, core, rcvbuf, sink) {
      // sfcapd names its files nfcapd.* too.
      const interval = sink === 'rotate' ? NFCAPD_ROTATE_SECONDS : 3600;
      const c = run('taskset', ['-c', core, name, '-b', '127.0.0.1', '-p', String(port), '-w', dir, '-B', String(rcvbuf), '-t', String(interval)]);
      await waitBound(port, c, name);
      const files = new RotatedNfcapdDir(dir);
      return {
        pids: [c.proc.pid!],
        version: versionOf(name, ['-V'], /\d+\.\d+\.\d+/).replace(/^/, `${name} `),
        // nfcapd writes its file in blocks as they fill: the queue (checked by the caller) says more.
        progress: async () => files.size(),
        tick: () => files.tick(),
        countCpuSeconds: () => files.cpuSeconds,
        async finish() {
          await stop(c);
          const count = files.finish();
          const notes = [...count.problems, ...count.notes];
          if (count.pieces === 0) notes.push(c.out().slice(-500));
          return { flows: count.records, notes };
        },
        kill: () => c.proc.kill('SIGKILL'),
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// pmacct: nfacctd, sfacctd

function pmacctCollector(name: 'nfacctd' | 'sfacctd'): Collector {
  return {
    name,
    accepts: (s) => (name === 'sfacctd' ? s.protocol === 'sflow' : s.protocol !== 'sflow'),
    missing: () => (hasCommand(name) ? false : `${name} not installed (Debian package pmacct)`),
    async start(port, dir, core, rcvbuf) {
      const prefix = name === 'nfacctd' ? 'nfacctd' : 'sfacctd';
      const conf = join(dir, `${name}.conf`);
      writeFileSync(
        conf,
        [
          'daemonize: false',
          `${prefix}_ip: 127.0.0.1`,
          `${prefix}_port: ${port}`,
          `${prefix}_pipe_size: ${rcvbuf}`,
          'plugins: print',
          'print_output: csv',
          `print_output_file: ${join(dir, 'out-%s.csv')}`,
          'print_refresh_time: 1',
          // The buffer between the core and the plugin: large, so the plugin side is not the limit.
          'plugin_pipe_size: 67108864',
          'plugin_buffer_size: 65536',
          // flows: the FLOWS column, flow records (NetFlow/IPFIX) or samples (sFlow) per line.
          'aggregate: src_host, dst_host, src_port, dst_port, proto, flows',
        ].join('\n') + '\n',
      );
      const c = run('taskset', ['-c', core, name, '-f', conf]);
      await waitBound(port, c, name);
      const column = 'FLOWS';
      const count = () => {
        let n = 0;
        for (const f of readdirSync(dir).filter((x) => x.startsWith('out-') && x.endsWith('.csv'))) {
          const lines = readFileSync(join(dir, f), 'utf8').split('\n');
          const col = (lines[0] ?? '').split(',').indexOf(column);
          if (col < 0) continue;
          for (let i = 1; i < lines.length; i++) {
            const v = lines[i]!.split(',')[col];
            if (v !== undefined && v !== '') n += Number(v);
          }
        }
        return n;
      };
      return {
        pids: [c.proc.pid!],
        version: versionOf(name, ['-V'], /\d+\.\d+\.\d+(-git)?/).replace(/^/, `${name} `),
        progress: async () => count(),
        // The print plugin's CSV holds one line per 5-tuple a second: nothing to rotate.
        tick: () => {},
        countCpuSeconds: () => 0,
        async finish() {
          await stop(c);
          // The print plugin writes its last cache from its own process as the daemon stops.
          await sleep(1500);
          const notes: string[] = [];
          const warnings = c.out().split('\n').filter((l) => /WARN|ERROR/.test(l));
          if (warnings.length) notes.push(`${name} log: ${[...new Set(warnings.map((w) => w.replace(/\d+/g, 'N')))].slice(0, 3).join(' | ')}`);
          if (readdirSync(dir).filter((x) => x.startsWith('out-')).length === 0) notes.push(`no print output:\n${c.out().slice(-500)}`);
          return { flows: count(), notes };
        },
        kill: () => c.proc.kill('SIGKILL'),
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// node-netflowv9

function nfv9Collector(): Collector {
  return {
    name: 'node-netflowv9',
    accepts: (s) => s.protocol === 'netflow_v9',
    missing: () => (existsSync(fileURLToPath(new URL('../../node_modules/node-netflowv9/package.json', import.meta.url))) ? false : 'node-netflowv9 is not installed (npm devDependency)'),
    async start(port, dir, core, rcvbuf) {
      const countFile = join(dir, 'count.json');
      const c = run('taskset', ['-c', core, process.execPath, NFV9, String(port), countFile, String(rcvbuf)]);
      await waitBound(port, c, 'node-netflowv9');
      const read = () => {
        try {
          return (JSON.parse(readFileSync(countFile, 'utf8')) as { flows: number }).flows;
        } catch {
          return 0;
        }
      };
      const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../node_modules/node-netflowv9/package.json', import.meta.url)), 'utf8')) as { version: string };
      return {
        pids: [c.proc.pid!],
        version: `node-netflowv9 ${pkg.version}`,
        progress: async () => read(),
        tick: () => {},
        countCpuSeconds: () => 0,
        async finish() {
          await stop(c);
          return { flows: read(), notes: [] };
        },
        kill: () => c.proc.kill('SIGKILL'),
      };
    },
  };
}

export function collector(name: CollectorName): Collector {
  switch (name) {
    case 'serve-file':
    case 'serve-nats':
      return serveCollector(name);
    case 'nfcapd':
    case 'sfcapd':
      return nfdumpCollector(name);
    case 'nfacctd':
    case 'sfacctd':
      return pmacctCollector(name);
    case 'node-netflowv9':
      return nfv9Collector();
  }
}
