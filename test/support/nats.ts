/**
 * Real nats-server processes for tests: started on ephemeral 127.0.0.1 ports with their own
 * JetStream store directory, killed (SIGKILL) and restarted on the same port and store, and
 * helpers to read a stream back. Never the shared server on 4222.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkServerIdentity as tlsCheck, type PeerCertificate } from 'node:tls';
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { jetstreamManager, type StoredMsg } from '@nats-io/jetstream';

export const NATS_SERVER = process.env['NATS_SERVER'] ?? '/usr/sbin/nats-server';
export const haveNatsServer = existsSync(NATS_SERVER);

export interface NatsServer {
  readonly dir: string;
  readonly port: number;
  readonly url: string;
  proc: ChildProcess;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** Starts again on the same port, config and store. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  log(): string;
}

export interface NatsServerOptions {
  /** Config file text (without `listen`, `port` and `jetstream`: added here). */
  conf?: string;
  /** JetStream's `max_file_store` in bytes (default 4 GiB). */
  maxFileStore?: number;
}

async function waitPortsFile(dir: string, pid: number, proc: ChildProcess, logFile: string): Promise<number> {
  const file = join(dir, `nats-server_${pid}.ports`);
  const end = Date.now() + 10_000;
  while (Date.now() < end) {
    if (proc.exitCode !== null) throw new Error(`nats-server exited (${proc.exitCode}): ${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}`);
    if (existsSync(file)) {
      try {
        const j = JSON.parse(readFileSync(file, 'utf8')) as { nats: string[] };
        const u = new URL(j.nats[0]!.replace(/^tls:/, 'nats:'));
        return Number(u.port);
      } catch {
        // written but not complete yet
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`nats-server did not report its ports: ${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}`);
}

/** Waits until the server accepts connections and JetStream answers. */
async function waitReady(url: string, opts: Partial<NodeConnectionOptions>): Promise<void> {
  const end = Date.now() + 10_000;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const nc = await connect({ servers: url, timeout: 1000, ...opts });
      await nc.close();
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`nats-server at ${url} not ready: ${String(last)}`);
}

/**
 * Starts nats-server with JetStream in `dir` (its store in dir/js). `clientOpts` are what a
 * client needs to connect (TLS, credentials) for the readiness check.
 */
export async function startNatsServer(dir: string, opts: NatsServerOptions = {}, clientOpts: Partial<NodeConnectionOptions> = {}): Promise<NatsServer> {
  mkdirSync(dir, { recursive: true });
  const confFile = join(dir, 'server.conf');
  const logFile = join(dir, 'server.log');
  let port = -1;
  const write = () =>
    writeFileSync(confFile, [`listen: 127.0.0.1:${port}`, `jetstream { store_dir: "${join(dir, 'js')}", max_file_store: ${opts.maxFileStore ?? '4G'}, max_memory_store: 16M }`, opts.conf ?? ''].join('\n'));
  const run = async (): Promise<ChildProcess> => {
    write();
    for (const f of readdirSync(dir)) if (f.endsWith('.ports')) spawnSync('rm', ['-f', join(dir, f)]);
    const proc = spawn(NATS_SERVER, ['-c', confFile, '--ports_file_dir', dir, '-l', logFile], { stdio: 'ignore' });
    const p = await waitPortsFile(dir, proc.pid!, proc, logFile);
    port = p;
    return proc;
  };
  let proc = await run();
  const scheme = opts.conf?.includes('tls {') ? 'tls' : 'nats';
  const url = () => `${scheme}://127.0.0.1:${port}`;
  await waitReady(url(), clientOpts);
  const exited = (p: ChildProcess) => (p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => p.once('exit', () => r())));
  const s: NatsServer = {
    dir,
    get port() {
      return port;
    },
    get url() {
      return url();
    },
    get proc() {
      return proc;
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited(proc);
    },
    async restart() {
      proc = await run();
      await waitReady(url(), clientOpts);
    },
    async stop() {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited(proc);
      clearTimeout(t);
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
  };
  return s;
}

/** Every message of a stream, in order (direct reads by sequence). */
export async function readStream(nc: NatsConnection, stream: string): Promise<StoredMsg[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const out: StoredMsg[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    try {
      const m = await jsm.streams.getMessage(stream, { seq });
      if (m !== null) out.push(m);
    } catch (err) {
      if (!/no message found/i.test((err as Error).message)) throw err;
    }
  }
  return out;
}

/** Connects a test client (never to 4222). */
export function client(url: string, opts: Partial<NodeConnectionOptions> = {}): Promise<NatsConnection> {
  if (url.endsWith(':4222')) throw new Error('tests never use the shared server on 4222');
  return connect({ servers: url, timeout: 2000, ...opts });
}

/** Free TCP ports on 127.0.0.1 (bound, then released: for fixed cluster route ports). */
export async function freePorts(n: number): Promise<number[]> {
  const { createServer } = await import('node:net');
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<import('node:net').Server>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(() => r(undefined)))));
  return ports;
}

