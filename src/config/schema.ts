/**
 * The configuration of `flow-collector serve`, as TypeBox schemas.
 *
 * TypeBox schemas are plain JSON Schema objects: the same object validates a file here, is
 * published as the Helm chart's values.schema.json (`configJsonSchema()`), and gives the static
 * types. Two schemas are kept:
 *
 *   - `FileConfigSchema`: what a file may say. Everything with a default is optional and carries
 *     its default as the `default` keyword (which the loader applies), unknown keys are refused.
 *   - `CollectorConfigSchema`: the resolved configuration handed to the service, every default
 *     filled in. `CollectorConfig` is written out below for readers and checked at compile time
 *     to be exactly `Static<typeof CollectorConfigSchema>`.
 *
 * Semantic rules a schema cannot say (literal IP addresses, CIDRs, free ports, writable
 * directories, NATS subject syntax, per-scope <= total) are checked in load.ts.
 */
import { Type, type Static, type TObject, type TOptional, type TProperties, type TSchema } from '@sinclair/typebox';
import { DEFAULT_LIMITS } from '../templates/mod.js';

// ---------------------------------------------------------------------------------------------
// Leaves

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Smallest queue allowed: below this a single batch of JSON flows would not fit. */
export const MIN_QUEUE_BYTES = 64 * KiB;
/** Ports of the default listeners. */
export const DEFAULT_PORTS = { netflow: 2055, ipfix: 4739, sflow: 6343 } as const;
export const DEFAULT_METRICS_ADDRESS = '127.0.0.1:9191';

const Port = (description: string) => Type.Integer({ minimum: 0, maximum: 65535, description });
const Int = (minimum: number, maximum: number | undefined, def: number | undefined, description: string) =>
  Type.Integer({ minimum, ...(maximum !== undefined ? { maximum } : {}), ...(def !== undefined ? { default: def } : {}), description });
const Str = (description: string, def?: string) => Type.String({ minLength: 1, description, ...(def !== undefined ? { default: def } : {}) });

