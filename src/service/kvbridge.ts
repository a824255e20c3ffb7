/**
 * The main thread's side of `template_store.backend: nats_kv`: one KV store per process (one
 * connection, one watch, one cache), joined to the workers' in-process template channel as the
 * member "main".
 *
 *   workers -> channel -> main: learned / withdrawn / options rows (and rate-limited refreshes)
 *                                go to the bucket; requests for a missing template are answered
 *                                from the store's cache, else looked up in the bucket (async)
 *   bucket  -> main -> channel: what other instances wrote, and answers to look-ups, broadcast
 *                                to the workers, which apply them and replay waiting data
 *
 * Nothing on a worker's decode path waits for NATS.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { LocalTemplateStore } from '../templates/mod.js';
import { NatsKvTemplateStore, type KvLog } from '../templates/kv/mod.js';
import { connectionOptions } from '../output/mod.js';
import { kvRefreshMs, listenerLimits, type CollectorConfig, type NatsConfig } from '../config/mod.js';

export class KvBridge {
  readonly store: NatsKvTemplateStore;
  private readonly member: LocalTemplateStore;

  constructor(cfg: CollectorConfig, channel: string, log: KvLog) {
    const ts = cfg.template_store;
    const servers = ts.servers ?? cfg.nats?.servers ?? [];
    // The same authentication and TLS as the NATS outputs (the nats section), to the store's servers.
    const nats = { ...(cfg.nats ?? {}), servers } as NatsConfig;
    const origin = `${cfg.nats?.instance_id ?? hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.store = new NatsKvTemplateStore({
      connection: connectionOptions(nats, `flow-collector-kv ${origin}`),
      bucket: ts.kv_bucket,
      history: ts.kv_history,
      ttlS: ts.kv_ttl_s,
      replicas: ts.kv_replicas,
      refreshS: kvRefreshMs(ts) / 1000,
      listeners: cfg.listeners.map((l) => ({ name: l.name, limits: listenerLimits(cfg, l) })),
      origin,
      log,
    });
    const kv = this.store;
    const member = new LocalTemplateStore(channel, 'main');
    this.member = member;
    member.subscribe(
      (c) => {
        if (c.kind === 'template') {
          if (c.reply !== true) kv.learned(c.scope, c.def, c.learnedAt);
        } else if (c.kind === 'withdraw') kv.withdrawn(c.scope, c.id);
        else kv.options(c.scope, c.row);
      },
      (scope, id) => {
        const def = kv.lookup(scope, id);
        if (def === undefined) kv.missing(scope, id);
        return def;
      },
    );
    member.hearRefreshes((c) => {
      if (c.kind === 'template') kv.refreshed(c.scope, c.def, c.at);
      else kv.options(c.scope, c.row);
    });
    kv.subscribe((c) => {
      if (c.kind === 'template') member.learned(c.scope, c.def, c.learnedAt);
      else if (c.kind === 'withdraw') member.withdrawn(c.scope, c.id);
      else member.options(c.scope, c.row);
    }, () => undefined);
  }

  /** Starts the store once the workers listen on the channel (the preload goes to them). */
  start(): void {
    this.store.start();
  }

  async close(): Promise<void> {
    await this.member.close();
    await this.store.close();
  }
}