/** A JetStream cluster of `size` nodes named n0.. (routes on fixed free ports). */
export async function startNatsCluster(dir: string, size = 3): Promise<NatsServer[]> {
  const routes = await freePorts(size);
  const routeList = routes.map((p) => `nats-route://127.0.0.1:${p}`).join(', ');
  return Promise.all(
    routes.map((p, i) =>
      startNatsServer(join(dir, `n${i}`), { conf: [`server_name: n${i}`, `cluster { name: c1, listen: 127.0.0.1:${p}, routes: [${routeList}] }`].join('\n') }),
    ),
  );
}

/** A user of the operator-mode account: its .creds file text and public key. */
export interface OperatorUser {
  creds: string;
  pub: string;
}

export interface OperatorMaterial {
  /**
   * Server config lines: the operator, its system account and a MEMORY resolver with both
   * accounts preloaded; users in `revoked` are refused (the account JWT's revocation list).
   */
  conf(revoked?: readonly string[], extra?: readonly string[]): Promise<string>;
  /** A new user of the account (JWT signed by the account key) with these permissions. */
  user(name: string, permissions?: { pub: string[]; sub: string[] }): Promise<OperatorUser>;
}

/** Operator-mode material made with @nats-io/jwt and @nats-io/nkeys: an operator, a system account and one account. */
export async function operatorMaterial(): Promise<OperatorMaterial> {
  const { encodeAccount, encodeOperator, encodeUser, fmtCreds } = await import('@nats-io/jwt');
  const { createAccount, createOperator, createUser } = await import('@nats-io/nkeys');
  const op = createOperator();
  const sys = createAccount();
  const acct = createAccount();
  const opJwt = await encodeOperator('test-op', op, { system_account: sys.getPublicKey() });
  const sysJwt = await encodeAccount('SYS', sys, {}, { signer: op });
  const limits = { disk_storage: -1, mem_storage: -1, streams: -1, consumer: -1, conn: -1, subs: -1, data: -1, payload: -1, imports: -1, exports: -1, leaf: -1, wildcards: true };
  return {
    async conf(revoked = [], extra = []) {
      // A user JWT issued at or before its revocation time is refused.
      const revocations = Object.fromEntries(revoked.map((pub) => [pub, Math.floor(Date.now() / 1000) + 3600]));
      const acctJwt = await encodeAccount('FLOWS', acct, { limits: limits as never, ...(revoked.length > 0 ? { revocations } : {}) }, { signer: op });
      return [`operator: ${opJwt}`, `system_account: ${sys.getPublicKey()}`, 'resolver: MEMORY', `resolver_preload: { ${sys.getPublicKey()}: ${sysJwt}, ${acct.getPublicKey()}: ${acctJwt} }`, ...extra].join('\n');
    },
    async user(name, permissions = { pub: ['flows.>', '$JS.API.>'], sub: ['_INBOX.>'] }) {
      const u = createUser();
      const jwt = await encodeUser(name, u, acct, { pub: { allow: permissions.pub }, sub: { allow: permissions.sub } } as never);
      return { creds: new TextDecoder().decode(fmtCreds(jwt, u)), pub: u.getPublicKey() };
    },
  };
}

export interface Pki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A CA made by openssl, a server certificate for 127.0.0.1 and a client certificate with CN=flow-collector. */
export function makePki(dir: string): Pki {
  mkdirSync(dir, { recursive: true });
  const f = (n: string) => join(dir, n);
  const ssl = (...args: string[]) => {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=test-ca', '-keyout', f('ca-key.pem'), '-out', f('ca.pem'));
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [['server', 'nats-test'], ['client', 'flow-collector']] as const) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', f(`${name}-key.pem`), '-out', f(`${name}.csr`));
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca-key.pem'), '-CAcreateserial', '-days', '2', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`));
  }
  return { ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server-key.pem'), clientCert: f('client.pem'), clientKey: f('client-key.pem') };
}

/** nats-server config: mTLS, the client certificate's subject is the user, allowed to publish to `publish` and to subscribe to _INBOX.>. */
export function mtlsServerConf(pki: Pki, publish: readonly string[]): string {
  return [
    `tls { cert_file: "${pki.serverCert}", key_file: "${pki.serverKey}", ca_file: "${pki.ca}", verify_and_map: true, timeout: 2 }`,
    'authorization { users = [ { user: "CN=flow-collector", permissions: {',
    `  publish: { allow: [${publish.map((x) => JSON.stringify(x)).join(', ')}] }`,
    '  subscribe: { allow: ["_INBOX.>"] } } } ] }',
  ].join('\n');
}

/**
 * TLS options for a test's own client connections: `withCert` adds the client certificate. nats.js
 * hands Node no server name for an IP address (Node would check "localhost"), so the server's
 * certificate is checked against 127.0.0.1 here.
 */
export function mtlsClientOpts(pki: Pki, withCert = true): Partial<NodeConnectionOptions> {
  const checkServerIdentity = (_host: string, cert: PeerCertificate) => tlsCheck('127.0.0.1', cert);
  return { tls: { caFile: pki.ca, ...(withCert ? { certFile: pki.clientCert, keyFile: pki.clientKey } : {}), checkServerIdentity } as any };
}
