/**
 * Ensures the JetStream stream flows are stored in: created when missing; when it exists, the
 * subjects the collector publishes to are added if no stream subject covers them, and every
 * other setting is left as the operator made it (differences are reported, not changed).
 */
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream';
import { subjectMatches, type NatsConfig } from '../../config/mod.js';

/** Why a NATS call failed, in the terms of the failures metric. */
export type NatsFailure = 'timeout' | 'no_responders' | 'permission' | 'connection' | 'too_large' | 'api_error' | 'other';

export interface DescribedError {
  reason: NatsFailure;
  /** Whether a retry may succeed. */
  retry: boolean;
  /** The refused subject of a permissions violation. */
  subject?: string;
  message: string;
}

const PERM = /Permissions Violation for (Publish|Subscription) to "?([^"\s]+)"?/i;

/** Classifies an error from the NATS client (walks `cause`). */
export function describeNatsError(err: unknown): DescribedError {
  const chain: Error[] = [];
  for (let e: unknown = err; e instanceof Error && chain.length < 5; e = (e as Error & { cause?: unknown }).cause) chain.push(e);
  const text = chain.map((e) => e.message).join(': ') || String(err);
  for (const e of chain) {
    const pv = e as Error & { operation?: string; subject?: string };
    if (e.name === 'PermissionViolationError' && typeof pv.subject === 'string') {
      return { reason: 'permission', retry: false, subject: pv.subject, message: text };
    }
    const m = PERM.exec(e.message);
    if (m !== null) return { reason: 'permission', retry: false, subject: m[2]!, message: text };
  }
  for (const e of chain) {
    const name = e.name;
    if (name === 'TimeoutError' || /timeout/i.test(e.message)) return { reason: 'timeout', retry: true, message: text };
    if (name === 'NoRespondersError' || name === 'JetStreamNotEnabled' || (e as { isNoResponders?: () => boolean }).isNoResponders?.() === true || /no responders|jetstream is not enabled/i.test(e.message)) {
      return { reason: 'no_responders', retry: true, message: text };
    }
    if (/max.?payload|message size exceeds|maximum payload/i.test(e.message)) return { reason: 'too_large', retry: false, message: text };
    if (name === 'ClosedConnectionError' || name === 'DrainingConnectionError' || name === 'ConnectionError' || /connection (closed|draining)|disconnect/i.test(e.message)) {
      return { reason: 'connection', retry: true, message: text };
    }
    if (name === 'JetStreamApiError' || name === 'StreamNotFoundError') {
      const code = (e as { code?: number }).code;
      // 10077 (stream full, discard new) and 10047-ish storage limits clear over time.
      return { reason: 'api_error', retry: code !== 10054 && code !== 10095, message: text };
    }
  }
  return { reason: 'other', retry: true, message: text };
}

/** The JetStream API subjects the collector uses on `stream`, for messages and docs. */
export function streamApiSubjects(stream: string): string[] {
  return [`$JS.API.STREAM.INFO.${stream}`, `$JS.API.STREAM.CREATE.${stream}`, `$JS.API.STREAM.UPDATE.${stream}`];
}

/** An error whose message says what was refused and which permission is missing. */
export class NatsPermissionError extends Error {
  constructor(
    readonly subject: string,
    message: string,
  ) {
    super(message);
    this.name = 'NatsPermissionError';
  }
}

export interface EnsureLog {
  (level: 'info' | 'warn', key: string, msg: string, fields?: Record<string, unknown>): void;
}

export type EnsureResult = 'created' | 'updated' | 'exists' | 'unmanaged';

/**
 * Creates or completes the stream. `publishSubjects` are the (filter form of the) subjects the
 * collector publishes to: placeholders become `*`. Throws NatsPermissionError when the account
 * may not use the stream API, and the client's error otherwise (the caller retries).
 */
