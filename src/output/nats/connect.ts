/**
 * Connection options from the `nats` section: servers, one way to authenticate (creds file
 * re-read on every reconnect, nkey seed file, user/password, token), TLS with a CA and a client
 * certificate. Reconnection is left to the client (forever, with jitter); the first connection
 * is retried by `connectForever` with backoff, so the collector starts while NATS is down.
 */
import { readFileSync } from 'node:fs';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import {
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import type { NatsConfig } from '../../config/mod.js';

export function connectionOptions(cfg: NatsConfig, name: string): NodeConnectionOptions {
  const opts: NodeConnectionOptions = {
    servers: cfg.servers,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    reconnectJitter: 500,
    reconnectJitterTLS: 1000,
    // Our own loop retries the first connection (connectForever).
    waitOnFirstConnect: false,
    // A stack trace per publish costs ~20 us of CPU (shared notes, section 3).
    noAsyncTraces: true,
    timeout: 5000,
    pingInterval: 20_000,
    maxPingOut: 3,
  };
  if (cfg.creds_file !== undefined) {
    const path = cfg.creds_file;
    // A function: read again on every (re)connect, so a rotated file is picked up.
    opts.authenticator = credsAuthenticator(() => readFileSync(path));
  } else if (cfg.nkey_seed_file !== undefined) {
    const path = cfg.nkey_seed_file;
    opts.authenticator = nkeyAuthenticator(() => new TextEncoder().encode(readFileSync(path, 'utf8').trim()));
  } else if (cfg.user !== undefined) {
    opts.authenticator = usernamePasswordAuthenticator(cfg.user, cfg.password ?? '');
  } else if (cfg.token !== undefined) {
    opts.authenticator = tokenAuthenticator(cfg.token);
  }
  const t = cfg.tls;
  if (t !== undefined && (t.ca_file !== undefined || t.cert_file !== undefined)) {
    const tls: NonNullable<NodeConnectionOptions['tls']> = {};
    if (t.ca_file !== undefined) tls.caFile = t.ca_file;
    if (t.cert_file !== undefined) tls.certFile = t.cert_file;
    if (t.key_file !== undefined) tls.keyFile = t.key_file;
    // nats.js gives Node no server name for a server given by IP address, so Node checks the
    // certificate against "localhost". Check it against the configured hosts instead: the
    // certificate must name one of them (the names of servers learned from the cluster too).
    const hosts = serverHosts(cfg.servers);
    (tls as Record<string, unknown>)['checkServerIdentity'] = (host: string, cert: PeerCertificate): Error | undefined => {
      const names = host !== '' && host !== 'localhost' ? [host, ...hosts] : hosts;
      let first: Error | undefined;
      for (const h of names) {
        const err = checkServerIdentity(h, cert);
        if (err === undefined) return undefined;
        first ??= err;
      }
      return first ?? checkServerIdentity(host, cert);
    };
    opts.tls = tls;
  }
  return opts;
}

/** Host names and addresses of the configured servers ("nats://a:4222" -> "a"). */
function serverHosts(servers: string[]): string[] {
  const out = new Set<string>();
  for (const s of servers) {
    try {
      const u = new URL(s.includes('://') ? s : `nats://${s}`);
      out.add(u.hostname.replace(/^\[|\]$/g, ''));
    } catch {
      // refused by the configuration check already
    }
  }
  return [...out];
}

/** Delay before attempt `n` (0-based): 250 ms doubling to 5 s, with +-25 % jitter. */
export function backoffMs(n: number, baseMs = 250, maxMs = 5000): number {
  const d = Math.min(maxMs, baseMs * 2 ** Math.min(n, 16));
  return Math.round(d * (0.75 + Math.random() * 0.5));
}

export interface ConnectLoop {
  /** Resolves with a connection, or undefined once `stop()` was called. */
  readonly connection: Promise<NatsConnection | undefined>;
  stop(): void;
}

/**
 * Connects, retrying with backoff until it works or `stop()` is called. `onError` sees each
 * failed attempt (the caller rate-limits its logging).
 */
export function connectForever(opts: NodeConnectionOptions, onError: (err: Error, attempt: number) => void): ConnectLoop {
  let stopped = false;
  let wake: (() => void) | undefined;
  const connection = (async () => {
    for (let n = 0; !stopped; n++) {
      try {
        const nc = await connect(opts);
        if (stopped) {
          await nc.close().catch(() => {});
          return undefined;
        }
        return nc;
      } catch (err) {
        if (stopped) return undefined;
        onError(err as Error, n);
        await new Promise<void>((r) => {
          const t = setTimeout(r, backoffMs(n));
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      }
    }
    return undefined;
  })();
  return {
    connection,
    stop() {
      stopped = true;
      wake?.();
    },
  };
}
