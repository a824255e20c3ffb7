/**
 * Vendor overlay of the information-element registry (hand-written data, not generated).
 *
 * Scope: the enterprise-specific IPFIX elements and the non-IANA NetFlow v9 field types that occur
 * in the conformance corpus, where a name and a type could be established from vendor documentation,
 * Wireshark's cflow dissector field tables (tshark 4.0 `-G fields` / `-G values`) or the
 * logstash-codec-netflow element table (which the corpus comes from). Every entry was checked
 * against the field lengths the corpus templates declare, and where the values were readable,
 * against the decoded values. Elements whose meaning could not be established are deliberately left
 * out: the registry then names them `<pen>.<id>` (or `<type>` in v9) and they travel as raw bytes.
 *
 * Consumed by ./mod.ts only; everything outside the registry goes through mod.ts.
 */
import { DataType, type DataTypeCode } from '../record.js';

/** [pen, id, name, type] of one enterprise IPFIX element. */
export type VendorElementRow = readonly [pen: number, id: number, name: string, type: DataTypeCode];
/** [id, name, type, reversible] of one CERT (PEN 6871) element (see CERT_REVERSE_BIT). */
export type CertElementRow = readonly [
  id: number,
  name: string,
  type: DataTypeCode,
  reversible: boolean,
];
/** [v9 field type, name, type] of one vendor NetFlow v9 field type. */
export type V9FieldRow = readonly [type: number, name: string, dataType: DataTypeCode];

const {
  octetArray,
  unsigned8,
  unsigned16,
  unsigned32,
  unsigned64,
  float32,
  string,
  dateTimeSeconds,
  ipv4Address,
  ipv6Address,
} = DataType;

/**
 * RFC 5103 reverse information elements. Element (29305, n) is the reverse-direction counterpart
 * of IANA element n: same abstract data type, semantics and units, named "reverse" + the IANA name
 * with its first letter capitalised (RFC 5103 section 6.1). mod.ts derives these on demand from the
 * IANA table, so they are not listed here.
 */
export const PEN_REVERSE = 29305;

/** CERT Coordination Center (YAF, libfixbuf, SiLK). */
export const PEN_CERT = 6871;
/**
 * CERT's reverse convention: the reverse of a reversible CERT element n is CERT element n | 0x4000,
 * named "reverse" + capitalised name (libfixbuf's CERT information model; YAF documents e.g.
 * reverseInitialTCPFlags = (6871, 16398) for initialTCPFlags = (6871, 14)).
 */
export const CERT_REVERSE_BIT = 0x4000;

/**
 * CERT / YAF elements. Source: YAF documentation (yaf.html, "Data Stored and Enrichments" element
 * table) and libfixbuf / YAF CERT information model (cert_ie.h, infomodel): ids, names, sizes and
 * types. In the corpus: ipfix_test_yaf_tpl45841.dat and ipfix_test_yaf_tpls_option_tpl.dat
 * (flow templates, --flow-stats template 49173/49157, --fpexport template 49175/49159, MPTCP
 * template 49161, process statistics options template 53248 = 0xD000).
 */
export const CERT_ELEMENTS: readonly CertElementRow[] = [
  [14, 'initialTCPFlags', unsigned8, true],
  [15, 'unionTCPFlags', unsigned8, true],
  [18, 'payload', octetArray, true],
  [21, 'reverseFlowDeltaMilliseconds', unsigned32, false],
  [33, 'silkAppLabel', unsigned16, false],
  [38, 'firstPacketBanner', octetArray, true],
  [39, 'secondPacketBanner', octetArray, true],
  [40, 'flowAttributes', unsigned16, true],
  // YAF process statistics (options template 0xD000)
  [100, 'expiredFragmentCount', unsigned32, false],
  [101, 'assembledFragmentCount', unsigned32, false],
  [102, 'meanFlowRate', unsigned32, false],
  [103, 'meanPacketRate', unsigned32, false],
  [104, 'flowTableFlushEventCount', unsigned32, false],
  [105, 'flowTablePeakCount', unsigned32, false],
  // MPTCP
  [289, 'mptcpInitialDataSequenceNumber', unsigned64, false],
  [290, 'mptcpReceiverToken', unsigned32, false],
  [291, 'mptcpMaximumSegmentSize', unsigned16, false],
  [292, 'mptcpAddressID', unsigned8, false],
  [293, 'mptcpFlags', unsigned8, false],
  // --flow-stats
  [500, 'smallPacketCount', unsigned32, true],
  [501, 'nonEmptyPacketCount', unsigned32, true],
  [502, 'dataByteCount', unsigned64, true],
  [503, 'averageInterarrivalTime', unsigned64, true],
  [504, 'standardDeviationInterarrivalTime', unsigned64, true],
  [505, 'firstNonEmptyPacketSize', unsigned16, true],
  [506, 'maxPacketSize', unsigned16, true],
  [507, 'firstEightNonEmptyPacketDirections', unsigned8, true],
  [508, 'standardDeviationPayloadLength', unsigned16, true],
  [510, 'largePacketCount', unsigned32, true],
];

