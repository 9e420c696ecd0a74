// Zoned Namespace Command Set (CSI 02h) definitions: opcodes, Zone Management actions, zone states
// and types, the report and descriptor layouts, the Identify structures and the statuses. Definitions only.

export const CSI_ZNS = 0x02;
/** Bit `csi` of an I/O Command Set vector (Identify CNS 1Ch): the NVM and Zoned Namespace command sets. */
export const IOCS_VECTOR_NVM_ZNS = (1 << 0) | (1 << CSI_ZNS);
/** Identify CNS values of NVMe 2.0 for I/O command sets. */
export const CNS_CSI_NAMESPACE = 0x05;
export const CNS_CSI_ACTIVE_NS_LIST = 0x07;
export const CNS_CSI_INDEPENDENT_NAMESPACE = 0x08;
export const CNS_IO_COMMAND_SETS = 0x1c;
/** The I/O Command Set data structure: 512 vectors of 8 bytes. */
export const IOCS_VECTORS = 512;
export const IOCS_VECTOR_SIZE = 8;
/** Feature 19h, I/O Command Set Profile: CDW11 bits 8:0 index a vector of CNS 1Ch. */
export const FID_IO_COMMAND_SET_PROFILE = 0x19;
export const IOCSCI_MASK = 0x1ff;

// I/O opcodes
export const IO_ZONE_MGMT_SEND = 0x79;
export const IO_ZONE_MGMT_RECV = 0x7a;
export const IO_ZONE_APPEND = 0x7d;

// Zone Management Send, CDW13: Zone Send Action (bits 7:0), Select All (bit 8)
export const ZSA_CLOSE = 0x01;
export const ZSA_FINISH = 0x02;
export const ZSA_OPEN = 0x03;
export const ZSA_RESET = 0x04;
export const ZSA_OFFLINE = 0x05;
export const ZSA_SET_DESCRIPTOR_EXTENSION = 0x10;
export const ZSA_MASK = 0xff;
export const ZMS_SELECT_ALL = 1 << 8;

// Zone Management Receive, CDW13: action (7:0), its specific field (15:8), Partial Report (16)
export const ZRA_REPORT = 0x00;
export const ZRA_EXTENDED_REPORT = 0x01;
export const ZRA_MASK = 0xff;
export const ZRASF_SHIFT = 8;
export const ZRASF_MASK = 0xff;
export const ZRASF_ALL = 0x00;
export const ZRASF_EMPTY = 0x01;
export const ZRASF_IMPLICITLY_OPENED = 0x02;
export const ZRASF_EXPLICITLY_OPENED = 0x03;
export const ZRASF_CLOSED = 0x04;
export const ZRASF_FULL = 0x05;
export const ZRASF_READ_ONLY = 0x06;
export const ZRASF_OFFLINE = 0x07;
export const ZMR_PARTIAL = 1 << 16;

// Zone states (descriptor byte 1, bits 7:4)
export const ZS_EMPTY = 0x1;
export const ZS_IMPLICITLY_OPENED = 0x2;
export const ZS_EXPLICITLY_OPENED = 0x3;
export const ZS_CLOSED = 0x4;
export const ZS_READ_ONLY = 0xd;
export const ZS_FULL = 0xe;
export const ZS_OFFLINE = 0xf;
export const ZS_SHIFT = 4;
export const ZONE_TYPE_SEQ_WRITE_REQUIRED = 0x2;

// Report: a 64-byte header (Number of Zones, u64), then 64-byte zone descriptors
export const REPORT_HEADER_SIZE = 64;
export const ZONE_DESCRIPTOR_SIZE = 64;
export const ZD_ZT = 0;
export const ZD_ZS = 1;
export const ZD_ZA = 2;
export const ZD_ZCAP = 8; // u64
export const ZD_ZSLBA = 16; // u64
export const ZD_WP = 24; // u64

// Identify Namespace for the Zoned Namespace Command Set (CNS 05h, CSI 02h)
export const IDZN_ZOC = 0; // u16: zone operation characteristics
export const IDZN_OZCS = 2; // u16: optional zoned command support
export const OZCS_READ_ACROSS_ZONE_BOUNDARIES = 1 << 0;
export const IDZN_MAR = 4; // u32, 0's based; FFFFFFFFh: no limit
export const IDZN_MOR = 8; // u32, 0's based; FFFFFFFFh: no limit
export const IDZN_RRL = 12;
export const IDZN_FRL = 16;
export const IDZN_LBAFE = 2816; // 64 entries of 16 bytes: ZSZE (u64), ZDES (u8)
export const LBAFE_SIZE = 16;
export const NO_LIMIT = 0xffffffff;

// Identify Controller for the Zoned Namespace Command Set (CNS 06h, CSI 02h)
export const IDZC_ZASL = 0; // u8: zone append size limit, 2^n units of CAP.MPSMIN; 0: MDTS

// Command specific statuses (SCT 1h)
export const SC_IOCS_NOT_SUPPORTED = 0x29;
export const SC_IOCS_COMBINATION_REJECTED = 0x2b;
export const SC_INVALID_IOCS = 0x2c;
export const SC_ZONE_BOUNDARY_ERROR = 0xb8;
export const SC_ZONE_IS_FULL = 0xb9;
export const SC_ZONE_IS_READ_ONLY = 0xba;
export const SC_ZONE_IS_OFFLINE = 0xbb;
export const SC_ZONE_INVALID_WRITE = 0xbc;
export const SC_TOO_MANY_ACTIVE_ZONES = 0xbd;
export const SC_TOO_MANY_OPEN_ZONES = 0xbe;
export const SC_INVALID_ZONE_STATE_TRANSITION = 0xbf;
