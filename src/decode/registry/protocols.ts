/**
 * IANA "Assigned Internet Protocol Numbers" -> keyword, for FlowRecord.protocolName.
 *
 * Keywords are the registry's "Keyword" column (e.g. 58 "IPv6-ICMP", 89 "OSPFIGP"). Numbers the
 * registry assigns without a keyword (61, 63, 68, 99, 114: "any host internal protocol" and the
 * like), 253/254 (experimentation), 255 (reserved) and unassigned numbers map to "". 84 is listed
 * twice by IANA (TTP and IPTM); "TTP" is used. Numbers assigned after 145 are not included.
 */

// Index = protocol number. Built once at module load; protocolName() only indexes it.
const NAMES: readonly string[] = [
  'HOPOPT', // 0
  'ICMP',
  'IGMP',
  'GGP',
  'IPv4',
  'ST',
  'TCP',
  'CBT',
  'EGP',
  'IGP',
  'BBN-RCC-MON', // 10
  'NVP-II',
  'PUP',
  'ARGUS',
  'EMCON',
  'XNET',
  'CHAOS',
  'UDP',
  'MUX',
  'DCN-MEAS',
  'HMP', // 20
  'PRM',
  'XNS-IDP',
  'TRUNK-1',
  'TRUNK-2',
  'LEAF-1',
  'LEAF-2',
  'RDP',
  'IRTP',
  'ISO-TP4',
  'NETBLT', // 30
  'MFE-NSP',
  'MERIT-INP',
  'DCCP',
  '3PC',
  'IDPR',
  'XTP',
  'DDP',
  'IDPR-CMTP',
  'TP++',
  'IL', // 40
  'IPv6',
  'SDRP',
  'IPv6-Route',
  'IPv6-Frag',
  'IDRP',
  'RSVP',
  'GRE',
  'DSR',
  'BNA',
  'ESP', // 50
  'AH',
  'I-NLSP',
  'SWIPE',
  'NARP',
  'Min-IPv4',
  'TLSP',
  'SKIP',
  'IPv6-ICMP',
  'IPv6-NoNxt',
  'IPv6-Opts', // 60
  '', // any host internal protocol
  'CFTP',
  '', // any local network
  'SAT-EXPAK',
  'KRYPTOLAN',
  'RVD',
  'IPPC',
  '', // any distributed file system
  'SAT-MON',
  'VISA', // 70
  'IPCV',
  'CPNX',
  'CPHB',
  'WSN',
  'PVP',
  'BR-SAT-MON',
  'SUN-ND',
  'WB-MON',
  'WB-EXPAK',
  'ISO-IP', // 80
  'VMTP',
  'SECURE-VMTP',
  'VINES',
  'TTP',
  'NSFNET-IGP',
  'DGP',
  'TCF',
  'EIGRP',
  'OSPFIGP',
  'Sprite-RPC', // 90
  'LARP',
  'MTP',
  'AX.25',
  'IPIP',
  'MICP',
  'SCC-SP',
  'ETHERIP',
  'ENCAP',
  '', // any private encryption scheme
  'GMTP', // 100
  'IFMP',
  'PNNI',
  'PIM',
  'ARIS',
  'SCPS',
  'QNX',
  'A/N',
  'IPComp',
  'SNP',
  'Compaq-Peer', // 110
  'IPX-in-IP',
  'VRRP',
  'PGM',
  '', // any 0-hop protocol
  'L2TP',
  'DDX',
  'IATP',
  'STP',
  'SRP',
  'UTI', // 120
  'SMP',
  'SM',
  'PTP',
  'ISIS over IPv4',
  'FIRE',
  'CRTP',
  'CRUDP',
  'SSCOPMCE',
  'IPLT',
  'SPS', // 130
  'PIPE',
  'SCTP',
  'FC',
  'RSVP-E2E-IGNORE',
  'Mobility Header',
  'UDPLite',
  'MPLS-in-IP',
  'manet',
  'HIP',
  'Shim6', // 140
  'WESP',
  'ROHC',
  'Ethernet',
  'AGGFRAG',
  'NSH', // 145
];

/** Short IANA keyword for an IP protocol number, or "" when unknown. Never allocates. */
export function protocolName(n: number): string {
  // `n >>> 0 === n` rejects negatives, fractions and NaN without a branchy range check.
  if (n >>> 0 !== n || n >= NAMES.length) return '';
  return NAMES[n];
}