/** Enterprise IPFIX elements other than RFC 5103 reverse and CERT ones. */
export const VENDOR_ELEMENTS: readonly VendorElementRow[] = [
  // --- Nokia / Alcatel-Lucent (PEN 637): 7750 SR / BNG NAT logging over IPFIX ------------------
  // Names: Nokia NAT IPFIX template (nat-inside-svcid, nat-outside-svcid, nat-sub-string) as
  // spelled by logstash-codec-netflow. Corpus: ipfix_test_nokia_bras_tpl.dat (lengths 2, 2, varlen;
  // data shows inside service 100 and subscriber "USER1@10.10.0.123").
  [637, 91, 'natInsideSvcid', unsigned16],
  [637, 92, 'natOutsideSvcid', unsigned16],
  [637, 93, 'natSubString', string],

  // --- Ixia / Keysight (PEN 3054): IxFlow ---------------------------------------------------------
  // Element meanings and types: Wireshark cflow dissector (cflow.pie.ixia.*; latitude/longitude are
  // FT_FLOAT = float32). Names: Ixia IxFlow field names as exported by logstash-codec-netflow.
  // Corpus: ipfix_test_ixia_tpldata256.dat / ipfix_test_ixia_tpldata271.dat.
  [3054, 110, 'ixiaL7AppId', unsigned32],
  [3054, 111, 'ixiaL7AppName', string],
  [3054, 126, 'ixiaSrcLatitude', float32],
  [3054, 127, 'ixiaSrcLongitude', float32],
  [3054, 146, 'ixiaDstLatitude', float32],
  [3054, 147, 'ixiaDstLongitude', float32],
  [3054, 160, 'ixiaDeviceId', unsigned8],
  [3054, 161, 'ixiaDeviceName', string],
  [3054, 162, 'ixiaBrowserId', unsigned8],
  [3054, 163, 'ixiaBrowserName', string],
  [3054, 176, 'ixiaRevOctetDeltaCount', unsigned64],
  [3054, 177, 'ixiaRevPacketDeltaCount', unsigned64],
  [3054, 182, 'ixiaHttpUserAgent', string],
  [3054, 183, 'ixiaHttpHostName', string],
  [3054, 184, 'ixiaHttpUri', string],
  [3054, 186, 'ixiaSrcAsName', string],
  [3054, 187, 'ixiaDstAsName', string],
  [3054, 188, 'ixiaLatency', unsigned32], // transaction latency, microseconds
  [3054, 192, 'ixiaThreatType', string],
  [3054, 193, 'ixiaThreatIPv4', ipv4Address],

  // --- Citrix NetScaler / ADC (PEN 5951): AppFlow ---------------------------------------------------
  // Meanings and types: Wireshark cflow dissector (cflow.pie.netscaler.*). Names: Citrix AppFlow
  // element names as spelled by logstash-codec-netflow. The FB/LB (first/last byte) times are
  // 8-byte values Wireshark decodes as FT_UINT64; kept as unsigned64.
  // Corpus: ipfix_test_netscaler_tpl.dat (templates 256..262).
  [5951, 128, 'netscalerRoundTripTime', unsigned32],
  [5951, 129, 'netscalerTransactionId', unsigned32],
  [5951, 130, 'netscalerHttpReqUrl', string],
  [5951, 131, 'netscalerHttpReqCookie', string],
  [5951, 132, 'netscalerFlowFlags', unsigned64],
  [5951, 133, 'netscalerConnectionId', unsigned32],
  [5951, 140, 'netscalerHttpReqReferer', string],
  [5951, 141, 'netscalerHttpReqMethod', string],
  [5951, 142, 'netscalerHttpReqHost', string],
  [5951, 143, 'netscalerHttpReqUserAgent', string],
  [5951, 144, 'netscalerHttpRspStatus', unsigned16],
  [5951, 145, 'netscalerHttpRspLen', unsigned64],
  [5951, 146, 'netscalerServerTTFB', unsigned64],
  [5951, 147, 'netscalerServerTTLB', unsigned64],
  [5951, 151, 'netscalerAppNameAppId', unsigned32],
  [5951, 153, 'netscalerHttpReqRcvFB', unsigned64],
  [5951, 156, 'netscalerHttpReqForwFB', unsigned64],
  [5951, 157, 'netscalerHttpResRcvFB', unsigned64],
  [5951, 158, 'netscalerHttpResForwFB', unsigned64],
  [5951, 159, 'netscalerHttpReqRcvLB', unsigned64],
  [5951, 160, 'netscalerHttpReqForwLB', unsigned64],
  [5951, 161, 'netscalerMainPageId', unsigned32],
  [5951, 162, 'netscalerMainPageCoreId', unsigned32],
  [5951, 169, 'netscalerHttpResRcvLB', unsigned64],
  [5951, 170, 'netscalerHttpResForwLB', unsigned64],
  [5951, 171, 'netscalerAppUnitNameAppId', unsigned32],
  [5951, 182, 'netscalerClientRTT', unsigned32],
  [5951, 183, 'netscalerHttpContentType', string],
  [5951, 185, 'netscalerHttpReqAuthorization', string],
  [5951, 186, 'netscalerHttpReqVia', string],
  [5951, 187, 'netscalerHttpResLocation', string],
  [5951, 188, 'netscalerHttpResSetCookie', string],
  [5951, 189, 'netscalerHttpResSetCookie2', string],
  [5951, 190, 'netscalerHttpReqXForwardedFor', string],
  [5951, 192, 'netscalerConnectionChainID', octetArray], // 16-byte identifier
  [5951, 193, 'netscalerConnectionChainHopCount', unsigned8],
  [5951, 205, 'netscalerAaaUsername', string],
  [5951, 267, 'netscalerHttpDomainName', string],
  [5951, 268, 'netscalerCacheRedirClientConnectionCoreID', unsigned32],
  [5951, 269, 'netscalerCacheRedirClientConnectionTransactionID', unsigned32],
  // Not named (unknown to Wireshark and to logstash): 5951.329, .330, .331, .332, .347.

  // --- VMware (PEN 6876): vSphere Distributed Switch / NSX IPFIX -------------------------------------
  // Source: VMware NSX-T Data Center 3.2 Administration Guide, "IPFIX templates" (logical switch
  // element list: tenantProtocol .. ingressInterfaceAttr). Corpus: ipfix_test_vmware_vds_tpl.dat
  // (lengths 1, 4, 4, 16, 16, 2, 2, 2, 1, 2 match).
  [6876, 880, 'tenantProtocol', unsigned8],
  [6876, 881, 'tenantSourceIPv4', ipv4Address],
  [6876, 882, 'tenantDestIPv4', ipv4Address],
  [6876, 883, 'tenantSourceIPv6', ipv6Address],
  [6876, 884, 'tenantDestIPv6', ipv6Address],
  [6876, 886, 'tenantSourcePort', unsigned16],
  [6876, 887, 'tenantDestPort', unsigned16],
  [6876, 888, 'egressInterfaceAttr', unsigned16],
  [6876, 889, 'vxlanExportRole', unsigned8],
  [6876, 890, 'ingressInterfaceAttr', unsigned16],

  // --- Barracuda NG / CloudGen Firewall (PEN 10704): extended uniflow template -----------------------
  // Meanings and types: Wireshark cflow dissector (cflow.pie.barracuda.*; Timestamp is
  // FT_ABSOLUTE_TIME in 4 bytes = seconds). Barracuda's own names (Timestamp, LogOp, TrafficType,
  // FW_Rule, ServiceName, Reason, ReasonText, BindIPv4Address, BindTransportPort, ConnIPv4Address,
  // ConnTransportPort, AuditCounter) are generic, so they carry a "barracuda" prefix here.
  // Corpus: ipfix_test_barracuda_extended_uniflow_tpl256.dat.
  [10704, 1, 'barracudaTimestamp', dateTimeSeconds],
  [10704, 2, 'barracudaLogOp', unsigned8],
  [10704, 3, 'barracudaTrafficType', unsigned8],
  [10704, 4, 'barracudaFwRule', string],
  [10704, 5, 'barracudaServiceName', string],
  [10704, 6, 'barracudaReason', unsigned32],
  [10704, 7, 'barracudaReasonText', string],
  [10704, 8, 'barracudaBindIPv4Address', ipv4Address],
  [10704, 9, 'barracudaBindTransportPort', unsigned16],
  [10704, 10, 'barracudaConnIPv4Address', ipv4Address],
  [10704, 11, 'barracudaConnTransportPort', unsigned16],
  [10704, 12, 'barracudaAuditCounter', unsigned32],

  // --- Procera Networks / Sandvine (PEN 15397): PacketLogic IPFIX --------------------------------------
  // Source: Procera PacketLogic product guide 15.1 element list as reproduced by
  // logstash-codec-netflow; checked against ipfix_test_procera_data52935.dat (service names,
  // flow-behaviour flag lists and template name "IPFIX" decode as text, octet counters as 8 bytes).
  [15397, 1, 'proceraService', string],
  [15397, 2, 'proceraBaseService', string],
  [15397, 3, 'proceraIncomingOctets', unsigned64],
  [15397, 4, 'proceraOutgoingOctets', unsigned64],
  [15397, 15, 'proceraFlowBehavior', string],
  [15397, 16, 'proceraContentCategories', string],
  [15397, 21, 'proceraHttpContentType', string],
  [15397, 22, 'proceraHttpUrl', string],
  [15397, 25, 'proceraHttpFileLength', unsigned32],
  [15397, 26, 'proceraHttpLocation', string],
  [15397, 28, 'proceraSubscriberIdentifier', string],
  [15397, 47, 'proceraTemplateName', string],

  // --- Viptela / Cisco SD-WAN (PEN 41916) -------------------------------------------------------------
  // Source: logstash-codec-netflow element table (viptelaVPNId); corpus
  // ipfix_test_viptela_tpl257.dat declares 8 bytes, the data carries VPN 100.
  [41916, 4321, 'viptelaVPNId', unsigned64],
];

