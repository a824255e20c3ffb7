/**
 * ServiceRadar compatibility: the JSON file of ServiceRadar's Rust flow-collector
 * (rust/flow-collector, `Config` in src/config.rs), which this collector replaces, loads
 * unchanged. It is recognised by its keys, checked against its own schema (unknown keys are
 * refused with a suggestion, like ours), and mapped onto our settings with the same meaning.
 * What cannot keep its meaning is either refused with the reason or reported as a warning.
 * docs/configuration.md ("ServiceRadar") lists every field and its mapping.
 */
import { isAbsolute, join as joinPath } from 'node:path';
import { isIP } from 'node:net';
import { Type, type TSchema } from '@sinclair/typebox';
import { DEFAULT_LIMITS } from '../templates/mod.js';
import { MIN_QUEUE_BYTES } from './schema.js';
import { Problems, checkValue, isPlainObject, parseHostPort, type Origins } from './check.js';

type Obj = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Their defaults (rust/flow-collector/src/config.rs)

export const SR_DEFAULTS = {
  channel_size: 10_000,
  batch_size: 100,
  publish_timeout_ms: 5000,
  partition: 'default',
  stream_max_bytes: 10 * 1024 ** 3,
  stream_replicas: 1,
  kv_history: 1,
  kv_ttl_secs: 0,
  max_pending_flows: 256,
  max_entries_per_template: 1024,
  max_entry_size_bytes: 65535,
  pending_ttl_secs: 300,
} as const;

/**
 * Assumed average size of one flow in the queue, to turn channel_size (a count of flows) into
 * queue.max_bytes. ServiceRadar publishes one flowpb FlowMessage per message; our flowpb encoding
 * of the vendor samples in the conformance corpus averages 77 to 130 bytes per flow. 256 bytes,
 * twice the largest, keeps at least channel_size flows in the queue.
 */
export const ASSUMED_FLOW_BYTES = 256;

/** The most pending bytes a ServiceRadar file can ask for: our default total (64 MiB). */
export const PENDING_BYTES_CAP = DEFAULT_LIMITS.pendingMaxBytesTotal;

// ---------------------------------------------------------------------------------------------
// Their schema

const Opt = <T extends TSchema>(s: T) => Type.Optional(Type.Union([s, Type.Null()]));
const Int = (minimum: number, maximum?: number) => Type.Integer({ minimum, ...(maximum !== undefined ? { maximum } : {}) });
const Text = () => Type.String({ minLength: 1 });
const O = (props: Record<string, TSchema>) => Type.Object(props, { additionalProperties: false });

const PendingFlows = O({
  max_pending_flows: Type.Optional(Int(1, 10_000)),
  max_entries_per_template: Type.Optional(Int(1, 100_000)),
  max_entry_size_bytes: Type.Optional(Int(1, 1_048_576)),
  ttl_secs: Type.Optional(Int(1, 3600)),
});

const NetflowListener = O({
  protocol: Type.Literal('netflow'),
  listen_addr: Text(),
  subject: Text(),
  buffer_size: Type.Optional(Int(1)),
  channel_size: Opt(Int(1)),
  max_templates: Type.Optional(Int(1)),
  max_template_fields: Type.Optional(Int(1, 65535)),
  pending_flows: Opt(PendingFlows),
  default_sampling_rate: Opt(Int(1)),
  sampling_rate_overrides: Type.Optional(Type.Record(Type.String(), Int(1))),
  max_sources: Opt(Int(1)),
  allow_unauthenticated_templates: Type.Optional(Type.Boolean()),
});
const SflowListener = O({
  protocol: Type.Literal('sflow'),
  listen_addr: Text(),
  subject: Text(),
  buffer_size: Type.Optional(Int(1)),
  channel_size: Opt(Int(1)),
  max_samples_per_datagram: Opt(Int(1)),
});
/** Recognised so it can be refused with the reason; its settings are not checked. */
const IpfixTlsListener = Type.Object({ protocol: Type.Literal('ipfix_tls') }, { additionalProperties: true });

