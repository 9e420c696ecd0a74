// Get Log Page (NVMe base spec 1.4 "Get Log Page"): log identifiers, page layouts, asynchronous
// event types and information values, and Commands Supported and Effects bits. Definitions only.

// Log identifiers
export const LID_ERROR_INFO = 0x01;
export const LID_SMART = 0x02;
export const LID_FW_SLOT = 0x03;
export const LID_CHANGED_NS_LIST = 0x04;
export const LID_CMD_EFFECTS = 0x05;
export const CHANGED_NS_LIST_SIZE = 4096; // up to 1024 NSIDs
export const LID_SANITIZE_STATUS = 0x81;

// Sanitize Status log (512 bytes)
export const SANITIZE_LOG_SIZE = 512;
export const SAN_SPROG = 0; // u16: progress in 65536ths, FFFFh when none runs
export const SAN_SSTAT = 2; // u16: bits 2:0 status, bit 8 Global Data Erased
export const SAN_SCDW10 = 4; // u32: CDW10 of the sanitize that set SSTAT
export const SAN_ET_OVERWRITE = 8; // u32 seconds, FFFFFFFFh: no estimate
export const SAN_ET_BLOCK_ERASE = 12;
export const SAN_ET_CRYPTO_ERASE = 16;
export const SAN_ET_OVERWRITE_ND = 20;
export const SAN_ET_BLOCK_ERASE_ND = 24;
export const SAN_ET_CRYPTO_ERASE_ND = 28;
export const SPROG_IDLE = 0xffff;
export const SSTAT_NEVER = 0;
export const SSTAT_DONE = 1;
export const SSTAT_IN_PROGRESS = 2;
export const SSTAT_FAILED = 3;
export const SSTAT_DONE_NO_DEALLOCATE = 4;
export const SSTAT_GLOBAL_DATA_ERASED = 1 << 8;

// Command dwords
export const CDW10_LID_MASK = 0xff;
export const CDW10_LSP_SHIFT = 8;
export const CDW10_RAE = 1 << 15;
export const CDW10_NUMDL_SHIFT = 16;
export const CDW11_NUMDU_MASK = 0xffff;

// Error Information log entry (64 bytes each; ELPE + 1 entries)
export const ERROR_ENTRY_SIZE = 64;
export const ERR_COUNT = 0; // u64, 0 = entry unused
export const ERR_SQID = 8; // u16
export const ERR_CID = 10; // u16
export const ERR_STATUS = 12; // u16: status field in bits 15:1, phase tag in bit 0
export const ERR_PARAM_LOC = 14; // u16: byte in bits 7:0, bit in bits 10:8
export const ERR_LBA = 16; // u64
export const ERR_NSID = 24; // u32
export const ERR_VS_INFO = 28; // u8
export const ERR_TRTYPE = 29; // u8
export const ERR_CS_INFO = 32; // u64
export const ERR_NOT_APPLICABLE_16 = 0xffff; // SQID, CID, parameter location not tied to one

// SMART / Health Information log (512 bytes)
export const SMART_LOG_SIZE = 512;
export const SMART_CRITICAL_WARNING = 0; // u8
export const SMART_COMPOSITE_TEMP = 1; // u16 kelvin
export const SMART_AVAIL_SPARE = 3; // u8 percent
export const SMART_SPARE_THRESH = 4; // u8 percent
export const SMART_PERCENT_USED = 5; // u8
export const SMART_EG_WARNING = 6;
export const SMART_DATA_UNITS_READ = 32; // u128: thousands of 512-byte units
export const SMART_DATA_UNITS_WRITTEN = 48;
export const SMART_HOST_READS = 64;
export const SMART_HOST_WRITES = 80;
export const SMART_BUSY_TIME = 96; // minutes
export const SMART_POWER_CYCLES = 112;
export const SMART_POWER_ON_HOURS = 128;
export const SMART_UNSAFE_SHUTDOWNS = 144;
export const SMART_MEDIA_ERRORS = 160;
export const SMART_ERROR_ENTRIES = 176;
export const SMART_WARN_TEMP_TIME = 192; // u32 minutes
export const SMART_CRIT_TEMP_TIME = 196; // u32 minutes
export const SMART_TEMP_SENSOR1 = 200; // 8 x u16 kelvin, 0 = not implemented
export const SMART_U128 = 16;

