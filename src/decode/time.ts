import type { FlowRecord } from './record.js';

/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
export const NTP_UNIX_OFFSET = 2208988800;

export function setStartMs(rec: FlowRecord, ms: number): void {
  const s = Math.floor(ms / 1000);
  rec.timeFlowStartSec = s;
  rec.timeFlowStartNsec = Math.round((ms - s * 1000) * 1e6);
}

export function setEndMs(rec: FlowRecord, ms: number): void {
  const s = Math.floor(ms / 1000);
  rec.timeFlowEndSec = s;
  rec.timeFlowEndNsec = Math.round((ms - s * 1000) * 1e6);
}

/** NTP-format timestamp (RFC 7011 dateTimeMicroseconds / dateTimeNanoseconds) to start time. */
export function setStartNtp(rec: FlowRecord, sec: number, frac: number, micro: boolean): void {
  rec.timeFlowStartSec = sec - NTP_UNIX_OFFSET;
  rec.timeFlowStartNsec = ntpNanos(frac, micro);
}

export function setEndNtp(rec: FlowRecord, sec: number, frac: number, micro: boolean): void {
  rec.timeFlowEndSec = sec - NTP_UNIX_OFFSET;
  rec.timeFlowEndNsec = ntpNanos(frac, micro);
}

export function ntpNanos(frac: number, micro: boolean): number {
  // dateTimeMicroseconds: the lower 11 bits of the fraction are ignored (RFC 7011 6.1.9).
  const f = micro ? frac - (frac % 2048) : frac;
  return Math.floor((f * 1e9) / 4294967296);
}

/** Start time `deltaUs` microseconds before the export time (flowStartDeltaMicroseconds). */
export function setStartDeltaUs(rec: FlowRecord, exportSec: number, deltaUs: number): void {
  setStartMs(rec, exportSec * 1000 - deltaUs / 1000);
}

export function setEndDeltaUs(rec: FlowRecord, exportSec: number, deltaUs: number): void {
  setEndMs(rec, exportSec * 1000 - deltaUs / 1000);
}