export const ServiceRadarSchema = O({
  nats_url: Text(),
  nats_creds_file: Opt(Text()),
  stream_name: Text(),
  stream_subjects: Opt(Type.Array(Text())),
  stream_max_bytes: Type.Optional(Int(1)),
  stream_max_age_secs: Type.Optional(Int(1)),
  stream_replicas: Type.Optional(Int(1, 5)),
  rehome_state_path: Opt(Type.String()),
  ready_state_path: Opt(Type.String()),
  partition: Type.Optional(Text()),
  channel_size: Type.Optional(Int(1)),
  batch_size: Type.Optional(Int(1, 10_000)),
  publish_timeout_ms: Type.Optional(Int(1, 600_000)),
  drop_policy: Type.Optional(Type.Union([Type.Literal('drop_oldest'), Type.Literal('drop_newest'), Type.Literal('block')])),
  security: Opt(
    O({
      mode: Type.Union([Type.Literal('mtls'), Type.Literal('none')]),
      cert_dir: Opt(Text()),
      tls: Opt(O({ cert_file: Opt(Text()), key_file: Opt(Text()), ca_file: Opt(Text()) })),
    }),
  ),
  metrics_addr: Opt(Text()),
  host_slices: Type.Optional(Type.Array(Type.Unknown())),
  host_slice_allowlist: Type.Optional(Type.Array(Type.String())),
  template_store: Opt(
    O({
      kv_bucket: Text(),
      kv_history: Type.Optional(Int(1, 64)),
      kv_ttl_secs: Type.Optional(Int(0)),
      nats_url: Opt(Text()),
    }),
  ),
  listeners: Type.Array(Type.Union([NetflowListener, SflowListener, IpfixTlsListener]), { minItems: 1 }),
});

/** Top-level keys only our own format has (listeners and template_store are in both). */
const NATIVE_ONLY = ['outputs', 'workers', 'templates', 'sampling', 'queue', 'metrics', 'logging', 'shutdown', 'nats'];

/** Whether a parsed file is a ServiceRadar flow-collector configuration. */
export function isServiceRadarConfig(o: Obj): boolean {
  // Any section of our own format makes it ours (and a stray nats_url an unknown key).
  if (NATIVE_ONLY.some((k) => Object.hasOwn(o, k))) return false;
  if (Object.hasOwn(o, 'nats_url') || Object.hasOwn(o, 'stream_name')) return true;
  const ls = o['listeners'];
  return Array.isArray(ls) && ls.some((l) => isPlainObject(l) && Object.hasOwn(l, 'listen_addr'));
}

export interface ServiceRadarMapping {
  /** Our settings, as a file would say them (defaults are filled later). */
  config: Obj;
  warnings: string[];
  problems: string[];
}

const nn = <T>(v: T | null | undefined): T | undefined => (v === null ? undefined : v);

