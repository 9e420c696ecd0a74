// Identify data structures (NVMe base spec 1.4 "Identify command", NVM command set "Identify
// Namespace"): CNS values, byte offsets and field bits. Definitions only.

export const IDENTIFY_DATA_SIZE = 4096;

// CNS (Controller or Namespace Structure, CDW10 bits 7:0)
export const CNS_NAMESPACE = 0x00;
export const CNS_CONTROLLER = 0x01;
export const CNS_ACTIVE_NS_LIST = 0x02;
export const CNS_NS_DESCRIPTORS = 0x03;
export const CNS_NVM_SET_LIST = 0x04;
/** I/O Command Set specific Identify Controller (NVMe 2.0; Linux sends it to 1.4 controllers too). */
export const CNS_CSI_CONTROLLER = 0x06;
export const CNS_ALLOCATED_NS_LIST = 0x10;
export const CNS_ALLOCATED_NAMESPACE = 0x11;
export const CNS_NS_CONTROLLER_LIST = 0x12; // controllers attached to the NSID
export const CNS_CONTROLLER_LIST = 0x13; // controllers in the subsystem
export const CONTROLLER_LIST_MAX = 2047; // ids after the u16 count
export const CDW10_CNS_MASK = 0xff;
export const CDW10_CNTID_SHIFT = 16;
export const CDW11_CSI_SHIFT = 24; // Command Set Identifier, CDW11 bits 31:24
export const CSI_NVM = 0x00;

export const NSID_BROADCAST = 0xffffffff;
export const NSID_LIST_MAX = 1024; // entries in an active namespace ID list

// Identify Controller (CNS 01h) byte offsets
export const IDC_VID = 0; // u16
export const IDC_SSVID = 2; // u16
export const IDC_SN = 4; // 20 bytes ASCII, space padded
export const IDC_SN_LEN = 20;
export const IDC_MN = 24; // 40 bytes
export const IDC_MN_LEN = 40;
export const IDC_FR = 64; // 8 bytes
export const IDC_FR_LEN = 8;
export const IDC_RAB = 72; // u8: recommended arbitration burst, 2^n
export const IDC_IEEE = 73; // 3 bytes, least significant byte first
export const IDC_CMIC = 76;
export const CMIC_MULTI_CONTROLLER = 1 << 1; // the NVM subsystem may contain two or more controllers
export const IDC_MDTS = 77; // u8: 2^n units of CAP.MPSMIN, 0 = no limit
export const IDC_CNTLID = 78; // u16
export const IDC_VER = 80; // u32
export const IDC_RTD3R = 84;
export const IDC_RTD3E = 88;
export const IDC_OAES = 92; // u32
export const IDC_CTRATT = 96; // u32
export const IDC_CNTRLTYPE = 111; // u8
export const IDC_FGUID = 112; // 16 bytes
export const IDC_OACS = 256; // u16
export const IDC_ACL = 258; // u8, 0's based
export const IDC_AERL = 259; // u8, 0's based
export const IDC_FRMW = 260;
export const IDC_LPA = 261;
export const IDC_ELPE = 262; // u8, 0's based
export const IDC_NPSS = 263; // u8, 0's based
export const IDC_AVSCC = 264;
export const IDC_APSTA = 265;
export const IDC_WCTEMP = 266; // u16 kelvin
export const IDC_CCTEMP = 268; // u16 kelvin
export const IDC_MTFA = 270;
export const IDC_HMPRE = 272;
export const IDC_TNVMCAP = 280; // 16 bytes
export const IDC_UNVMCAP = 296; // 16 bytes
export const IDC_KAS = 320; // u16
export const IDC_SANICAP = 328; // u32
export const IDC_SQES = 512; // u8: max << 4 | required (log2 bytes)
export const IDC_CQES = 513;
export const IDC_MAXCMD = 514; // u16
export const IDC_NN = 516; // u32
export const IDC_ONCS = 520; // u16
export const IDC_FUSES = 522; // u16
export const IDC_FNA = 524;
export const IDC_VWC = 525;
export const IDC_AWUN = 526; // u16
export const IDC_AWUPF = 528; // u16
export const IDC_NVSCC = 530;
export const IDC_OCFS = 534; // u16: copy formats supported
export const IDC_SGLS = 536; // u32
export const SGLS_DWORD_ALIGNED = 2; // bits 1:0 = 10b: SGLs for I/O, data blocks dword aligned and sized
export const SGLS_BIT_BUCKET = 1 << 16;
export const IDC_SUBNQN = 768; // 256 bytes, NUL terminated UTF-8
export const IDC_SUBNQN_LEN = 256;
export const IDC_PSD0 = 2048; // 32 power state descriptors of 32 bytes
export const PSD_SIZE = 32;