const ProtocolSchema = Type.Union([Type.Literal('auto'), Type.Literal('netflow'), Type.Literal('ipfix'), Type.Literal('sflow')], {
  default: 'auto',
  description: "'auto' recognises NetFlow v1/v5/v7/v9, IPFIX and sFlow v5 in every datagram; 'netflow' (v1/v5/v7/v9), 'ipfix' or 'sflow' accept only that protocol and count others as wrong_protocol",
});
const SpreadSchema = Type.Union([Type.Literal('none'), Type.Literal('random'), Type.Literal('roundrobin'), Type.Literal('cpu')], {
  default: 'none',
  description: "how datagrams are spread over the sockets of a port: 'none' (kernel 4-tuple hash: one exporter, one socket), 'random', 'roundrobin' (needs CAP_BPF), 'cpu'",
});
const DropPolicySchema = Type.Union([Type.Literal('drop_oldest'), Type.Literal('drop_newest'), Type.Literal('block')], {
  default: 'drop_newest',
  description: "what a full output queue does: 'drop_newest' refuses new flows (cheapest: they are never encoded), 'drop_oldest' discards the oldest queued bytes, 'block' stops decoding until there is room (the socket buffer fills and the kernel drops instead)",
});
const FormatSchema = Type.Union([Type.Literal('json'), Type.Literal('flowpb')], {
  default: 'json',
  description: "'json': NDJSON, one flow per line; 'flowpb': length-delimited flowpb.FlowMessage stream",
});
const NatsFormatSchema = Type.Union([Type.Literal('flowpb'), Type.Literal('flowpb-batch'), Type.Literal('json')], {
  default: 'flowpb-batch',
  description: "'flowpb-batch': many length-delimited FlowMessages per message (cut at batch_size flows, max_batch_bytes or max_batch_delay_ms); 'flowpb': one flowpb.FlowMessage per NATS message (what ServiceRadar's EventWriter reads); 'json': one JSON flow per message",
});
const LogLevelSchema = Type.Union(
  [Type.Literal('trace'), Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error'), Type.Literal('fatal'), Type.Literal('silent')],
  { default: 'info', description: 'least severe log level written' },
);
const BackendSchema = Type.Union([Type.Literal('local'), Type.Literal('nats_kv')], {
  default: 'local',
  description: "'local': templates live in each worker; 'nats_kv': learned templates are shared through a NATS key-value bucket (for several collectors behind one load balancer)",
});

// ---------------------------------------------------------------------------------------------
// Sections shared by the file and the resolved schema

/** Template limits in snake_case: the same keys and bounds as resolveLimits() (src/templates/limits.ts). */
const limitsProps = {
  max_sources: Int(1, undefined, DEFAULT_LIMITS.maxSources, 'template scopes (exporter + observation domain) kept; least recently used are evicted'),
  max_templates: Int(1, undefined, DEFAULT_LIMITS.maxTemplates, 'data + options templates per scope'),
  max_template_fields: Int(1, 65535, DEFAULT_LIMITS.maxTemplateFields, 'fields per template'),
  max_record_length: Int(1, 65535, DEFAULT_LIMITS.maxRecordLength, 'largest record a template may describe, in bytes'),
  scope_includes_port: Type.Boolean({ default: DEFAULT_LIMITS.scopeIncludesPort, description: "include the exporter's UDP source port in the template scope" }),
  pending_max_bytes_per_scope: Int(1, undefined, DEFAULT_LIMITS.pendingMaxBytesPerScope, 'bytes of data kept per scope while its template is unknown; at most pending_max_bytes_total'),
  pending_max_bytes_total: Int(1, undefined, DEFAULT_LIMITS.pendingMaxBytesTotal, 'bytes of data kept in all scopes while templates are unknown'),
  pending_max_age_ms: Int(1, undefined, DEFAULT_LIMITS.pendingMaxAgeMs, 'how long data waits for its template, in milliseconds'),
  max_options_records: Int(1, undefined, DEFAULT_LIMITS.maxOptionsRecords, 'options records (sampler, interface tables) kept per scope'),
};
export const TemplateLimitsSchema = Type.Object(limitsProps, { additionalProperties: false, default: {}, description: 'template state limits (global; listeners may override some)' });
/** The same settings without their defaults: an override says only what it changes. */
const withoutDefault = <T extends TSchema>(s: T): T => {
  const { default: _unused, ...rest } = s as T & { default?: unknown };
  return rest as T;
};
const limitsOverrideProps = Object.fromEntries(Object.entries(limitsProps).map(([k, s]) => [k, withoutDefault(s)])) as typeof limitsProps;
export const TemplateLimitsOverrideSchema = Type.Partial(Type.Object(limitsOverrideProps, { additionalProperties: false }), {
  description: 'per-listener template limits, merged over the global templates section',
});

const SamplingRuleSchema = Type.Object(
  {
    exporter: Type.String({ minLength: 1, description: 'exporter address or CIDR: "192.0.2.1", "10.0.0.0/8", "2001:db8::/32"' }),
    rate: Type.Integer({ minimum: 1, description: 'sampling rate, 1 in N (1 = unsampled)' }),
  },
  { additionalProperties: false },
);
export const SamplingSchema = Type.Object(
  {
    defaults: Type.Array(SamplingRuleSchema, { default: [], description: 'rates for exporters whose export does not say (most specific CIDR wins)' }),
    overrides: Type.Array(SamplingRuleSchema, { default: [], description: 'rates that replace whatever the export says' }),
    renormalize: Type.Boolean({ default: false, description: 'multiply bytes and packets by the rate (raw values kept in raw_bytes/raw_packets)' }),
    interface_names: Type.Boolean({
      default: false,
      description: 'attach interface names and descriptions learned from options data to every flow (in_if_name, out_if_name, in_if_desc, out_if_desc: flowpb tags 1001-1004, which ServiceRadar and goflow2 consumers skip); about 38 bytes per flow for softflowd',
    }),
  },
  { additionalProperties: false, default: {}, description: 'sampling rates and options-data enrichment (see docs/sampling.md)' },
);

const TlsProps = {
  ca_file: Str('PEM file of the CA(s) that sign the NATS server certificate'),
  cert_file: Str('PEM client certificate (mutual TLS)'),
  key_file: Str('PEM private key of cert_file'),
};

const QueueSchema = Type.Object(
  {
    max_bytes: Int(MIN_QUEUE_BYTES, undefined, 64 * MiB, 'encoded bytes queued per worker per output before drop_policy applies; at least 65536'),
    drop_policy: DropPolicySchema,
  },
  { additionalProperties: false, default: {}, description: 'output queues' },
);
const MetricsSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'serve Prometheus metrics over HTTP' }),
    address: Str('ADDRESS:PORT of the metrics HTTP server ("[::]:9191" for IPv6); port 0 picks a free port', DEFAULT_METRICS_ADDRESS),
  },
  { additionalProperties: false, default: {}, description: 'Prometheus metrics (/metrics)' },
);
const HealthSchema = Type.Object(
  {
    address: Type.Optional(
      Str('ADDRESS:PORT where /healthz and /readyz are served whether or not metrics are enabled (the same address as metrics.address: one server for both); unset: health is served only with the metrics, on metrics.address'),
    ),
  },
  { additionalProperties: false, default: {}, description: 'liveness and readiness endpoints (/healthz, /readyz) for probes' },
);
const LoggingSchema = Type.Object(
  {
    level: LogLevelSchema,
    summary_interval_s: Int(0, 86400, 60, 'seconds between one-line summaries of counts; 0 = none'),
    warn_interval_s: Int(1, 86400, 60, 'at most one warning per reason per this many seconds'),
  },
  { additionalProperties: false, default: {}, description: 'logging (JSON lines on stderr)' },
);
const ShutdownSchema = Type.Object(
  { drain_timeout_ms: Int(0, 600_000, 5000, 'on SIGTERM/SIGINT, how long queued flows may take to be written before exit') },
  { additionalProperties: false, default: {}, description: 'shutdown' },
);
const TemplateStoreProps = {
  backend: BackendSchema,
  kv_bucket: Str('NATS key-value bucket name (letters, digits, "_" and "-")', 'flow_templates'),
  kv_history: Int(1, 64, 1, 'revisions kept per key (NATS allows 1..64)'),
  kv_ttl_s: Int(0, undefined, 0, 'seconds an unrefreshed template stays in the bucket; 0 = forever'),
  kv_replicas: Int(1, 5, 1, 'bucket replicas in a JetStream cluster'),
  kv_refresh_s: Int(0, undefined, 0, 'a template re-learned unchanged is written again only when the stored copy is older than this many seconds (keeps live templates from expiring); 0 = kv_ttl_s / 3, or never without a TTL'),
};
const ServersSchema = Type.Array(Str('NATS server URL: nats://host:4222, tls://host:4222 or host:4222'), {
  minItems: 1,
  description: 'NATS server URLs',
});