export async function ensureStream(nc: NatsConnection, cfg: NatsConfig, publishSubjects: string[], log: EnsureLog): Promise<EnsureResult> {
  const s = cfg.stream;
  if (!s.manage) return 'unmanaged';
  const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: Math.max(2000, cfg.publish_timeout_ms) });
  const wanted = [...s.subjects];
  for (const p of publishSubjects) if (!wanted.some((f) => subjectMatches(f, p))) wanted.push(p);
  const refused = (err: unknown, api: string): never => {
    const d = describeNatsError(err);
    if (d.reason !== 'permission') throw err;
    throw new NatsPermissionError(
      d.subject ?? api,
      `NATS refused ${d.subject ?? api}: the collector needs publish permission on ${streamApiSubjects(s.name).join(', ')} ` +
        `(and subscribe on _INBOX.>) to manage stream "${s.name}"; grant them or set nats.stream.manage: false and create the stream yourself`,
    );
  };
  let info: StreamInfo | undefined;
  try {
    info = await jsm.streams.info(s.name);
  } catch (err) {
    const e = err as Error & { code?: number };
    if (!(e.name === 'StreamNotFoundError' || e.code === 10059 || /stream not found/i.test(e.message))) refused(err, `$JS.API.STREAM.INFO.${s.name}`);
  }
  const dupNs = nanos(Math.min(s.duplicate_window_s, s.max_age_s ?? Infinity) * 1000);
  if (info === undefined) {
    const conf: Partial<StreamConfig> & { name: string } = {
      name: s.name,
      subjects: wanted,
      storage: 'file' as StreamConfig['storage'],
      max_bytes: s.max_bytes,
      num_replicas: s.replicas,
      duplicate_window: dupNs,
    };
    if (s.max_age_s !== undefined) conf.max_age = nanos(s.max_age_s * 1000);
    try {
      await jsm.streams.add(conf);
      log('info', 'stream.created', `created JetStream stream ${s.name}`, { stream: s.name, subjects: wanted, max_bytes: s.max_bytes, replicas: s.replicas });
      return 'created';
    } catch (err) {
      const e = err as Error & { code?: number };
      // Another worker or collector created it meanwhile: fall through to the update path.
      if (!(e.code === 10058 || /already in use/i.test(e.message))) refused(err, `$JS.API.STREAM.CREATE.${s.name}`);
      info = await jsm.streams.info(s.name).catch((e2) => refused(e2, `$JS.API.STREAM.INFO.${s.name}`));
    }
  }
  const c = info.config;
  const diffs: Record<string, { stream: unknown; config: unknown }> = {};
  if (c.max_bytes !== s.max_bytes) diffs['max_bytes'] = { stream: c.max_bytes, config: s.max_bytes };
  if (c.num_replicas !== s.replicas) diffs['replicas'] = { stream: c.num_replicas, config: s.replicas };
  const age = s.max_age_s === undefined ? 0 : nanos(s.max_age_s * 1000);
  if ((c.max_age ?? 0) !== age) diffs['max_age_s'] = { stream: (c.max_age ?? 0) / 1e9, config: s.max_age_s ?? 0 };
  if (c.storage !== 'file') diffs['storage'] = { stream: c.storage, config: 'file' };
  if (c.duplicate_window !== dupNs) diffs['duplicate_window_s'] = { stream: (c.duplicate_window ?? 0) / 1e9, config: dupNs / 1e9 };
  if (Object.keys(diffs).length > 0) {
    log('info', 'stream.differs', `stream ${s.name} exists with other settings than the configuration; left as they are`, { stream: s.name, differences: diffs });
  }
  const have = c.subjects ?? [];
  const missing = wanted.filter((w) => !have.some((f) => subjectMatches(f, w)));
  if (missing.length === 0) return 'exists';
  try {
    await jsm.streams.update(s.name, { subjects: [...have, ...missing] });
  } catch (err) {
    refused(err, `$JS.API.STREAM.UPDATE.${s.name}`);
  }
  log('info', 'stream.updated', `added subjects to stream ${s.name}`, { stream: s.name, added: missing });
  return 'updated';
}
