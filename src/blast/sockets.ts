/**
 * One UDP socket per exporter, bound to the exporter's own source address: the addon's
 * sendmmsg sender (src/ingest/sender.ts) when it loads, else Node's dgram (slower: one send
 * per datagram, completions counted asynchronously, at most MAX_IN_FLIGHT outstanding).
 */
import { createSocket, type Socket } from 'node:dgram';
import { BatchSender, choosePath, type IngestPath } from '../ingest/mod.js';

export interface ExporterSocket {
  /** Sends datagrams [offsets[i], +lengths[i]) for i < count; returns how many were taken (0: full, retry). */
  send(data: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
  /** The first asynchronous send error (dgram), if any. */
  error(): Error | undefined;
  /** Resolves once every accepted datagram has left (dgram), then closes. */
  close(): Promise<void>;
  readonly address: string;
  readonly port: number;
}

export interface OpenResult {
  sockets: ExporterSocket[];
  path: IngestPath;
  reason: string;
}

const MAX_IN_FLIGHT = 4096;

class AddonSocket implements ExporterSocket {
  readonly address: string;
  readonly port: number;
  constructor(private readonly s: BatchSender) {
    this.address = s.address;
    this.port = s.port;
  }
  send(data: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number {
    return this.s.send(data, offsets, lengths, count);
  }
  error(): Error | undefined {
    return undefined;
  }
  async close(): Promise<void> {
    this.s.close();
  }
}

class DgramSocket implements ExporterSocket {
  address = '';
  port = 0;
  private inFlight = 0;
  private failure: Error | undefined;
  private idle: (() => void) | undefined;
  private readonly done = (err: Error | null): void => {
    this.inFlight--;
    if (err && this.failure === undefined) this.failure = err;
    if (this.inFlight === 0 && this.idle !== undefined) this.idle();
  };
  constructor(private readonly sock: Socket, private readonly host: string, private readonly targetPort: number) {}
  send(data: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number {
    if (this.failure !== undefined) throw this.failure;
    let n = 0;
    while (n < count && this.inFlight < MAX_IN_FLIGHT) {
      // A copy: the caller rewrites sequence numbers in place before the send completes.
      const d = Buffer.from(data.subarray(offsets[n]!, offsets[n]! + lengths[n]!));
      this.inFlight++;
      this.sock.send(d, this.targetPort, this.host, this.done);
      n++;
    }
    return n;
  }
  error(): Error | undefined {
    return this.failure;
  }
  async close(): Promise<void> {
    if (this.inFlight > 0) await new Promise<void>((r) => (this.idle = r));
    await new Promise<void>((r) => this.sock.close(() => r()));
  }
}

async function openDgram(source: string, host: string, port: number): Promise<DgramSocket> {
  const sock = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', sendBufferSize: 4 << 20 });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, source, () => {
      sock.removeListener('error', reject);
      resolve();
    });
  });
  const s = new DgramSocket(sock, host, port);
  const a = sock.address();
  s.address = a.address;
  s.port = a.port;
  return s;
}

/** Opens one socket per source address (in order); on failure closes what was opened and throws. */
export async function openExporterSockets(sources: readonly string[], host: string, port: number, sndbuf = 4 << 20): Promise<OpenResult> {
  const choice = choosePath();
  const out: ExporterSocket[] = [];
  try {
    for (const source of sources) {
      if (choice.path === 'addon') {
        out.push(new AddonSocket(new BatchSender({ source, sndbuf, destinations: [{ host, port }] })));
      } else {
        out.push(await openDgram(source, host, port));
      }
    }
  } catch (err) {
    await Promise.all(out.map((s) => s.close()));
    const e = err as NodeJS.ErrnoException;
    const src = sources[out.length];
    throw new Error(`cannot bind an exporter socket to ${src}: ${e.message}${e.code === 'EADDRNOTAVAIL' ? ` (${src} is not an address of this host: add it, or choose the exporters' addresses with --source)` : ''}`);
  }
  return { sockets: out, path: choice.path, reason: choice.reason };
}
