// Batch UDP sender on the addon's sendmmsg: the load generator for benches
// and tests. One sender has one source address; bind several senders to
// 127.0.0.x to play many exporters from one host.

import { requireAddon, type NativeUdpSocket } from './native.js';

export interface Destination {
  host: string;
  port: number;
}

export interface SenderOptions {
  /** Literal source address to bind (default '127.0.0.1', or '::1' when the first destination is IPv6). */
  source?: string;
  /** Source port (default 0: ephemeral). */
  sourcePort?: number;
  /** Requested send buffer in bytes. */
  sndbuf?: number;
  /** Destinations; datagram i goes to destinations[destIndex?.[i] ?? 0]. */
  destinations: Destination[];
}

export class BatchSender {
  private readonly sock: NativeUdpSocket;
  /** Bound source address and port. */
  readonly address: string;
  readonly port: number;

  constructor(opts: SenderOptions) {
    const addon = requireAddon();
    if (opts.destinations.length === 0) throw new RangeError('at least one destination is required');
    const v6 = opts.destinations[0]!.host.includes(':');
    this.sock = new addon.UdpSocket({
      host: opts.source ?? (v6 ? '::1' : '127.0.0.1'),
      port: opts.sourcePort ?? 0,
      sndbuf: opts.sndbuf ?? 0,
      timestamps: false,
      rxqOvfl: false,
    });
    try {
      this.sock.setDestinations(opts.destinations);
      const a = this.sock.localAddress();
      this.address = a.address;
      this.port = a.port;
    } catch (err) {
      this.sock.close();
      throw err;
    }
  }

  /**
   * Send datagrams data[offsets[i] .. offsets[i]+lengths[i]) for i < count with
   * sendmmsg, without blocking. Returns how many were accepted by the kernel
   * (fewer than count when the send buffer is full: call again with the rest).
   */
  send(data: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, destIndex?: Uint16Array): number {
    return destIndex
      ? this.sock.sendBatch(data, offsets, lengths, count, destIndex)
      : this.sock.sendBatch(data, offsets, lengths, count);
  }

  /**
   * Like send, but every message i (lengths[i] bytes) is split by the kernel
   * into datagrams of segmentSize bytes (UDP GSO, UDP_SEGMENT; the last one
   * may be shorter; at most 64 segments per message on older kernels). The
   * receiver sees ordinary datagrams; the sender pays the stack once per
   * message, which is what lets one core offer several 100k datagrams/s.
   * Returns the number of messages accepted.
   */
  sendSegmented(
    data: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    count: number,
    segmentSize: number,
    destIndex?: Uint16Array,
  ): number {
    return this.sock.sendBatch(data, offsets, lengths, count, destIndex, segmentSize);
  }

  /** Send buffer size granted by the kernel. */
  sndbuf(): number {
    return this.sock.sndbuf();
  }

  close(): void {
    this.sock.close();
  }
}