// ---------------------------------------------------------------------------------------------
// The file

type Opt<T extends TProperties, R extends keyof T> = { [K in keyof T]: K extends R ? T[K] : TOptional<T[K]> };

/** An object whose properties are all optional except `required`; unknown keys refused. */
function fileObject<T extends TProperties, R extends keyof T = never>(props: T, required: readonly R[] = [], options: Record<string, unknown> = {}): TObject<Opt<T, R>> {
  const out: Record<string, TSchema> = {};
  for (const [k, s] of Object.entries(props)) out[k] = (required as readonly string[]).includes(k) ? s : Type.Optional(s);
  return Type.Object(out, { additionalProperties: false, ...options }) as unknown as TObject<Opt<T, R>>;
}

/** A section of the resolved schema as the file may say it: every setting optional. */
function filePartial<T extends TProperties>(section: TObject<T>) {
  const { description, default: def } = section as { description?: string; default?: unknown };
  return Type.Partial(section, { additionalProperties: false, description, default: def });
}

const listenerProps = {
  name: Str('unique name used in logs and metrics; default "<protocol>-<port>"'),
  address: Str('literal IPv4 or IPv6 address to receive on ("0.0.0.0", "::" for IPv6 and IPv4)', '0.0.0.0'),
  port: Port('UDP port (0 = any free port, for tests)'),
  protocol: ProtocolSchema,
  sockets_per_worker: Int(1, 64, 1, 'SO_REUSEPORT sockets each worker opens on the port'),
  receive_buffer_bytes: Int(0, 2 ** 31 - 1, 32 * MiB, 'socket receive buffer requested per socket; 0 = kernel default'),
  batch_size: Int(1, 4096, 64, 'datagrams read per receive call'),
  max_read_delay_us: Int(
    0,
    100_000,
    100_000,
    'longest wait after a read that emptied the socket before reading it again, so each pass handles more datagrams and the core wakes less often; the wait itself adapts: it keeps the receive buffer at most an eighth full at the rate it fills (shorter at high rates and with small buffers) and grows by doubling from 2 ms; 0 = read at every readiness',
  ),
  spread: SpreadSchema,
  shared: Type.Boolean({ default: false, description: 'share the port with other collector processes on this host (SO_REUSEPORT, same user): skip the start-up check that the port is free' }),
  subject: Str("NATS subject for this listener's flows (instead of the nats output's subject)"),
  max_samples_per_datagram: Int(1, undefined, undefined, 'sFlow: most flow samples decoded from one datagram'),
  templates: TemplateLimitsOverrideSchema,
};
export const ListenerFileSchema = fileObject(listenerProps, ['port'], { description: 'a UDP port to receive flows on' });