/**
 * NetFlow v9 field types that are not IANA elements. v9 types 1..127 (and most above) share the
 * IANA numbering; these vendor ranges do not.
 */
export const V9_VENDOR_FIELDS: readonly V9FieldRow[] = [
  // Cisco ASA NSEL (Cisco ASA NetFlow Implementation Guide, "NetFlow Security Event Logging";
  // Wireshark cflow v9 types 33000..33002, 40000..40005). Corpus: netflow9_test_cisco_asa_1_tpl.dat.
  // ACL ids are three 4-byte words (ACL name hash, ACE hash, extended ACE config id): raw 12 bytes.
  [33000, 'ingressAclId', octetArray], // NF_F_INGRESS_ACL_ID
  [33001, 'egressAclId', octetArray], // NF_F_EGRESS_ACL_ID
  [33002, 'fwExtEvent', unsigned16], // NF_F_FW_EXT_EVENT
  [40000, 'aaaUsername', string], // NF_F_USERNAME (20 or 65 bytes, NUL padded)
  [40001, 'xlateSourceIPv4Address', ipv4Address], // NF_F_XLATE_SRC_ADDR_IPV4
  [40002, 'xlateDestinationIPv4Address', ipv4Address], // NF_F_XLATE_DST_ADDR_IPV4
  [40003, 'xlateSourcePort', unsigned16], // NF_F_XLATE_SRC_PORT
  [40004, 'xlateDestinationPort', unsigned16], // NF_F_XLATE_DST_PORT
  [40005, 'fwEvent', unsigned8], // NF_F_FW_EVENT (legacy ASA firewall event; cf. IANA firewallEvent 233)

  // Palo Alto Networks PAN-OS (PAN-OS Administrator's Guide, "NetFlow Templates": App-ID 56701,
  // 32 bytes; User-ID 56702, 64 bytes). Corpus: netflow9_test_paloalto_*; data carries app names
  // such as "ssl", "kerberos", "incomplete".
  [56701, 'panosAppId', string],
  [56702, 'panosUserId', string],

  // ntop nProbe v9 extension types (NTOP_BASE_ID 57472 + n; Wireshark cflow: L7_PROTO 57590
  // FT_UINT16, L7_PROTO_NAME 57591 FT_STRING). Corpus: netflow9_test_nprobe_dpi.dat.
  [57590, 'nprobeL7Proto', unsigned16],
  [57591, 'nprobeL7ProtoName', string],
  // Not named: Streamcore 8192..8196, 8256..8259, 8320..8328, 8384..8393; Cisco WLC 20000;
  // FortiOS 65 (a v9 "vendor proprietary" slot); type 0 (H3C, zero-length padding fields).
];
