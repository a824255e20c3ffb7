/**
 * Capture files: the only public surface of src/capture.
 *
 * Reading: pcap / pcapng (readCapture), raw .dat payloads (readDatFile), either by magic
 * (loadCaptureFile). Writing: classic pcap (writePcap) and frame builders for traffic generation.
 */

export {
  CaptureFormatError,
  SKIP_REASONS,
  detectCaptureFormat,
  emptySkipped,
  extractUdp,
  readCapture,
  LINKTYPE_NULL,
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  LINKTYPE_RAW_12,
  LINKTYPE_RAW_14,
  LINKTYPE_LOOP,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
} from './reader.js';
export type { CaptureFormat, CaptureReadResult, ReadCaptureOptions, SkipReason, UdpDatagram } from './reader.js';

export {
  datToDatagram,
  readDatFile,
  splitConcatenatedExports,
  loadCaptureFile,
  loadCaptureBuffer,
} from './dat.js';
export type { DatOptions, LoadedFile, LoadedKind } from './dat.js';

export {
  writePcap,
  udpFrame,
  tcpFrame,
  icmpFrame,
  wrapPayloadsAsPcap,
  internetChecksum,
  tcpFlagMask,
  TCP_FIN,
  TCP_SYN,
  TCP_RST,
  TCP_PSH,
  TCP_ACK,
  TCP_URG,
  TCP_ECE,
  TCP_CWR,
} from './writer.js';
export type {
  PcapFrame,
  WritePcapOptions,
  FrameOptions,
  UdpFrameOptions,
  TcpFrameOptions,
  IcmpFrameOptions,
  Ipv6ExtensionHeader,
  WrapOptions,
} from './writer.js';

export { formatIPv4, formatIPv6, parseAddress } from './addr.js';
