/**
 * Prometheus metrics, built in the main thread from the workers' once-a-second snapshots: no
 * prom-client call ever happens on the flow path. Every metric is computed at scrape time
 * from the latest snapshot of each worker (a stopped worker's last snapshot stays, so counters
 * never go back). Names and meanings: docs/metrics.md.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { WorkerSnapshot } from './messages.js';

type Labels = Record<string, string>;

/** Where a decoder counter reason goes (docs/errors.md lists them). */
export function classify(reason: string): { metric: string; labels: Labels } | null {
  if (reason === 'datagrams' || reason.startsWith('records.')) return null; // counted elsewhere
  let m: RegExpExecArray | null;
  if ((m = /^template\.rejected\.(.+)$/.exec(reason))) return { metric: 'templates_rejected', labels: { reason: m[1]! } };
  if ((m = /^template\.(learned|refreshed|changed|withdrawn|withdrawn_unknown|evicted|missing)$/.exec(reason))) {
    return { metric: 'templates', labels: { event: m[1]! } };
  }
  if ((m = /^pending\.dropped\.(.+)$/.exec(reason))) return { metric: 'pending_dropped', labels: { reason: m[1]! } };
  if ((m = /^pending\.(buffered|replayed|expired)$/.exec(reason))) return { metric: 'pending_sets', labels: { event: m[1]! } };
  if ((m = /^scope\.(created|evicted)$/.exec(reason))) return { metric: 'scopes', labels: { event: m[1]! } };
  if (reason === 'options.records') return { metric: 'options_records', labels: { event: 'decoded' } };
  if (reason === 'options.evicted') return { metric: 'options_records', labels: { event: 'evicted' } };
  if (/trailing_bytes$|zero_padding$|nonzero_padding$|\.list\./.test(reason)) return { metric: 'decode_anomalies', labels: { reason } };
  return { metric: 'decode_errors', labels: { reason } };
}

export interface MetricsInfo {
  version: string;
  ingestPath: string;
  ingestReason: string;
  workers: number;
}

