/** NetFlow v5 (Cisco's fixed format): a 24-byte header and 48-byte records. */
import type { Flow } from './flow.js';
import type { ByteWriter } from './writer.js';

export const V5_HEADER_LEN = 24;
export const V5_RECORD_LEN = 48;

export interface V5Header {
  count: number;
  uptimeMs: number;
  exportSec: number;
  exportNsec: number;
  seq: number;
  engineType: number;
  engineId: number;
  /** Sampling mode in the top two bits, the interval in the other 14. */
  sampling: number;
}

export function v5Header(w: ByteWriter, h: V5Header): void {
  w.u16(5).u16(h.count).u32(h.uptimeMs).u32(h.exportSec).u32(h.exportNsec).u32(h.seq);
  w.u8(h.engineType).u8(h.engineId).u16(h.sampling);
}

/** One record; times are `uptimeMs`-relative, counters keep their low 32 bits, AS numbers 16. */
export function v5Record(w: ByteWriter, f: Flow, uptimeMs: number): void {
  w.bytes(f.src).bytes(f.dst).bytes(f.nextHop).u16(f.inIf).u16(f.outIf).u32(f.packets).u32(f.bytes);
  w.u32(uptimeMs - f.startAgoMs).u32(uptimeMs - f.endAgoMs).u16(f.srcPort).u16(f.dstPort);
  w.u8(0).u8(f.tcpFlags).u8(f.proto).u8(f.tos).u16(f.srcAs).u16(f.dstAs).u8(f.srcMask).u8(f.dstMask).u16(0);
}
