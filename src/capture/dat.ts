/**
 * Raw `.dat` payload files (one UDP payload as it came off the wire), and file loading that
 * tells captures from raw payloads by their magic.
 */

import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import {
  CaptureFormatError,
  detectCaptureFormat,
  emptySkipped,
  readCapture,
  type CaptureFormat,
  type CaptureReadResult,
  type UdpDatagram,
} from './reader.js';

export interface DatOptions {
  /** Addresses and ports to attribute the datagram to (a .dat file records none). */
  srcAddr?: string;
  dstAddr?: string;
  srcPort?: number;
  dstPort?: number;
  tsSec?: number;
}

/** The whole buffer as one datagram (a view, not a copy). */
export function datToDatagram(buf: Buffer, o: DatOptions = {}): UdpDatagram {
  return {
    payload: buf.subarray(0),
    srcAddr: o.srcAddr ?? '0.0.0.0',
    dstAddr: o.dstAddr ?? '0.0.0.0',
    srcPort: o.srcPort ?? 0,
    dstPort: o.dstPort ?? 0,
    tsSec: o.tsSec ?? 0,
    tsNsec: 0,
    index: 0,
  };
}

/** Reads a .dat file: exactly one datagram. */
export async function readDatFile(path: string, o: DatOptions = {}): Promise<UdpDatagram> {
  return datToDatagram(await readFile(path), o);
}

/**
 * Some collected "single payload" files are really several export datagrams back to back (the
 * NetFlow v5 fixture of the logstash codec holds 12). Splits `buf` when, and only when, it tiles
 * exactly into two or more self-delimiting export messages of one kind:
 * NetFlow v1 (16 + 48n bytes), v5 (24 + 48n), v7 (24 + 52n), with n = the header count (1..30 for
 * v5/v7, 1..24 for v1), or IPFIX (length field in the header). NetFlow v9 and sFlow carry no total
 * length, so they are never split. Anything else comes back as `[buf]`. Parts are views.
 */
export function splitConcatenatedExports(buf: Buffer): Buffer[] {
  if (buf.length < 4) return [buf];
  const version = buf.readUInt16BE(0);
  const sizeAt = (off: number): number => {
    if (off + 4 > buf.length || buf.readUInt16BE(off) !== version) return -1;
    const n = buf.readUInt16BE(off + 2);
    switch (version) {
      case 1:
        return n >= 1 && n <= 24 ? 16 + 48 * n : -1;
      case 5:
        return n >= 1 && n <= 30 ? 24 + 48 * n : -1;
      case 7:
        return n >= 1 && n <= 28 ? 24 + 52 * n : -1;
      case 10:
        return n >= 16 ? n : -1;
      default:
        return -1;
    }
  };
  const parts: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    const size = sizeAt(off);
    if (size < 0 || off + size > buf.length) return [buf];
    parts.push(buf.subarray(off, off + size));
    off += size;
  }
  return parts.length >= 2 ? parts : [buf];
}

export type LoadedKind = CaptureFormat | 'dat';

export interface LoadedFile extends Omit<CaptureReadResult, 'format'> {
  format: LoadedKind;
}

const CAPTURE_EXTENSIONS = new Set(['.pcap', '.pcapng', '.cap', '.ntar']);

/**
 * Loads any input of `decode`: pcap/pcapng by magic, whatever the name; otherwise a raw payload
 * (one datagram). A file named like a capture (.pcap, .pcapng, .cap) without a capture magic is
 * an error rather than a silent raw payload.
 */
export async function loadCaptureFile(path: string, o: DatOptions = {}): Promise<LoadedFile> {
  const buf = await readFile(path);
  return loadCaptureBuffer(buf, path, o);
}

/** As loadCaptureFile, for bytes already in memory; `name` is for messages and the extension rule. */
export function loadCaptureBuffer(buf: Buffer, name: string, o: DatOptions = {}): LoadedFile {
  const fmt = detectCaptureFormat(buf);
  if (fmt !== null) return readCapture(buf, { fileName: name });
  if (CAPTURE_EXTENSIONS.has(extname(name).toLowerCase())) {
    throw new CaptureFormatError('named as a capture but has no pcap or pcapng magic', 0, name);
  }
  return {
    format: 'dat',
    datagrams: [datToDatagram(buf, o)],
    frames: 1,
    skipped: emptySkipped(),
  };
}