// Power state descriptor byte offsets
export const PSD_MP = 0; // u16 maximum power, centiwatts
export const PSD_FLAGS = 3; // bit 0 MXPS, bit 1 NOPS
export const PSD_ENLAT = 4; // u32 microseconds
export const PSD_EXLAT = 8; // u32 microseconds
export const PSD_RRT = 12;
export const PSD_RRL = 13;
export const PSD_RWT = 14;
export const PSD_RWL = 15;

export const CNTRLTYPE_IO = 1;

// OAES: optional asynchronous events supported
export const OAES_NS_ATTR = 1 << 8; // Namespace Attribute Notices and the Changed Namespace List log
export const OAES_FW_ACTIVATION = 1 << 9;
export const SQES_64 = 0x66;
export const CQES_16 = 0x44;

// OACS: optional admin commands
export const OACS_SECURITY = 1 << 0;
export const OACS_FORMAT = 1 << 1;
export const OACS_FIRMWARE = 1 << 2;
export const OACS_NS_MGMT = 1 << 3;
export const OACS_SELF_TEST = 1 << 4;
export const OACS_DIRECTIVES = 1 << 5;
export const OACS_NVME_MI = 1 << 6;
export const OACS_VIRT_MGMT = 1 << 7;
export const OACS_DBBUF_CONFIG = 1 << 8;
export const OACS_GET_LBA_STATUS = 1 << 9;

// ONCS: optional NVM commands
export const ONCS_COMPARE = 1 << 0;
export const ONCS_WRITE_UNCORRECTABLE = 1 << 1;
export const ONCS_DSM = 1 << 2;
export const ONCS_WRITE_ZEROES = 1 << 3;
export const ONCS_SAVE_SELECT = 1 << 4; // Save field in Set Features, Select field in Get Features
export const ONCS_RESERVATIONS = 1 << 5;
export const ONCS_TIMESTAMP = 1 << 6;
export const ONCS_VERIFY = 1 << 7;
export const ONCS_COPY = 1 << 8;

// FNA: format NVM attributes
export const FNA_FORMAT_ALL = 1 << 0; // a format applies to every namespace
export const FNA_ERASE_ALL = 1 << 1; // a secure erase applies to every namespace
export const FNA_CRYPTO_ERASE = 1 << 2;

// SANICAP: sanitize capabilities
export const SANICAP_CRYPTO_ERASE = 1 << 0;
export const SANICAP_BLOCK_ERASE = 1 << 1;
export const SANICAP_OVERWRITE = 1 << 2;
export const SANICAP_NDI = 1 << 29; // No-Deallocate Inhibited
export const SANICAP_NODMMAS_SHIFT = 30; // bits 31:30: what No-Deallocate does to the media afterwards
export const NODMMAS_NOT_MODIFIED = 1;

// OCFS: copy formats supported
export const OCFS_FORMAT0 = 1 << 0;