const StdoutFileSchema = fileObject({ type: Type.Literal('stdout'), format: FormatSchema }, ['type'], { description: 'write flows to standard output' });
const FileOutputFileSchema = fileObject(
  { type: Type.Literal('file'), path: Str('file to append flows to; reopened on SIGHUP (for logrotate)'), format: FormatSchema },
  ['type', 'path'],
  { description: 'append flows to a file' },
);
const natsOutputProps = {
  type: Type.Literal('nats'),
  format: NatsFormatSchema,
  subject: Str('subject flows are published to, unless their listener sets one; the tokens {protocol} and {exporter} are replaced per flow', 'flows.raw'),
  batch_size: Int(1, 100_000, 10_000, "'flowpb-batch': most flows per message"),
  max_batch_bytes: Int(1024, 64 * MiB, 1 * MiB, "'flowpb-batch': most bytes per message (also kept under the server's max_payload)"),
  max_batch_delay_ms: Int(0, 60_000, 100, 'longest a flow waits in a batch before it is published (checked every 100 ms)'),
};
const NatsOutputFileSchema = fileObject(natsOutputProps, ['type'], { description: 'publish flows to NATS JetStream (needs the nats section)' });
export const OutputFileSchema = Type.Union([StdoutFileSchema, FileOutputFileSchema, NatsOutputFileSchema], { description: 'an output, chosen by its type' });

const streamProps = {
  name: Str('JetStream stream name', 'flows'),
  subjects: Type.Array(Str('subject (wildcards * and > allowed)'), { minItems: 1, default: ['flows.>'], description: 'subjects the stream captures' }),
  max_bytes: Int(1, undefined, 1 * GiB, 'stream size limit in bytes'),
  max_age_s: Int(1, undefined, undefined, 'oldest message kept, in seconds (unset: no age limit)'),
  replicas: Int(1, 5, 1, 'stream replicas in a JetStream cluster'),
  manage: Type.Boolean({ default: true, description: 'create or update the stream at start (false: it must exist)' }),
  duplicate_window_s: Int(1, 86_400, 120, 'how long the server remembers message ids to drop a retried message it already stored (created streams)'),
};
const natsProps = {
  servers: ServersSchema,
  creds_file: Str('NATS credentials file (JWT + NKey seed)'),
  nkey_seed_file: Str('file holding an NKey seed'),
  user: Str('user name (with password)'),
  password: Str('password (with user)'),
  token: Str('authentication token'),
  tls: fileObject(TlsProps, [], { description: 'TLS to the NATS servers (cert_file + key_file: mutual TLS)' }),
  stream: fileObject(streamProps, [], { default: {}, description: 'the JetStream stream flows are stored in' }),
  publish_timeout_ms: Int(1, 600_000, 5000, 'how long a publish waits for its acknowledgement'),
  ack_window: Int(1, 4096, 32, 'messages published and not yet acknowledged, per worker'),
  max_retries: Int(0, 1000, 10, 'publish attempts after the first, while connected, before a message is dropped (retry_exhausted)'),
  instance_id: Str('prefix of every Nats-Msg-Id (default: random per start); unique per collector'),
  partition: Str('ServiceRadar partition: label for overlapping address spaces'),
  subject_prefix: Str('prefix joined with "." before every subject published to, e.g. a tenant'),
};

export const FileConfigSchema = fileObject(
  {
    listeners: Type.Array(ListenerFileSchema, {
      minItems: 1,
      default: [
        { name: 'netflow', port: DEFAULT_PORTS.netflow },
        { name: 'ipfix', port: DEFAULT_PORTS.ipfix },
        { name: 'sflow', port: DEFAULT_PORTS.sflow },
      ],
      description: 'UDP ports to receive flows on',
    }),
    workers: Type.Union([Type.Integer({ minimum: 0, maximum: 1024 }), Type.Literal('auto')], {
      default: 'auto',
      description: 'decoding worker threads; 0 or "auto" = one per available CPU (cgroup CPU limit respected)',
    }),
    templates: filePartial(TemplateLimitsSchema),
    sampling: filePartial(SamplingSchema),
    outputs: Type.Array(OutputFileSchema, { minItems: 1, default: [{ type: 'stdout', format: 'json' }], description: 'where flows go; every flow goes to every output' }),
    queue: filePartial(QueueSchema),
    metrics: filePartial(MetricsSchema),
    health: filePartial(HealthSchema),
    logging: filePartial(LoggingSchema),
    shutdown: filePartial(ShutdownSchema),
    nats: fileObject(natsProps, ['servers'], { description: 'NATS connection and JetStream stream (needed by nats outputs and the nats_kv template store)' }),
    template_store: fileObject({ ...TemplateStoreProps, servers: ServersSchema }, [], {
      default: {},
      description: 'where NetFlow v9 / IPFIX templates are kept',
    }),
  },
  [],
  { $id: 'https://flow-collector/config.schema.json', title: 'flow-collector serve configuration' },
);
export type CollectorConfigFile = Static<typeof FileConfigSchema>;

