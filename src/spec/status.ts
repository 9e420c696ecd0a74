// NVMe status values as carried in bits 31:17 of completion dword 3, without the phase tag:
// (DNR << 14) | (More << 13) | (Status Code Type << 8) | Status Code.
// Plain `export const` lines only: asm/ imports this file too.

export const SCT_GENERIC = 0x000;
export const SCT_COMMAND_SPECIFIC = 0x100;
export const SCT_MEDIA = 0x200;
export const SCT_PATH = 0x300;
export const SCT_MASK = 0x700;
export const STATUS_DNR = 0x4000;
export const STATUS_MORE = 0x2000;

// Generic command status (SCT 0)
export const SC_SUCCESS = 0x00;
export const SC_INVALID_OPCODE = 0x01;
export const SC_INVALID_FIELD = 0x02;
export const SC_CID_CONFLICT = 0x03;
export const SC_DATA_TRANSFER_ERROR = 0x04;
export const SC_ABORTED_POWER_LOSS = 0x05;
export const SC_INTERNAL_ERROR = 0x06;
export const SC_ABORT_REQUESTED = 0x07;
export const SC_ABORTED_SQ_DELETION = 0x08;
export const SC_ABORTED_FUSE_FAIL = 0x09;
export const SC_ABORTED_FUSE_MISSING = 0x0a;
export const SC_INVALID_NAMESPACE = 0x0b;
export const SC_COMMAND_SEQUENCE_ERROR = 0x0c;
export const SC_INVALID_SGL_DESCRIPTOR = 0x0d;
export const SC_INVALID_SGL_COUNT = 0x0e;
export const SC_INVALID_PRP_OFFSET = 0x13;
export const SC_ATOMIC_WRITE_UNIT_EXCEEDED = 0x14;
export const SC_INVALID_CMB_USE = 0x12;
export const SC_LBA_OUT_OF_RANGE = 0x80;
export const SC_CAPACITY_EXCEEDED = 0x81;
export const SC_NAMESPACE_NOT_READY = 0x82;

// Command specific status (SCT 1)
export const SC_CQ_INVALID = 0x00;
export const SC_INVALID_QID = 0x01;
export const SC_INVALID_QUEUE_SIZE = 0x02;
export const SC_ABORT_LIMIT_EXCEEDED = 0x03;
export const SC_AER_LIMIT_EXCEEDED = 0x05;
export const SC_INVALID_FIRMWARE_SLOT = 0x06;
export const SC_INVALID_LOG_PAGE = 0x09;
export const SC_INVALID_FORMAT = 0x0a;
export const SC_INVALID_QUEUE_DELETION = 0x0c;
export const SC_FEATURE_NOT_SAVEABLE = 0x0d;
export const SC_FEATURE_NOT_CHANGEABLE = 0x0e;
export const SC_FEATURE_NOT_NS_SPECIFIC = 0x0f;
export const SC_INVALID_INTERRUPT_VECTOR = 0x08;
export const SC_CONFLICTING_ATTRIBUTES = 0x80;

// Media and data integrity errors (SCT 2)
export const SC_WRITE_FAULT = 0x80;
export const SC_UNRECOVERED_READ_ERROR = 0x81;
export const SC_COMPARE_FAILURE = 0x85;
export const SC_DEALLOCATED_OR_UNWRITTEN = 0x87;

// Values the hot path returns (SCT 0, DNR set where retrying cannot help).
export const STATUS_OK = 0;
export const STATUS_DATA_TRANSFER_ERROR = 0x4004;
export const STATUS_INVALID_PRP_OFFSET = 0x4013;
export const STATUS_INVALID_FIELD = 0x4002;