// LPA: log page attributes
export const LPA_SMART_PER_NS = 1 << 0;
export const LPA_CMD_EFFECTS = 1 << 1;
export const LPA_EXTENDED_DATA = 1 << 2; // NUMDU, LPOL/LPOU honoured
export const LPA_TELEMETRY = 1 << 3;
export const LPA_PERSISTENT_EVENT = 1 << 4;

// VWC: volatile write cache
export const VWC_PRESENT = 1 << 0;
export const VWC_FLUSH_BROADCAST_SUPPORTED = 3 << 1; // bits 2:1 = 11b: Flush with NSID FFFFFFFFh

// FRMW: firmware updates
export const FRMW_SLOT1_READ_ONLY = 1 << 0;
export const FRMW_SLOTS_SHIFT = 1; // bits 3:1: number of slots
export const FRMW_ACTIVATE_NO_RESET = 1 << 4;

// Identify Namespace (CNS 00h) byte offsets
export const IDN_NSZE = 0; // u64
export const IDN_NCAP = 8; // u64
export const IDN_NUSE = 16; // u64
export const IDN_NSFEAT = 24;
export const IDN_NLBAF = 25; // 0's based
export const IDN_FLBAS = 26;
export const IDN_MC = 27;
export const IDN_DPC = 28;
export const IDN_DPS = 29;
export const IDN_NMIC = 30;
export const NMIC_SHARED = 1 << 0; // the namespace may be attached to two or more controllers
export const IDN_RESCAP = 31;
export const IDN_FPI = 32;
export const IDN_DLFEAT = 33;
export const IDN_NAWUN = 34; // u16
export const IDN_NAWUPF = 36; // u16
export const IDN_NACWU = 38; // u16
export const IDN_NABSN = 40;
export const IDN_NABO = 42;
export const IDN_NABSPF = 44;
export const IDN_NOIOB = 46; // u16
export const IDN_NVMCAP = 48; // 16 bytes
export const IDN_NPWG = 64; // u16
export const IDN_NPWA = 66;
export const IDN_NPDG = 68;
export const IDN_NPDA = 70;
export const IDN_NOWS = 72; // u16
export const IDN_MSSRL = 74; // u16: maximum single source range length (blocks)
export const IDN_MCL = 76; // u32: maximum copy length (blocks)
export const IDN_MSRC = 80; // u8: maximum source range count, 0's based
export const IDN_ANAGRPID = 92;
export const IDN_NSATTR = 99;
export const IDN_NVMSETID = 100;
export const IDN_ENDGID = 102;
export const IDN_NGUID = 104; // 16 bytes
export const IDN_EUI64 = 120; // 8 bytes
export const IDN_LBAF0 = 128; // 16 formats of 4 bytes
export const LBAF_SIZE = 4;
export const LBAF_MS_SHIFT = 0; // bits 15:0 metadata size
export const LBAF_LBADS_SHIFT = 16; // bits 23:16 log2 of the LBA data size
export const LBAF_RP_SHIFT = 24; // bits 25:24 relative performance
export const RP_BEST = 0;
export const RP_BETTER = 1;
export const RP_GOOD = 2;
export const FLBAS_FORMAT_MASK = 0x0f;

// DLFEAT
export const DLFEAT_READ_MASK = 0x07;
export const DLFEAT_READ_NOT_REPORTED = 0x00;
export const DLFEAT_READ_ZEROES = 0x01;
export const DLFEAT_READ_ONES = 0x02;
export const DLFEAT_WRITE_ZEROES_DEAC = 1 << 3;
export const DLFEAT_GUARD_CRC = 1 << 4;

// Namespace Identification Descriptor (CNS 03h): NIDT, NIDL, 2 reserved bytes, NID
export const NID_HEADER = 4;
export const NIDT_EUI64 = 0x01;
export const NIDT_NGUID = 0x02;
export const NIDT_UUID = 0x03;
export const NIDT_CSI = 0x04;
export const NIDL_EUI64 = 8;
export const NIDL_NGUID = 16;
export const NIDL_UUID = 16;
