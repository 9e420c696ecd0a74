// Get/Set Features (NVMe base spec 1.4 "Features"): identifiers, the Select field, and the field
// positions of each feature's dword 11 / completion dword 0. Definitions only.

// Feature identifiers (CDW10 bits 7:0)
export const FID_ARBITRATION = 0x01;
export const FID_POWER_MANAGEMENT = 0x02;
export const FID_LBA_RANGE_TYPE = 0x03;
export const FID_TEMPERATURE_THRESHOLD = 0x04;
export const FID_ERROR_RECOVERY = 0x05;
export const FID_VOLATILE_WRITE_CACHE = 0x06;
export const FID_NUMBER_OF_QUEUES = 0x07;
export const FID_INTERRUPT_COALESCING = 0x08;
export const FID_INTERRUPT_VECTOR_CONFIG = 0x09;
export const FID_WRITE_ATOMICITY = 0x0a;
export const FID_ASYNC_EVENT_CONFIG = 0x0b;
export const FID_AUTONOMOUS_POWER_STATE = 0x0c;
export const FID_HOST_MEMORY_BUFFER = 0x0d;
export const FID_TIMESTAMP = 0x0e;
export const FID_KEEP_ALIVE_TIMER = 0x0f;

// CDW10
export const CDW10_FID_MASK = 0xff;
export const CDW10_SEL_SHIFT = 8; // Get Features, bits 10:8
export const CDW10_SEL_MASK = 0x7;
export const CDW10_SV = 1 << 31; // Set Features: save

// Select values
export const SEL_CURRENT = 0;
export const SEL_DEFAULT = 1;
export const SEL_SAVED = 2;
export const SEL_SUPPORTED = 3;

// Completion dword 0 for SEL_SUPPORTED
export const CAP_SAVEABLE = 1 << 0;
export const CAP_NS_SPECIFIC = 1 << 1;
export const CAP_CHANGEABLE = 1 << 2;

// Arbitration (01h)
export const ARB_AB_MASK = 0x7; // bits 2:0, 2^n commands; 111b = no limit
export const ARB_AB_NO_LIMIT = 0x7;
export const ARB_LPW_SHIFT = 8;
export const ARB_MPW_SHIFT = 16;
export const ARB_HPW_SHIFT = 24;

// Power Management (02h)
export const PM_PS_MASK = 0x1f; // bits 4:0
export const PM_WH_SHIFT = 5; // bits 7:5 workload hint
export const PM_WH_MASK = 0x7;

// Temperature Threshold (04h)
export const TMPTH_MASK = 0xffff; // bits 15:0 kelvin
export const TMPSEL_SHIFT = 16; // bits 19:16
export const TMPSEL_MASK = 0xf;
export const TMPSEL_COMPOSITE = 0x0;
export const TMPSEL_ALL = 0xf;
export const THSEL_SHIFT = 20; // bits 21:20
export const THSEL_MASK = 0x3;
export const THSEL_OVER = 0;
export const THSEL_UNDER = 1;

// Error Recovery (05h)
export const ERR_TLER_MASK = 0xffff; // bits 15:0, 100 ms units
export const ERR_DULBE = 1 << 16;

// Volatile Write Cache (06h)
export const VWC_WCE = 1 << 0;

// Number of Queues (07h): 0's based counts; same layout in dword 11 and completion dword 0
export const NQ_NSQ_MASK = 0xffff;
export const NQ_NCQ_SHIFT = 16;
export const NQ_INVALID = 0xffff;

// Interrupt Coalescing (08h)
export const IC_THR_MASK = 0xff; // bits 7:0, 0's based entries
export const IC_TIME_SHIFT = 8; // bits 15:8, 100 us units
export const IC_TIME_MASK = 0xff;

// Interrupt Vector Configuration (09h)
export const IVC_IV_MASK = 0xffff;
export const IVC_CD = 1 << 16;

// Write Atomicity Normal (0Ah)
export const WA_DN = 1 << 0;

// Async Event Configuration (0Bh)
export const AEC_SMART_MASK = 0xff; // bits 7:0 follow the SMART critical warning bits
export const AEC_NS_ATTR = 1 << 8;
export const AEC_FW_ACTIVATION = 1 << 9;
export const AEC_TELEMETRY = 1 << 10;
export const AEC_ANA_CHANGE = 1 << 11;
export const AEC_NOTICE_SHIFT = 8; // Notice info n is enabled by bit 8 + n (n = 0..6)

// Timestamp (0Eh): 8-byte data structure
export const TIMESTAMP_DATA_SIZE = 8;
export const TS_ATTR_BYTE = 6; // byte 6: bit 0 Synch, bits 3:1 Timestamp Origin
export const TS_SYNCH = 1 << 0;
export const TS_ORIGIN_SHIFT = 1;
export const TS_ORIGIN_RESET = 0; // counting from 0 since the last controller level reset
export const TS_ORIGIN_HOST = 1; // set by a Set Features command