// ---------------------------------------------------------------------------------------------
// The resolved configuration

const R = <T extends TProperties>(props: T) => Type.Object(props, { additionalProperties: false });

export const CollectorConfigSchema = R({
  listeners: Type.Array(
    R({
      name: listenerProps.name,
      address: listenerProps.address,
      port: listenerProps.port,
      protocol: listenerProps.protocol,
      sockets_per_worker: listenerProps.sockets_per_worker,
      receive_buffer_bytes: listenerProps.receive_buffer_bytes,
      batch_size: listenerProps.batch_size,
      max_read_delay_us: listenerProps.max_read_delay_us,
      spread: listenerProps.spread,
      shared: listenerProps.shared,
      subject: Type.Optional(listenerProps.subject),
      max_samples_per_datagram: Type.Optional(listenerProps.max_samples_per_datagram),
      templates: Type.Optional(TemplateLimitsOverrideSchema),
    }),
    { minItems: 1 },
  ),
  workers: Type.Integer({ minimum: 1 }),
  templates: TemplateLimitsSchema,
  sampling: R({ defaults: Type.Array(SamplingRuleSchema), overrides: Type.Array(SamplingRuleSchema), renormalize: Type.Boolean(), interface_names: Type.Boolean() }),
  outputs: Type.Array(
    Type.Union([
      R({ type: Type.Literal('stdout'), format: FormatSchema }),
      R({ type: Type.Literal('file'), path: Type.String({ minLength: 1 }), format: FormatSchema }),
      R(natsOutputProps),
    ]),
    { minItems: 1 },
  ),
  queue: QueueSchema,
  metrics: MetricsSchema,
  health: HealthSchema,
  logging: LoggingSchema,
  shutdown: ShutdownSchema,
  nats: Type.Optional(
    R({
      servers: ServersSchema,
      creds_file: Type.Optional(natsProps.creds_file),
      nkey_seed_file: Type.Optional(natsProps.nkey_seed_file),
      user: Type.Optional(natsProps.user),
      password: Type.Optional(natsProps.password),
      token: Type.Optional(natsProps.token),
      tls: Type.Optional(R({ ca_file: Type.Optional(TlsProps.ca_file), cert_file: Type.Optional(TlsProps.cert_file), key_file: Type.Optional(TlsProps.key_file) })),
      stream: R({
        name: streamProps.name,
        subjects: streamProps.subjects,
        max_bytes: streamProps.max_bytes,
        max_age_s: Type.Optional(streamProps.max_age_s),
        replicas: streamProps.replicas,
        manage: streamProps.manage,
        duplicate_window_s: streamProps.duplicate_window_s,
      }),
      publish_timeout_ms: natsProps.publish_timeout_ms,
      ack_window: natsProps.ack_window,
      max_retries: natsProps.max_retries,
      instance_id: Type.Optional(natsProps.instance_id),
      partition: Type.Optional(natsProps.partition),
      subject_prefix: Type.Optional(natsProps.subject_prefix),
    }),
  ),
  template_store: R({ ...TemplateStoreProps, servers: Type.Optional(ServersSchema) }),
});

// ---------------------------------------------------------------------------------------------
// The resolved types, written out (and checked against the schema below)

export type Protocol = 'auto' | 'netflow' | 'ipfix' | 'sflow';
export type SpreadMode = 'none' | 'random' | 'roundrobin' | 'cpu';
export type DropPolicy = 'drop_oldest' | 'drop_newest' | 'block';
export type Format = 'json' | 'flowpb';
export type NatsFormat = 'flowpb-batch' | 'flowpb' | 'json';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** Template limits with the snake_case keys of the file; `resolveLimits()` turns them into TemplateLimits. */
export interface TemplateLimitsConfig {
  max_sources: number;
  max_templates: number;
  max_template_fields: number;
  max_record_length: number;
  scope_includes_port: boolean;
  pending_max_bytes_per_scope: number;
  pending_max_bytes_total: number;
  pending_max_age_ms: number;
  max_options_records: number;
}

