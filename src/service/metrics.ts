/**
 * Prometheus metrics, built in the main thread from the workers' once-a-second snapshots: no
 * prom-client call ever happens on the flow path. Every metric is computed at scrape time
 * from the latest snapshot of each worker (a stopped worker's last snapshot stays, so counters
 * never go back). Names and meanings: docs/metrics.md.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { WorkerSnapshot } from './messages.js';
import { LATENCY_BUCKETS_S, type NatsStats } from '../output/mod.js';
import { MISS_BUCKETS_S, type KvStats } from '../templates/kv/mod.js';

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

/** Period of the main thread's event-loop delay sampling (nodejs_eventloop_lag_*), ms. */
export const EVENT_LOOP_SAMPLE_MS = 1000;

export function createMetrics(snapshots: () => readonly (WorkerSnapshot | undefined)[], info: MetricsInfo, ready: () => boolean, kvStats?: () => KvStats | undefined): Registry {
  const reg = new Registry();
  // prom-client samples the main thread's event-loop delay with a timer of this period: at its
  // default (10 ms) that timer alone woke the otherwise idle main thread 100 times a second,
  // ~8 ms of CPU per second on the 2-vCPU VMs measured (docs/benchmarks.md), and on a pinned
  // single-core serve it interrupted the worker's core as often. nodejs_eventloop_lag_* keep
  // their meaning, from one sample a second.
  collectDefaultMetrics({ register: reg, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
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
    for (const [e, v] of Object.entries(s.store)) if (e !== 'restored_flows') add({ event: e }, v);
  });
  counter('template_store_restored_flows_total', 'Flows decoded from data that waited for its template and was replayed when another worker or instance (through the shared store) delivered it.', [], (add, s) => {
    add({}, s.store['restored_flows'] ?? 0);
  });
  if (kvStats !== undefined) registerKvMetrics(reg, kvStats);

  // ---- NATS publisher (outputs of type nats; one connection per worker) ----
  const natsOf = (fn: (o: NatsStats, name: string, add: (labels: Labels, v: number) => void) => void) => (add: (labels: Labels, v: number) => void, s: WorkerSnapshot) => {
    for (const o of s.outputs) if (o.nats !== undefined) fn(o.nats, o.name, add);
  };
  counter('nats_messages_published_total', 'NATS messages published (first attempts).', ['output'], natsOf((n, output, add) => add({ output }, n.messagesPublished)));
  counter('nats_flows_published_total', 'Flows in NATS messages published (first attempts).', ['output'], natsOf((n, output, add) => add({ output }, n.flowsPublished)));
  counter('nats_bytes_published_total', 'Payload bytes of NATS messages published (first attempts).', ['output'], natsOf((n, output, add) => add({ output }, n.bytesPublished)));
  counter('nats_messages_acked_total', 'NATS messages acknowledged by JetStream (stored, or already stored: see duplicates).', ['output'], natsOf((n, output, add) => add({ output }, n.messagesAcked)));
  counter('nats_duplicates_total', 'Acknowledgements saying the stream already held the message (a retry of a stored message; stored once).', ['output'], natsOf((n, output, add) => add({ output }, n.duplicates)));
  counter('nats_retries_total', 'Publish attempts repeated after a failure.', ['output'], natsOf((n, output, add) => add({ output }, n.retries)));
  counter('nats_publish_failures_total', 'Failed publish attempts by reason (timeout, no_responders, permission, connection, too_large, api_error, other).', ['output', 'reason'], natsOf((n, output, add) => {
    for (const [reason, v] of Object.entries(n.failures)) add({ output, reason }, v);
  }));
  counter('nats_reconnects_total', 'Reconnections to NATS (summed over workers).', ['output'], natsOf((n, output, add) => add({ output }, n.reconnects)));
  const natsGauge = (name: string, help: string, pick: (n: NatsStats) => number, max = false) =>
    new Gauge({
      name: `flow_collector_${name}`,
      help,
      labelNames: ['output'],
      registers: [reg],
      collect() {
        this.reset();
        const by = new Map<string, number>();
        for (const s of snaps()) {
          for (const o of s.outputs) {
            if (o.nats === undefined) continue;
            const v = pick(o.nats);
            const prev = by.get(o.name);
            by.set(o.name, prev === undefined ? v : max ? Math.max(prev, v) : prev + v);
          }
        }
        for (const [output, v] of by) this.set({ output }, v);
      },
    });
  natsGauge('nats_connected', 'Workers whose NATS connection is up (each worker has its own).', (n) => (n.connected ? 1 : 0));
  natsGauge('nats_in_flight', 'NATS messages published and not yet acknowledged.', (n) => n.inFlight);
  natsGauge('nats_oldest_age_seconds', 'Age of the oldest message not yet acknowledged (max over workers).', (n) => n.oldestAgeS, true);
  // Publish-to-ack latency: bucket counts computed in the workers, summed here.
  const latencyName = 'flow_collector_nats_publish_latency_seconds';
  const latencyHelp = 'Time from publishing a NATS message to its JetStream acknowledgement.';
  reg.registerMetric({
    name: latencyName,
    help: latencyHelp,
    type: 'histogram',
    aggregator: 'sum',
    reset() {},
    async get() {
      const by = new Map<string, { counts: number[]; sum: number }>();
      for (const s of snaps()) {
        for (const o of s.outputs) {
          if (o.nats === undefined) continue;
          let e = by.get(o.name);
          if (e === undefined) by.set(o.name, (e = { counts: new Array(LATENCY_BUCKETS_S.length + 1).fill(0), sum: 0 }));
          o.nats.latencyCounts.forEach((c, i) => (e!.counts[i] += c));
          e.sum += o.nats.latencySum;
        }
      }
      const values: { value: number; labels: Labels; metricName: string }[] = [];
      for (const [output, e] of by) {
        let cum = 0;
        LATENCY_BUCKETS_S.forEach((le, i) => {
          cum += e.counts[i]!;
          values.push({ value: cum, labels: { le: String(le), output }, metricName: `${latencyName}_bucket` });
        });
        cum += e.counts[LATENCY_BUCKETS_S.length]!;
        values.push({ value: cum, labels: { le: '+Inf', output }, metricName: `${latencyName}_bucket` });
        values.push({ value: e.sum, labels: { output }, metricName: `${latencyName}_sum` });
        values.push({ value: cum, labels: { output }, metricName: `${latencyName}_count` });
      }
      return { name: latencyName, help: latencyHelp, type: 'histogram', aggregator: 'sum', values };
    },
  } as unknown as Parameters<Registry['registerMetric']>[0]);

  gauge('queue_bytes', 'Encoded bytes waiting in the output queues (all workers).', ['output'], (set, all) => {
    for (const s of all) for (const o of s.outputs) set({ output: o.name }, o.queuedBytes);
  });
  gauge('queue_max_bytes', 'Bound of the output queues (all workers).', ['output'], (set, all) => {
    for (const s of all) for (const o of s.outputs) set({ output: o.name }, o.maxBytes);
  });
  gauge('queue_flows', 'Flows waiting in the output queues (all workers).', ['output'], (set, all) => {
    for (const s of all) for (const o of s.outputs) set({ output: o.name }, o.queuedFlows);
  });
  // Workers share what they learn (every worker holds every scope), so the largest count is the
  // number of distinct scopes; a sum would count each exporter once per worker.
  gauge('sources', 'Template scopes (exporter + observation domain) held: the most any worker holds (workers share templates, so each holds them all).', [], (set, all) => {
    let most = 0;
    for (const s of all) most = Math.max(most, s.scopes);
    set({}, most);
  });
  gauge('pending_bytes', 'Bytes of data waiting for templates, summed over workers.', [], (set, all) => {
    for (const s of all) set({}, s.pendingBytes);
  });
  gauge('worker_heap_bytes', "Each worker thread's JavaScript heap: kind used (objects not yet collected), total (reserved), external (ArrayBuffers and other memory its objects hold outside the heap). The main thread's is nodejs_heap_size_*.", ['worker', 'kind'], (set, all) => {
    for (const s of all) {
      const worker = String(s.index);
      set({ worker, kind: 'used' }, s.heap.used);
      set({ worker, kind: 'total' }, s.heap.total);
      set({ worker, kind: 'external' }, s.heap.external);
    }
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

/** Counters of the KV store (main thread): count key -> metric name, label, help. */
const KV_COUNTERS: [string, string, Labels, string][] = [
  ['puts', 'template_kv_writes_total', { op: 'put' }, 'Writes to the template bucket: put (learned, changed, refreshed), delete (withdrawn).'],
  ['deletes', 'template_kv_writes_total', { op: 'delete' }, ''],
  ['gets_hit', 'template_kv_gets_total', { result: 'hit' }, 'Look-ups of a missing template: hit, miss (not in the bucket), error, negative_cached (a recent miss answered without asking), dropped (look-up queue full).'],
  ['gets_miss', 'template_kv_gets_total', { result: 'miss' }, ''],
  ['gets_error', 'template_kv_gets_total', { result: 'error' }, ''],
  ['gets_negative_cached', 'template_kv_gets_total', { result: 'negative_cached' }, ''],
  ['gets_dropped', 'template_kv_gets_total', { result: 'dropped' }, ''],
  ['preloaded', 'template_kv_preloaded_total', {}, 'Templates and options rows loaded from the bucket at start (the watch\'s initial values).'],
  ['applied', 'template_kv_applied_total', {}, 'Changes other instances made (templates, withdrawals, options rows) handed to the workers.'],
  ['conflicts', 'template_kv_conflicts_total', {}, 'Bucket values older than what this instance learned from the wire (ignored, ours written back).'],
  ['codec_errors', 'template_kv_codec_errors_total', {}, 'Bucket values that could not be decoded (ignored).'],
  ['backend_errors', 'template_kv_backend_errors_total', {}, 'Failed bucket operations (put, delete, open, watch); writes are retried.'],
  ['outbox_dropped', 'template_kv_outbox_dropped_total', {}, 'Writes dropped because the outbox (writes waiting for NATS) was full.'],
  ['cache_full', 'template_kv_cache_full_total', {}, 'Templates not cached because the scope held max_templates already.'],
  ['ignored_keys', 'template_kv_ignored_keys_total', {}, 'Bucket keys of listeners this instance does not have, or not in the key format.'],
  ['reconnects', 'template_kv_reconnects_total', {}, 'Reconnections of the template store to NATS.'],
  ['watch_restarts', 'template_kv_watch_restarts_total', {}, 'Watches started again because the bucket was ahead of them at two checks 5 s apart (a watch consumer lost with a server).'],
];

function registerKvMetrics(reg: Registry, kvStats: () => KvStats | undefined): void {
  const byName = new Map<string, { help: string; rows: [string, Labels][] }>();
  for (const [key, name, labels, help] of KV_COUNTERS) {
    let e = byName.get(name);
    if (e === undefined) byName.set(name, (e = { help, rows: [] }));
    e.rows.push([key, labels]);
  }
  for (const [name, { help, rows }] of byName) {
    new Counter({
      name: `flow_collector_${name}`,
      help,
      labelNames: Object.keys(rows[0]![1]),
      registers: [reg],
      collect() {
        this.reset();
        const st = kvStats();
        if (st === undefined) return;
        for (const [key, labels] of rows) this.inc(labels, st.counts[key] ?? 0);
      },
    });
  }
  const gauge = (name: string, help: string, pick: (s: KvStats) => number) =>
    new Gauge({
      name: `flow_collector_${name}`,
      help,
      registers: [reg],
      collect() {
        const st = kvStats();
        if (st !== undefined) this.set(pick(st));
      },
    });
  gauge('template_kv_connected', '1 while the template store is connected and its bucket open (not required for readiness).', (s) => (s.state === 'ready' ? 1 : 0));
  gauge('template_kv_loaded', '1 once the bucket\'s values were loaded at start (the preload).', (s) => (s.preloaded ? 1 : 0));
  gauge('template_kv_preload_seconds', 'Time the preload took.', (s) => s.preloadMs / 1000);
  gauge('template_kv_watch_pending', 'Bucket changes the watch has not delivered yet (as of its last delivery).', (s) => s.watchPending);
  gauge('template_kv_watch_lag_seconds', 'Age of the last change the watch delivered when it arrived (server clock to ours).', (s) => s.watchLagMs / 1000);
  gauge('template_kv_outbox', 'Writes waiting to be sent (or in flight).', (s) => s.outbox);
  gauge('template_kv_cached_keys', 'Templates and options rows held by the template store\'s cache.', (s) => s.cachedTemplates);
  gauge('template_kv_cached_scopes', 'Exporter scopes held by the template store\'s cache.', (s) => s.cachedScopes);
  const name = 'flow_collector_template_kv_miss_wait_seconds';
  const help = 'Time from a worker missing a template to its arrival through the store (watch, look-up or the wire).';
  reg.registerMetric({
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    reset() {},
    async get() {
      const st = kvStats();
      const values: { value: number; labels: Labels; metricName: string }[] = [];
      if (st !== undefined) {
        let cum = 0;
        MISS_BUCKETS_S.forEach((le, i) => {
          cum += st.missCounts[i]!;
          values.push({ value: cum, labels: { le: String(le) }, metricName: `${name}_bucket` });
        });
        cum += st.missCounts[MISS_BUCKETS_S.length]!;
        values.push({ value: cum, labels: { le: '+Inf' }, metricName: `${name}_bucket` });
        values.push({ value: st.missSum, labels: {}, metricName: `${name}_sum` });
        values.push({ value: cum, labels: {}, metricName: `${name}_count` });
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
  } as unknown as Parameters<Registry['registerMetric']>[0]);
}
