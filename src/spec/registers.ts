// Controller registers in BAR0 (NVMe base spec, "Controller Registers"): offsets and fields.

export const REG_CAP = 0x00; // 64-bit
export const REG_VS = 0x08;
export const REG_INTMS = 0x0c;
export const REG_INTMC = 0x10;
export const REG_CC = 0x14;
export const REG_CSTS = 0x1c;
export const REG_NSSR = 0x20;
export const REG_AQA = 0x24;
export const REG_ASQ = 0x28; // 64-bit
export const REG_ACQ = 0x30; // 64-bit
export const REG_CMBLOC = 0x38;
export const REG_CMBSZ = 0x3c;
export const REG_BPINFO = 0x40;
export const REG_PMRCAP = 0xe00;

// CAP, low dword
export const CAP_MQES_MASK = 0xffff; // 0's based
export const CAP_CQR = 1 << 16;
export const CAP_AMS_SHIFT = 17;
export const CAP_TO_SHIFT = 24; // 500 ms units
// CAP, high dword (bit n of the register is bit n - 32 here)
export const CAP_HI_DSTRD_SHIFT = 0;
export const CAP_HI_NSSRS = 1 << 4;
export const CAP_HI_CSS_NVM = 1 << 5; // CSS bit 0 (register bit 37)
export const CAP_HI_CSS_IOCS = 1 << 11; // CSS bit 6 (register bit 43): I/O Command Sets, Identify CNS 1Ch
export const CAP_HI_BPS = 1 << 13;
export const CAP_HI_MPSMIN_SHIFT = 16; // register bits 51:48
export const CAP_HI_MPSMAX_SHIFT = 20; // register bits 55:52

export const VS_1_4 = 0x00010400;

// CC
export const CC_EN = 1 << 0;
export const CC_CSS_SHIFT = 4;
export const CC_CSS_MASK = 7;
export const CC_CSS_NVM = 0; // the NVM Command Set only
export const CC_CSS_IOCS = 6; // all I/O Command Sets of the I/O Command Set Profile
export const CC_MPS_SHIFT = 7; // page size = 2^(12 + MPS)
export const CC_MPS_MASK = 0xf;
export const CC_AMS_SHIFT = 11;
export const CC_AMS_MASK = 7;
export const CC_SHN_SHIFT = 14; // 2 bits
export const CC_IOSQES_SHIFT = 16; // log2 SQE size
export const CC_IOCQES_SHIFT = 20; // log2 CQE size
export const CC_QES_MASK = 0xf;
export const SHN_NONE = 0;
export const SHN_NORMAL = 1;
export const SHN_ABRUPT = 2;

// CSTS
export const CSTS_RDY = 1 << 0;
export const CSTS_CFS = 1 << 1;
export const CSTS_SHST_SHIFT = 2; // 2 bits
export const CSTS_NSSRO = 1 << 4;
export const CSTS_PP = 1 << 5;
export const SHST_NORMAL = 0;
export const SHST_OCCURRING = 1;
export const SHST_COMPLETE = 2;

// AQA: 0's based sizes
export const AQA_ASQS_MASK = 0xfff;
export const AQA_ACQS_SHIFT = 16;

export const NSSR_RESET_VALUE = 0x4e564d65; // "NVMe"
