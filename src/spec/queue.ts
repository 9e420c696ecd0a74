// Submission and completion queue entry layouts (NVMe base spec, "Submission Queue Entry" and
// "Completion Queue Entry"). Plain `export const` lines only: asm/ imports this file too.

export const SQE_SIZE = 64;
export const SQE_SIZE_SHIFT = 6;
export const CQE_SIZE = 16;
export const CQE_SIZE_SHIFT = 4;

// SQE byte offsets
export const SQE_OPCODE = 0; // u8
export const SQE_FLAGS = 1; // u8: FUSE 1:0, PSDT 7:6
export const SQE_CID = 2; // u16
export const SQE_NSID = 4; // u32
export const SQE_CDW2 = 8;
export const SQE_CDW3 = 12;
export const SQE_MPTR = 16; // u64
export const SQE_PRP1 = 24; // u64
export const SQE_PRP2 = 32; // u64
export const SQE_CDW10 = 40;
export const SQE_CDW11 = 44;
export const SQE_CDW12 = 48;
export const SQE_CDW13 = 52;
export const SQE_CDW14 = 56;
export const SQE_CDW15 = 60;

// CQE byte offsets
export const CQE_DW0 = 0;
export const CQE_DW1 = 4;
export const CQE_SQHD = 8; // u16
export const CQE_SQID = 10; // u16
export const CQE_CID = 12; // u16
export const CQE_STATUS = 14; // u16: phase tag in bit 0, status in 15:1

// Doorbells start at BAR0 offset 0x1000; with CAP.DSTRD = 0 doorbell n (SQ y tail = 2y,
// CQ y head = 2y + 1) sits at 0x1000 + 4n. Shadow and EventIdx buffers use the same indexing.
export const DOORBELL_BASE = 0x1000;
export const DOORBELL_STRIDE_SHIFT = 2;
