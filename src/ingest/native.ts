// Loading of the native ingest addon (build/Release or prebuilds/ via
// node-gyp-build) and the decision between the addon and the dgram path.

import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Options of the native UdpSocket constructor. */
export interface NativeSocketOptions {
  host: string;
  port: number;
  reusePort?: boolean;
  v6only?: boolean;
  rcvbuf?: number;
  sndbuf?: number;
  timestamps?: boolean;
  rxqOvfl?: boolean;
}

/** Arrays the addon writes into (see Batch). */
export interface NativeArrays {
  data: Uint8Array;
  lengths: Uint32Array;
  addrs: Uint8Array;
  families: Uint8Array;
  ports: Uint16Array;
  tsSec: Uint32Array;
  tsNsec: Uint32Array;
  truncated: Uint8Array;
}

export interface NativeUdpSocket {
  localAddress(): { address: string; port: number; family: 'IPv4' | 'IPv6' };
  rcvbuf(): number;
  sndbuf(): number;
  kernelDrops(): number;
  /** The wait chosen after the last wake-up, µs (0: polled again at once; -1: none yet). */
  readDelayUs(): number;
  spread(mode: 'none' | 'random' | 'cpu' | 'roundrobin', groupSize: number): void;
  /**
   * `callback` gets count > 0 for a batch, 0 when the socket is empty after batches with no
   * timed read pending (the idle signal, once per pause in the traffic), -errno on a receive error.
   */
  start(
    arrays: NativeArrays,
    batchSize: number,
    slotSize: number,
    callback: (count: number, drops: number, bytes: number, truncated: number) => void,
    pacingUs: number,
    adaptive?: boolean,
  ): void;
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
  fd(): number;
  setDestinations(dests: ReadonlyArray<{ host: string; port: number }>): void;
  sendBatch(
    data: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    count: number,
    destIndex?: Uint16Array,
    gsoSize?: number,
  ): number;
}

export interface NativeAddon {
  UdpSocket: new (opts: NativeSocketOptions) => NativeUdpSocket;
  abiVersion: number;
  /** glibc's malloc_trim(0): true when memory was released, undefined without glibc (src/service/memory.ts). Absent from builds before it. */
  mallocTrim?: () => boolean | undefined;
}

export type IngestPath = 'addon' | 'dgram';

export interface PathChoice {
  path: IngestPath;
  reason: string;
}

/** Environment variable that forces a path: 'dgram' or 'addon'. */
export const INGEST_ENV = 'FLOW_COLLECTOR_INGEST';

interface LoadResult {
  addon: NativeAddon | null;
  file: string | null;
  error: string | null;
}

let cached: LoadResult | null = null;

/** The package root: nearest ancestor directory holding binding.gyp. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'binding.gyp')) && existsSync(join(dir, 'package.json'))) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
        if (pkg.name === 'flow-collector') return dir;
      } catch {
        // keep walking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('flow-collector package root not found');
    dir = up;
  }
}

/** Load the addon once; never throws (the failure is kept as a reason). */
export function loadAddon(): LoadResult {
  if (cached) return cached;
  try {
    if (process.platform !== 'linux') throw new Error(`platform ${process.platform} is not supported by the addon`);
    const root = packageRoot();
    const require = createRequire(import.meta.url);
    const ngb = require('node-gyp-build') as { resolve(dir: string): string };
    const file = ngb.resolve(root);
    const addon = require(file) as NativeAddon;
    if (typeof addon.UdpSocket !== 'function') throw new Error(`${file} does not export UdpSocket`);
    cached = { addon, file, error: null };
  } catch (err) {
    cached = { addon: null, file: null, error: err instanceof Error ? err.message.split('\n')[0]! : String(err) };
  }
  return cached;
}

/** Decide the ingest path without opening anything. */
export function choosePath(forceDgram = false): PathChoice {
  const env = process.env[INGEST_ENV];
  if (env === 'dgram') return { path: 'dgram', reason: `${INGEST_ENV}=dgram` };
  if (forceDgram) return { path: 'dgram', reason: 'forceDgram option' };
  const r = loadAddon();
  if (r.addon) return { path: 'addon', reason: `native addon ${r.file}` };
  if (env === 'addon') {
    throw new Error(`${INGEST_ENV}=addon but the native addon cannot be loaded: ${r.error}`);
  }
  return { path: 'dgram', reason: `native addon unavailable (${r.error})` };
}

/** The addon, or an Error explaining why it is unavailable. */
export function requireAddon(): NativeAddon {
  const r = loadAddon();
  if (!r.addon) throw new Error(`native ingest addon unavailable: ${r.error}`);
  return r.addon;
}