/** Maps a ServiceRadar flow-collector configuration onto ours. */
export function fromServiceRadar(sr: Obj, origins: Origins): ServiceRadarMapping {
  const problems = new Problems(origins);
  const warnings: string[] = [];
  checkValue(ServiceRadarSchema as unknown as Record<string, unknown>, sr, '', problems);
  if (problems.length > 0) return { config: {}, warnings, problems: problems.list };

  const out: Obj = {};
  const listeners = sr['listeners'] as Obj[];

  // listeners
  const names = new Set<string>();
  const mapped: Obj[] = [];
  const sampling: { exporter: string; rate: number }[] = [];
  let defaultRate: { rate: number; index: number } | undefined;
  let withoutDefault = 0;
  listeners.forEach((l, i) => {
    const p = `listeners[${i}]`;
    const proto = l['protocol'] as string;
    if (proto === 'ipfix_tls') {
      problems.add(
        `${p}.protocol`,
        '"ipfix_tls" (IPFIX over TLS from certificate-pinned exporters) is not supported by this collector; remove the listener and have those exporters send IPFIX over UDP to a netflow listener',
      );
      return;
    }
    const hp = parseHostPort(l['listen_addr'] as string);
    if (typeof hp === 'string') {
      problems.add(`${p}.listen_addr`, hp);
      return;
    }
    let name = `${proto}-${hp.port}`;
    if (names.has(name)) name = `${proto}-${hp.address}-${hp.port}`;
    names.add(name);
    // "netflow" listeners decode NetFlow v5/v9 and IPFIX in ServiceRadar: ours do with 'auto'.
    const m: Obj = { name, address: hp.address, port: hp.port, protocol: proto === 'netflow' ? 'auto' : 'sflow', subject: l['subject'] };
    if (l['buffer_size'] !== undefined) {
      warnings.push(
        `${p}.buffer_size (${String(l['buffer_size'])}): not carried. In ServiceRadar it is the buffer each datagram is read into (the largest datagram read whole), not the socket receive buffer; this collector sizes its datagram slots itself and keeps receive_buffer_bytes at its default`,
      );
    }
    if (nn(l['channel_size']) !== undefined) {
      warnings.push(`${p}.channel_size: per-listener queues are not carried; all listeners share queue.max_bytes (from the top-level channel_size)`);
    }
    if (proto === 'sflow') {
      const ms = nn(l['max_samples_per_datagram']);
      if (ms !== undefined) m['max_samples_per_datagram'] = ms;
    } else {
      const t: Obj = {};
      if (l['max_templates'] !== undefined) t['max_templates'] = l['max_templates'];
      if (l['max_template_fields'] !== undefined) t['max_template_fields'] = l['max_template_fields'];
      const ms = nn(l['max_sources']);
      if (ms !== undefined) t['max_sources'] = ms;
      const pf = nn(l['pending_flows']) as Obj | undefined;
      if (pf !== undefined) {
        const templates = (pf['max_pending_flows'] as number | undefined) ?? SR_DEFAULTS.max_pending_flows;
        const entries = (pf['max_entries_per_template'] as number | undefined) ?? SR_DEFAULTS.max_entries_per_template;
        const size = (pf['max_entry_size_bytes'] as number | undefined) ?? SR_DEFAULTS.max_entry_size_bytes;
        const ttl = (pf['ttl_secs'] as number | undefined) ?? SR_DEFAULTS.pending_ttl_secs;
        const perTemplate = entries * size;
        const all = templates * perTemplate;
        const total = Math.min(all, PENDING_BYTES_CAP);
        const perScope = Math.min(perTemplate, total);
        t['pending_max_bytes_per_scope'] = perScope;
        t['pending_max_bytes_total'] = total;
        t['pending_max_age_ms'] = ttl * 1000;
        warnings.push(
          `${p}.pending_flows: ServiceRadar bounds entries (${templates} templates x ${entries} entries x ${size} bytes = ${all} bytes at most); ` +
            `mapped to byte limits: templates.pending_max_bytes_per_scope ${perScope} (entries x bytes), pending_max_bytes_total ${total}` +
            `${all > PENDING_BYTES_CAP ? ` (capped at ${PENDING_BYTES_CAP}, this collector's default total)` : ''}, pending_max_age_ms ${ttl * 1000} (ttl_secs)`,
        );
      }
      if (Object.keys(t).length > 0) m['templates'] = t;
      const dr = nn(l['default_sampling_rate']) as number | undefined;
      if (dr !== undefined) {
        if (defaultRate === undefined) defaultRate = { rate: dr, index: i };
        else if (defaultRate.rate !== dr) {
          problems.add(
            `${p}.default_sampling_rate`,
            `${dr} differs from listeners[${defaultRate.index}].default_sampling_rate (${defaultRate.rate}); this collector's sampling defaults are per exporter, not per listener: use one rate, or move to a native configuration with sampling.defaults per exporter`,
          );
        }
      } else withoutDefault++;
      const overrides = (l['sampling_rate_overrides'] ?? {}) as Record<string, number>;
      for (const [exporter, rate] of Object.entries(overrides)) {
        if (isIP(exporter) === 0) {
          problems.add(`${p}.sampling_rate_overrides.${exporter}`, `"${exporter}" is not an IP address`);
          continue;
        }
        const prev = sampling.find((r) => r.exporter === exporter);
        if (prev === undefined) sampling.push({ exporter, rate });
        else if (prev.rate !== rate) problems.add(`${p}.sampling_rate_overrides.${exporter}`, `${rate} differs from the rate another listener gives this exporter (${prev.rate}); give one rate per exporter`);
      }
      if (l['allow_unauthenticated_templates'] !== undefined) {
        warnings.push(`${p}.allow_unauthenticated_templates: not carried; this collector always learns templates from UDP exporters, kept apart per exporter address and observation domain`);
      }
    }
    mapped.push(m);
  });
  out['listeners'] = mapped;

  if (defaultRate !== undefined) {
    // ServiceRadar's per-exporter rates are fallbacks too ("used when the exporter does not report one").
    sampling.push({ exporter: '0.0.0.0/0', rate: defaultRate.rate }, { exporter: '::/0', rate: defaultRate.rate });
    if (withoutDefault > 0) {
      warnings.push(`listeners[${defaultRate.index}].default_sampling_rate ${defaultRate.rate}: now the default for every exporter, also on the netflow listeners that did not set one`);
    }
  }
  if (sampling.length > 0) out['sampling'] = { defaults: sampling };

  // Output: one flowpb FlowMessage per NATS message, which is what ServiceRadar's consumers read.
  out['outputs'] = [
    {
      type: 'nats',
      format: 'flowpb',
      // Every listener has its own subject; this one is only the fallback.
      subject: listeners.find((l) => typeof l['subject'] === 'string')?.['subject'] ?? 'flows.raw',
      batch_size: (sr['batch_size'] as number | undefined) ?? SR_DEFAULTS.batch_size,
    },
  ];

  // Queue: channel_size counts flows; ours counts bytes.
  const channel = (sr['channel_size'] as number | undefined) ?? SR_DEFAULTS.channel_size;
  let maxBytes = channel * ASSUMED_FLOW_BYTES;
  if (maxBytes < MIN_QUEUE_BYTES) {
    warnings.push(`channel_size ${channel}: ${channel} flows x ${ASSUMED_FLOW_BYTES} bytes is below the smallest queue (${MIN_QUEUE_BYTES} bytes); queue.max_bytes is ${MIN_QUEUE_BYTES}`);
    maxBytes = MIN_QUEUE_BYTES;
  } else if (sr['channel_size'] !== undefined) {
    warnings.push(`channel_size ${channel} flows: queue.max_bytes ${maxBytes} (${ASSUMED_FLOW_BYTES} bytes per flow assumed; the queue is per worker)`);
  }
  const drop = sr['drop_policy'] as string | undefined;
  if (drop === 'drop_oldest' || drop === 'block') {
    warnings.push(
      `drop_policy "${drop}": ServiceRadar's collector did not apply it (its listeners always dropped the newest flow when the channel was full); this collector does${drop === 'block' ? ': a full queue stops decoding and the kernel drops datagrams instead' : ''}`,
    );
  }
  out['queue'] = { max_bytes: maxBytes, drop_policy: drop ?? 'drop_newest' };

  // Metrics: no metrics_addr, no metrics server (as in ServiceRadar).
  const metricsAddr = nn(sr['metrics_addr']) as string | undefined;
  if (metricsAddr === undefined) out['metrics'] = { enabled: false };
  else {
    const hp = parseHostPort(metricsAddr);
    if (typeof hp === 'string') problems.add('metrics_addr', hp);
    out['metrics'] = { enabled: true, address: metricsAddr };
  }

  // NATS
  const servers = splitUrls(sr['nats_url'] as string);
  const subjects = new Set<string>((nn(sr['stream_subjects']) as string[] | undefined) ?? []);
  for (const l of listeners) if (typeof l['subject'] === 'string') subjects.add(l['subject']);
  const stream: Obj = {
    name: sr['stream_name'],
    subjects: [...subjects].sort(),
    max_bytes: (sr['stream_max_bytes'] as number | undefined) ?? SR_DEFAULTS.stream_max_bytes,
    replicas: (sr['stream_replicas'] as number | undefined) ?? SR_DEFAULTS.stream_replicas,
    manage: true,
  };
  if (sr['stream_max_age_secs'] !== undefined) stream['max_age_s'] = sr['stream_max_age_secs'];
  const nats: Obj = {
    servers,
    stream,
    publish_timeout_ms: (sr['publish_timeout_ms'] as number | undefined) ?? SR_DEFAULTS.publish_timeout_ms,
    partition: (sr['partition'] as string | undefined) ?? SR_DEFAULTS.partition,
  };
  const creds = nn(sr['nats_creds_file']);
  if (creds !== undefined) nats['creds_file'] = creds;
  const sec = nn(sr['security']) as Obj | undefined;
  if (sec !== undefined) {
    const tls = (nn(sec['tls']) ?? {}) as Obj;
    const dir = nn(sec['cert_dir']) as string | undefined;
    const at = (f: unknown) => {
      const file = nn(f) as string | undefined;
      if (file === undefined) return undefined;
      return dir !== undefined && !isAbsolute(file) ? joinPath(dir, file) : file;
    };
    if (sec['mode'] === 'mtls') {
      const t: Obj = {};
      const cert = at(tls['cert_file']);
      const key = at(tls['key_file']);
      const ca = at(tls['ca_file']);
      if (cert === undefined || key === undefined) {
        problems.add('security.tls', 'mode "mtls" needs tls.cert_file and tls.key_file (relative to cert_dir)');
      }
      if (ca !== undefined) t['ca_file'] = ca;
      if (cert !== undefined) t['cert_file'] = cert;
      if (key !== undefined) t['key_file'] = key;
      nats['tls'] = t;
    } else if (Object.values(tls).some((f) => nn(f) !== undefined)) {
      warnings.push('security.tls: ignored because security.mode is "none" (as in ServiceRadar)');
    }
  }
  out['nats'] = nats;

  // Template store
  const ts = nn(sr['template_store']) as Obj | undefined;
  if (ts !== undefined) {
    const t: Obj = {
      backend: 'nats_kv',
      kv_bucket: ts['kv_bucket'],
      kv_history: ts['kv_history'] ?? SR_DEFAULTS.kv_history,
      kv_ttl_s: ts['kv_ttl_secs'] ?? SR_DEFAULTS.kv_ttl_secs,
    };
    const url = nn(ts['nats_url']) as string | undefined;
    if (url !== undefined) t['servers'] = splitUrls(url);
    out['template_store'] = t;
  }

  // Settings of newer ServiceRadar releases without a counterpart.
  for (const key of ['rehome_state_path', 'ready_state_path'] as const) {
    if (nn(sr[key]) !== undefined) {
      warnings.push(`${key}: not used; it belongs to ServiceRadar's own stream migration and readiness probe (use the metrics server for readiness here)`);
    }
  }
  if (Array.isArray(sr['host_slices']) && sr['host_slices'].length > 0) {
    problems.add('host_slices', 'per-host flow slices are not supported by this collector; remove host_slices (and host_slice_allowlist)');
  } else if (Array.isArray(sr['host_slice_allowlist']) && sr['host_slice_allowlist'].length > 0) {
    warnings.push('host_slice_allowlist: not used (there are no host_slices)');
  }

  return { config: out, warnings, problems: problems.list };
}

/** "nats://a:4222,nats://b:4222" -> both (async-nats accepts a comma-separated list). */
function splitUrls(s: string): string[] {
  return s.split(',').map((u) => u.trim()).filter((u) => u !== '');
}
