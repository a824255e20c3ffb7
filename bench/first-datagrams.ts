/**
 * The first datagrams of a serve bench stream as a worker meets them, shared by bench/startup
 * (which times them after a warm-up) and test/bench-startup.test.ts (which decodes the same
 * datagrams with a decoder that never saw a warm-up and compares the bytes).
 */
import type { Hash } from 'node:crypto';
import { ExporterTable, FlowDecoder } from '../src/decode/mod.js';
import { DelimitedBatchWriter } from '../src/encode/mod.js';
import type { Stream } from './serve-streams.js';

/** Datagrams per timed block, and blocks: 10,240 datagrams in all. */
export const BLOCK = 256;
export const BLOCKS = 40;

export interface FramesDecoder {
  dec: FlowDecoder;
  /** Ends the batch: its bytes go to the hash, if any, and the buffer is reused. */
  flush(): void;
  /** Flows written so far (both paths). */
  flows(): number;
}

/**
 * A decoder writing flowpb frames into a reused buffer, as a worker's with a file output (its
 * encoder starts at 128 KiB; the warm-up's at 1 KiB, as Pipeline.warmUp's), the bytes of each
 * batch into `hash` when given.
 */
export function framesDecoder(initialBytes = 128 * 1024, hash?: Hash): FramesDecoder {
  const enc = new DelimitedBatchWriter(initialBytes);
  let flows = 0;
  const frames = {
    writer: enc.writer,
    framesAdded(_type: number, n: number): void {
      flows += n;
      enc.added(n);
    },
  };
  const dec = new FlowDecoder({
    sink: {
      onFlow: (r) => {
        flows++;
        enc.append(r);
      },
    },
    frames,
  });
  const flush = hash === undefined ? () => void enc.finish() : () => void hash.update(enc.finish());
  return { dec, flush, flows: () => flows };
}

/**
 * Decodes the first BLOCK * BLOCKS datagrams of `st` (from the start again when it is shorter),
 * each pass through the stream from the next of 8 exporters, at receive second `sec` and
 * nanoseconds a few µs apart as the kernel stamps them; flushes
 * after every 64 datagrams as serve does after each receive, and calls `onBlock` after each
 * block. Returns the number of datagrams the decoder reported an error for.
 */
export function replayFirst(st: Stream, d: FramesDecoder, sec: number, onBlock: () => void = () => {}): number {
  const table = new ExporterTable();
  const exporters = Array.from({ length: 8 }, (_, i) => table.get(`127.0.2.${i + 1}`, 9999));
  const n = st.meta.datagrams;
  const dec = d.dec;
  let errors = 0;
  let i = 0;
  for (let b = 0; b < BLOCKS; b++) {
    for (let j = 0; j < BLOCK; j++, i++) {
      const k = i % n;
      if (dec.decode(st.data, st.offsets[k]!, st.lengths[k]!, exporters[Math.floor(i / n) & 7]!, sec, (i * 7_919) % 1_000_000_000) !== undefined) errors++;
      if ((i & 63) === 63) d.flush();
    }
    onBlock();
  }
  return errors;
}
