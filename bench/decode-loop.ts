/**
 * The decode loop of bench/transcode.ts and bench/instructions.ts: the serve benchmark's replay
 * stream (bench/serve-streams.ts) decoded by one FlowDecoder with a frame sink, from 8 exporters
 * in turn, its frames appended to a flowpb batch writer (in the frame arena, as serve's is) that
 * is emptied every 64 KiB. `interfaceNames` is serve's `sampling.interface_names` (default false,
 * as serve's): true attaches the names the exporters send as options data to the flows.
 */
import { Exporter, FlowDecoder, claimFrameArena } from '../src/decode/mod.js';
import { DelimitedBatchWriter } from '../src/encode/mod.js';
import { defaultCacheDir, loadStream, type StreamName } from './serve-streams.js';

export interface DecodeLoop {
  /** Decodes every datagram of the stream once; pass k starts at exporter k mod 8. */
  pass(k: number): void;
  /** Decodes datagrams [start, start + count) of the stream (count clipped at its end), as pass k would. */
  range(start: number, count: number, k: number): void;
  /** Datagrams in the stream. */
  readonly datagrams: number;
  /** Frames written so far. */
  frames(): number;
  /** Bytes of those frames (length prefixes included). */
  bytes(): number;
  /** The decoder (its transcoded counts). */
  readonly decoder: FlowDecoder;
}

export async function decodeLoop(name: StreamName, cacheDir = defaultCacheDir(), interfaceNames = false): Promise<DecodeLoop> {
  const st = await loadStream(name, cacheDir);
  const enc = new DelimitedBatchWriter(128 * 1024);
  const w = enc.writer;
  // As serve's pipeline does: its frame writer writes in the worker's frame arena.
  claimFrameArena(w);
  let frames = 0;
  let bytes = 0;
  const sink = {
    writer: w,
    framesAdded(_type: number, n: number): void {
      frames += n;
      enc.added(n);
      if (w.pos > 65536) bytes += enc.finish().length;
    },
  };
  const decoder = new FlowDecoder({ sink: { onFlow: (r) => enc.append(r) }, frames: sink, sampling: { interface_names: interfaceNames } });
  const exporters = Array.from({ length: 8 }, (_, i) => new Exporter(`127.0.2.${i + 1}`, 9999));
  const n = st.meta.datagrams;
  const range = (start: number, count: number, k: number): void => {
    const end = Math.min(n, start + count);
    for (let i = start; i < end; i++) decoder.decode(st.data, st.offsets[i]!, st.lengths[i]!, exporters[(i + k) & 7]!, 1_700_000_000 + k, 5000);
  };
  return {
    decoder,
    datagrams: n,
    frames: () => frames,
    bytes: () => bytes + enc.byteLength,
    range,
    pass: (k: number): void => range(0, n, k),
  };
}