// Critical Warning bits (and the SMART bits 7:0 of the Async Event Configuration feature)
export const CW_SPARE = 1 << 0;
export const CW_TEMPERATURE = 1 << 1;
export const CW_RELIABILITY = 1 << 2;
export const CW_READ_ONLY = 1 << 3;
export const CW_VOLATILE_BACKUP = 1 << 4;
export const CW_PMR_READ_ONLY = 1 << 5;

// Firmware Slot Information log (512 bytes)
export const FW_SLOT_LOG_SIZE = 512;
export const FW_AFI = 0; // bits 2:0 active slot, bits 6:4 slot activated at next reset
export const FW_FRS1 = 8; // 7 slots of 8 ASCII bytes
export const FW_FRS_LEN = 8;

// Commands Supported and Effects log (4096 bytes)
export const EFFECTS_LOG_SIZE = 4096;
export const EFFECTS_ACS = 0; // 256 admin entries of u32
export const EFFECTS_IOCS = 1024; // 256 I/O entries of u32
export const EFF_CSUPP = 1 << 0; // command supported
export const EFF_LBCC = 1 << 1; // logical block content change
export const EFF_NCC = 1 << 2; // namespace capability change
export const EFF_NIC = 1 << 3; // namespace inventory change
export const EFF_CCC = 1 << 4; // controller capability change
export const EFF_CSE_SHIFT = 16; // bits 18:16 command submission and execution
export const EFF_CSE_NONE = 0 << 16;
export const EFF_CSE_SAME_NS = 1 << 16;
export const EFF_CSE_ANY_NS = 2 << 16;

// Asynchronous events: completion dword 0 = type | info << 8 | log page << 16
export const AE_INFO_SHIFT = 8;
export const AE_LOG_PAGE_SHIFT = 16;
export const AE_TYPE_ERROR = 0;
export const AE_TYPE_SMART = 1;
export const AE_TYPE_NOTICE = 2;
export const AE_TYPE_IO_SPECIFIC = 6;
export const AE_TYPE_VENDOR = 7;

// Error status infos
export const AE_ERR_INVALID_DB_REGISTER = 0x00; // write to an invalid doorbell register
export const AE_ERR_INVALID_DB_VALUE = 0x01; // invalid doorbell write value
export const AE_ERR_DIAGNOSTIC_FAILURE = 0x02;
export const AE_ERR_PERSISTENT_INTERNAL = 0x03;
export const AE_ERR_TRANSIENT_INTERNAL = 0x04;
export const AE_ERR_FW_IMAGE_LOAD = 0x05;

// SMART / Health status infos
export const AE_SMART_RELIABILITY = 0x00;
export const AE_SMART_TEMPERATURE = 0x01;
export const AE_SMART_SPARE = 0x02;

// Notice infos
export const AE_NOTICE_NS_ATTR = 0x00;
export const AE_NOTICE_FW_ACTIVATION = 0x01;
export const AE_NOTICE_TELEMETRY = 0x02;
export const AE_NOTICE_ANA_CHANGE = 0x03;

/** Async Event Configuration bits that enable each SMART info (by info value). */
export const SMART_INFO_AEC_BITS: readonly number[] = [
  CW_RELIABILITY | CW_READ_ONLY | CW_VOLATILE_BACKUP | CW_PMR_READ_ONLY, // 00h reliability
  CW_TEMPERATURE, // 01h temperature threshold
  CW_SPARE, // 02h spare below threshold
];
/** Get Log Page CDW14 bits 31:24: the command set a command-set-specific page (Commands Supported and Effects) is for. */
export const CDW14_CSI_SHIFT = 24;