export interface ListenerConfig {
  /** Default `${protocol}-${port}` ("auto-2055"); unique. */
  name: string;
  /** Literal IPv4/IPv6 address; default "0.0.0.0". */
  address: string;
  /** 0..65535; 0 = ephemeral. */
  port: number;
  protocol: Protocol;
  /** 1..64, default 1. */
  sockets_per_worker: number;
  /** Default 32 MiB; 0 = kernel default. */
  receive_buffer_bytes: number;
  /** 1..4096, default 64. */
  batch_size: number;
  /** Adaptive pacing cap in microseconds (0..100000, default 100000; 0 = off). */
  max_read_delay_us: number;
  spread: SpreadMode;
  /** Other collector processes may bind the same port (SO_REUSEPORT); default false. */
  shared: boolean;
  /** NATS subject for this listener's flows (overrides the nats output's subject). */
  subject?: string;
  /** sFlow: most flow samples decoded per datagram. */
  max_samples_per_datagram?: number;
  /** Overrides merged over the global `templates` (see listenerLimits()). */
  templates?: Partial<TemplateLimitsConfig>;
}

export interface StdoutOutput {
  type: 'stdout';
  format: Format;
}
/** Reopened on SIGHUP. */
export interface FileOutput {
  type: 'file';
  path: string;
  format: Format;
}
export interface NatsOutput {
  type: 'nats';
  format: NatsFormat;
  /** Subject for flows whose listener has no `subject` (after nats.subject_prefix). Default "flows.raw". */
  subject: string;
  /** 'flowpb-batch': most flows per message. Default 100. */
  batch_size: number;
  /** 'flowpb-batch': most bytes per message (and under the server's max_payload). Default 256 KiB. */
  max_batch_bytes: number;
  /** Longest a flow waits in a batch. Default 100. */
  max_batch_delay_ms: number;
}
export type OutputConfig = StdoutOutput | FileOutput | NatsOutput;

export interface SamplingRuleConfig {
  exporter: string;
  rate: number;
}

export interface NatsConfig {
  servers: string[];
  creds_file?: string;
  nkey_seed_file?: string;
  user?: string;
  password?: string;
  token?: string;
  tls?: { ca_file?: string; cert_file?: string; key_file?: string };
  stream: { name: string; subjects: string[]; max_bytes: number; max_age_s?: number; replicas: number; manage: boolean; duplicate_window_s: number };
  publish_timeout_ms: number;
  /** Unacknowledged messages per worker. Default 32. */
  ack_window: number;
  /** Attempts after the first before a message is dropped. Default 10. */
  max_retries: number;
  instance_id?: string;
  partition?: string;
  subject_prefix?: string;
}

export interface TemplateStoreConfig {
  backend: 'local' | 'nats_kv';
  kv_bucket: string;
  kv_history: number;
  kv_ttl_s: number;
  kv_replicas: number;
  /** Seconds; 0 = kv_ttl_s / 3, or no refresh writes without a TTL. */
  kv_refresh_s: number;
  /** NATS servers of the bucket; default: nats.servers. */
  servers?: string[];
}

export interface CollectorConfig {
  listeners: ListenerConfig[];
  /** Resolved, >= 1. */
  workers: number;
  templates: TemplateLimitsConfig;
  sampling: { defaults: SamplingRuleConfig[]; overrides: SamplingRuleConfig[]; renormalize: boolean; interface_names: boolean };
  outputs: OutputConfig[];
  queue: { max_bytes: number; drop_policy: DropPolicy };
  metrics: { enabled: boolean; address: string };
  /** Where /healthz and /readyz are served besides the metrics server (also when metrics are off). */
  health: { address?: string };
  logging: { level: LogLevel; summary_interval_s: number; warn_interval_s: number };
  shutdown: { drain_timeout_ms: number };
  nats?: NatsConfig;
  template_store: TemplateStoreConfig;
}

// Compile-time proof that the written-out type and the schema's static type are the same.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Simplify<T> = T extends object ? { [K in keyof T]: Simplify<T[K]> } : T;
const schemaMatchesType: Equal<Simplify<Static<typeof CollectorConfigSchema>>, Simplify<CollectorConfig>> = true;
void schemaMatchesType;