export function createMetrics(snapshots: () => readonly (WorkerSnapshot | undefined)[], info: MetricsInfo, ready: () => boolean): Registry {
  const reg = new Registry();
  collectDefaultMetrics({ register: reg });
  const snaps = (): WorkerSnapshot[] => snapshots().filter((s): s is WorkerSnapshot => s !== undefined);

  /** A counter whose values are summed over workers at scrape time. */
  const counter = (name: string, help: string, labelNames: string[], fill: (add: (labels: Labels, v: number) => void, s: WorkerSnapshot) => void) =>
    new Counter({
      name: `flow_collector_${name}`,
      help,
      labelNames,
      registers: [reg],
      collect() {
        this.reset();
        for (const s of snaps()) fill((labels, v) => this.inc(labels, v), s);
      },
    });
  const gauge = (name: string, help: string, labelNames: string[], fill: (set: (labels: Labels, v: number) => void, all: WorkerSnapshot[]) => void) =>
    new Gauge({
      name: `flow_collector_${name}`,
      help,
      labelNames,
      registers: [reg],
      collect() {
        this.reset();
        const sums = new Map<string, { labels: Labels; v: number }>();
        fill((labels, v) => {
          const k = JSON.stringify(labels);
          const e = sums.get(k);
          if (e === undefined) sums.set(k, { labels, v });
          else e.v += v;
        }, snaps());
        for (const { labels, v } of sums.values()) this.set(labels, v);
      },
    });

  counter('datagrams_received_total', 'Datagrams received, per listener.', ['listener'], (add, s) => {
    for (const l of s.listeners) add({ listener: l.name }, l.datagrams);
  });
  counter('received_bytes_total', 'UDP payload bytes received, per listener.', ['listener'], (add, s) => {
    for (const l of s.listeners) add({ listener: l.name }, l.bytes);
  });
  counter('datagrams_truncated_total', 'Datagrams longer than a receive slot (cut, decoded as far as they go).', ['listener'], (add, s) => {
    for (const l of s.listeners) add({ listener: l.name }, l.truncated);
  });
  counter('datagrams_dropped_total', 'Datagrams received but not decoded, by reason (wrong_protocol for the listener; paused: outputs full on the dgram path).', ['listener', 'reason'], (add, s) => {
    for (const l of s.listeners) {
      add({ listener: l.name, reason: 'wrong_protocol' }, l.wrongProtocol);
      add({ listener: l.name, reason: 'paused' }, l.pausedDrops);
    }
  });
  counter('kernel_drops_total', 'Datagrams the kernel dropped on a socket because its receive buffer was full (SO_MEMINFO / SO_RXQ_OVFL; addon path only).', ['listener', 'socket'], (add, s) => {
    for (const l of s.listeners) {
      l.kernelDrops.forEach((d, k) => {
        if (d !== null) add({ listener: l.name, socket: `w${s.index}s${k}` }, d);
      });
    }
  });
  counter('flows_decoded_total', 'Flow records decoded, by protocol (flowpb type: netflow_v5 includes v1 and v7).', ['protocol'], (add, s) => {
    for (const [p, v] of Object.entries(s.flows)) add({ protocol: p }, v);
  });
  counter('flows_delivered_total', 'Flows the output destination accepted.', ['output'], (add, s) => {
    for (const o of s.outputs) add({ output: o.name }, o.delivered);
  });
  counter('flows_dropped_total', 'Flows decoded but not delivered, by output and reason (queue_full, write_error, shutdown).', ['output', 'reason'], (add, s) => {
    for (const o of s.outputs) for (const [r, v] of Object.entries(o.dropped)) add({ output: o.name, reason: r }, v);
  });
  counter('output_bytes_total', 'Encoded bytes the output destination accepted.', ['output'], (add, s) => {
    for (const o of s.outputs) add({ output: o.name }, o.bytes);
  });
  counter('output_write_errors_total', 'Failed writes to an output (each drops the flows of one chunk).', ['output'], (add, s) => {
    for (const o of s.outputs) add({ output: o.name }, o.writeErrors);
  });
  const byMetric = (metric: string, label: string) => (add: (labels: Labels, v: number) => void, s: WorkerSnapshot) => {
    for (const [reason, v] of Object.entries(s.counters)) {
      const c = classify(reason);
      if (c !== null && c.metric === metric) add({ [label]: c.labels[label]! }, v);
    }
  };
  counter('decode_errors_total', 'Datagrams or sets that could not be decoded, by reason (docs/errors.md).', ['reason'], byMetric('decode_errors', 'reason'));
  counter('decode_anomalies_total', 'Oddities counted while the datagram still decoded (padding, trailing bytes, malformed lists).', ['reason'], byMetric('decode_anomalies', 'reason'));
  counter('templates_total', 'Template events: learned, refreshed, changed, withdrawn, withdrawn_unknown, evicted, missing (data for an unknown template).', ['event'], byMetric('templates', 'event'));
  counter('templates_rejected_total', 'Templates refused by a limit, by reason.', ['reason'], byMetric('templates_rejected', 'reason'));
  counter('pending_sets_total', 'Data sets that waited for their template: buffered, replayed, expired.', ['event'], byMetric('pending_sets', 'event'));
  counter('pending_dropped_total', 'Data sets dropped from the pending buffer, by reason.', ['reason'], byMetric('pending_dropped', 'reason'));
  counter('scopes_total', 'Template scopes (exporter + observation domain) created and evicted.', ['event'], byMetric('scopes', 'event'));
  counter('options_records_total', 'Options data records (sampler, interface tables) decoded and evicted.', ['event'], byMetric('options_records', 'event'));
  counter('template_store_total', 'In-process template sharing between workers: published, received, requests_sent, requests_answered, errors.', ['event'], (add, s) => {
    for (const [e, v] of Object.entries(s.store)) add({ event: e }, v);
  });

  gauge('queue_bytes', 'Encoded bytes waiting in the output queues (all workers).', ['output'], (set, all) => {
    for (const s of all) for (const o of s.outputs) set({ output: o.name }, o.queuedBytes);
  });
  gauge('queue_max_bytes', 'Bound of the output queues (all workers).', ['output'], (set, all) => {
    for (const s of all) for (const o of s.outputs) set({ output: o.name }, o.maxBytes);
  });
  gauge('queue_flows', 'Flows waiting in the output queues (all workers).', ['output'], (set, all) => {
    for (const s of all) for (const o of s.outputs) set({ output: o.name }, o.queuedFlows);
  });
  gauge('sources', 'Template scopes (exporter + observation domain) held, summed over workers.', [], (set, all) => {
    for (const s of all) set({}, s.scopes);
  });
  gauge('pending_bytes', 'Bytes of data waiting for templates, summed over workers.', [], (set, all) => {
    for (const s of all) set({}, s.pendingBytes);
  });
  gauge('receive_buffer_bytes', 'Socket receive buffer the kernel granted, summed over sockets.', ['listener'], (set, all) => {
    for (const s of all) for (const l of s.listeners) set({ listener: l.name }, l.rcvbuf);
  });
  gauge('listener_paused', 'Sockets not being read because an output is full (drop_policy block), per listener: number of workers paused.', ['listener'], (set, all) => {
    for (const s of all) for (const l of s.listeners) set({ listener: l.name }, l.paused ? 1 : 0);
  });
  new Gauge({
    name: 'flow_collector_ingest_info',
    help: 'Ingest path in use (addon: recvmmsg batches; dgram: Node sockets) and why.',
    labelNames: ['path', 'reason'],
    registers: [reg],
  }).set({ path: info.ingestPath, reason: info.ingestReason }, 1);
  new Gauge({
    name: 'flow_collector_build_info',
    help: 'Version of the collector and of Node.js.',
    labelNames: ['version', 'node'],
    registers: [reg],
  }).set({ version: info.version, node: process.version }, 1);
  new Gauge({ name: 'flow_collector_workers', help: 'Worker threads decoding.', registers: [reg] }).set(info.workers);
  new Gauge({
    name: 'flow_collector_ready',
    help: '1 when every listener is bound and every output is ready (as /readyz).',
    registers: [reg],
    collect() {
      this.set(ready() ? 1 : 0);
    },
  });
  return reg;
}
