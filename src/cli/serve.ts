/**
 * `flow-collector serve`: loads and validates the configuration, starts the collector, logs
 * where it listens, and stops cleanly on SIGTERM / SIGINT (a second signal exits at once).
 * SIGHUP reopens file outputs (logrotate).
 *
 * Exit codes: 0 stopped cleanly, 1 start-up or runtime failure, 2 bad configuration.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, formatConfig, loadConfig, parseServeArgs } from '../config/mod.js';
import { Collector, StartupError, createLogger, steadyJit, trimFreedMemory } from '../service/mod.js';

export const SERVE_USAGE = `Usage: flow-collector serve [options]

Receives NetFlow v1/v5/v7/v9, IPFIX and sFlow v5 on UDP with one worker thread per core, decodes
every flow and writes them to the outputs. With no options: UDP 0.0.0.0:2055 (NetFlow), 4739
(IPFIX) and 6343 (sFlow), every port detecting the protocol per datagram; NDJSON flows on stdout;
logs (JSON) on stderr; metrics and health on http://127.0.0.1:9191 (/metrics, /healthz, /readyz).

Options:
  -c, --config FILE      configuration file (JSON or YAML; also ServiceRadar flow-collector's JSON)
                         (default: $FLOW_COLLECTOR_CONFIG)
  --listen ADDR:PORT     listen on this UDP address (repeatable; replaces the default listeners;
                         IPv6 as [::]:2055)
  --output stdout|file:PATH
                         where flows go (replaces the configured outputs)
  --format json|flowpb   NDJSON, or length-delimited flowpb.FlowMessage protobuf
  --workers N|auto       worker threads (default auto: one per CPU, within the cgroup CPU limit)
  --metrics-addr ADDR:PORT
                         metrics and health server (port 0 picks a free port; "off" disables)
  --log-level LEVEL      trace, debug, info, warn, error, fatal or silent
  --check-config         validate, print the effective configuration and exit (0 valid, 2 invalid)
  -h, --help             show this help

Environment: FLOW_COLLECTOR_<SECTION>__<KEY> overrides a setting (e.g. FLOW_COLLECTOR_WORKERS=4,
FLOW_COLLECTOR_QUEUE__DROP_POLICY=block). Precedence: defaults < file < environment < flags.
See docs/configuration.md.

Signals: SIGTERM/SIGINT read what the sockets already hold, stop reading, deliver what was decoded
(shutdown.drain_timeout_ms), exit 0; a second signal exits at once. SIGHUP reopens output files.

Exit codes: 0 stopped cleanly, 1 start-up or runtime failure (e.g. port in use), 2 bad configuration.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

export async function runServe(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parseServeArgs>;
  let loaded: ReturnType<typeof loadConfig>;
  try {
    args = parseServeArgs(argv);
    if (args.help) {
      process.stdout.write(SERVE_USAGE);
      return 0;
    }
    loaded = loadConfig({ file: args.configFile, env: process.env, flags: args.flags });
    // Before any worker starts: V8 flags are process-wide (src/service/jit.ts).
    steadyJit();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`flow-collector serve: invalid configuration:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`);
      return 2;
    }
    throw err;
  }
  const { config, warnings } = loaded;
  if (args.checkConfig) {
    for (const w of warnings) process.stderr.write(`flow-collector serve: warning: ${w}\n`);
    process.stdout.write(`${formatConfig(config)}\n`);
    return 0;
  }

  const log = createLogger(config.logging.level);
  for (const w of warnings) log.warn({ source: loaded.source }, w);

  let fatal: ((err: Error) => void) | undefined;
  const failed = new Promise<Error>((resolve) => (fatal = resolve));
  let collector: Collector | undefined;
  // Handlers first: a signal during start-up (or just after the start-up line, which a supervisor
  // may act on at once) stops the collector gracefully once it has started, instead of killing it.
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    let first = true;
    const on = (sig: NodeJS.Signals) => {
      if (!first) {
        log.warn({ signal: sig }, 'second signal: exiting at once, undelivered flows are lost');
        process.exit(1);
      }
      first = false;
      resolve(sig);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
  process.on('SIGHUP', () => {
    log.info('SIGHUP: reopening output files');
    collector?.reopen();
  });
  try {
    collector = await Collector.start({ config, logger: log, version: version(), onFatal: (e) => fatal!(e) });
  } catch (err) {
    if (err instanceof StartupError) {
      log.fatal({ code: err.code }, err.message);
      process.stderr.write(`flow-collector serve: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  // Freed memory back to the system now and then, through the addon when the collector uses it
  // (src/service/memory.ts).
  const trim = trimFreedMemory(collector.ingest);
  const ingest = collector.listeners[0];

  log.info(
    {
      listeners: collector.listeners.map((l) => ({ name: l.name, address: l.address, port: l.port, sockets: l.sockets, receive_buffer_bytes_per_socket: l.rcvbuf })),
      ingest_path: ingest?.path,
      ingest_reason: ingest?.reason,
      workers: collector.workers,
      warmup_ms: Math.round(collector.warmupMs),
      outputs: config.outputs.map((o) => (o.type === 'file' ? `file:${o.path} (${o.format})` : `${o.type} (${o.format})`)),
      metrics: httpUrl(collector.metricsAddress),
      health: httpUrl(collector.healthAddress),
      queue: config.queue,
      malloc_trim: trim.state,
      template_store: config.template_store.backend === 'nats_kv' ? `nats_kv (bucket ${config.template_store.kv_bucket})` : 'local',
      config_source: loaded.source,
    },
    'flow-collector started',
  );

  const why = await Promise.race([signalled.then((s) => ({ signal: s, error: undefined })), failed.then((e) => ({ signal: undefined, error: e }))]);
  log.info({ signal: why.signal, reason: why.error?.message }, 'stopping: reading what the sockets hold, then delivering what was decoded');
  const report = await collector.stop();
  trim.stop();
  const t = collector.totals();
  log.info(
    {
      delivered_during_drain: report.delivered,
      dropped_during_drain: report.dropped,
      workers_terminated: report.terminated,
      datagrams: t.datagrams,
      flows: t.flows,
      delivered: t.delivered,
      output_bytes: t.outputBytes,
      dropped: t.dropped,
      kernel_drops: t.kernelDrops,
    },
    'flow-collector stopped',
  );
  // Exit now: a write to a consumer that stopped reading stdout could otherwise keep the
  // process alive after the drain deadline (everything undelivered is counted above).
  process.exit(why.error !== undefined || report.terminated > 0 ? 1 : 0);
}

function httpUrl(a: { address: string; port: number } | null): string {
  if (a === null) return 'off';
  return `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
}
